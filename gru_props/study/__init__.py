"""The GRU-vs-LSTM training study and the reversed-interpolation experiment.

GRUs and LSTMs, trained with gru_props' own forward and backward passes
(NumPy), on small synthetic tasks: the adding problem, a copy task and
a^n b^n. Run it as ``gru-props study`` (or ``python -m gru_props.study``), or
from Python::

    from gru_props.study import study_config, run_study, markdown, plot_curves
    result = run_study(study_config("compare", quick=True))
    print(markdown(result))

Training (``train``, the tasks, ``Adam``) needs only NumPy; running a study
needs the ``study`` extra (joblib, tqdm, matplotlib):
``pip install "gru_props[study]"``.
"""

from gru_props.study.analysis import ArmSummary, Comparison, choose_lr, compare, sign_test, summarise
from gru_props.study.models import Arm, Model, count_parameters_trained, hidden_size
from gru_props.study.optim import Adam, clip_grad_norm, global_norm
from gru_props.study.report import markdown, plot_curves
from gru_props.study.runner import (
    StudyConfig,
    StudyResult,
    comparison_arms,
    reversed_arms,
    run_study,
    study_config,
)
from gru_props.study.tasks import AddingProblem, AnBn, Batch, CopyTask, Task, make_task
from gru_props.study.trainer import RunResult, train

__all__ = [
    "AddingProblem",
    "Adam",
    "AnBn",
    "Arm",
    "ArmSummary",
    "Batch",
    "Comparison",
    "CopyTask",
    "Model",
    "RunResult",
    "StudyConfig",
    "StudyResult",
    "Task",
    "choose_lr",
    "clip_grad_norm",
    "compare",
    "comparison_arms",
    "count_parameters_trained",
    "global_norm",
    "hidden_size",
    "make_task",
    "markdown",
    "plot_curves",
    "reversed_arms",
    "run_study",
    "sign_test",
    "study_config",
    "summarise",
    "train",
]
