"""The training study: parameter efficiency as a curve, GRU vs LSTM, the reversed interpolation.

GRUs, LSTMs and tanh RNNs, trained with gru_props' own forward and backward
passes (NumPy), on small synthetic tasks (the adding problem, a copy task,
a^n b^n) and on polyphonic music (the Bach chorales music21 ships). Run it as
``gru-props study`` (or ``python -m gru_props.study``), or from Python::

    from gru_props.study import study_config, run_study, markdown, plot_curves
    result = run_study(study_config("compare", quick=True), progress=False)
    print(markdown(result))

The curve (``study_config("curve")``) renders with ``curve_markdown`` and
``plot_curve``. Training (``train``, the synthetic tasks, ``Adam``) needs only
NumPy; running a study needs the ``study`` extra (joblib, tqdm, matplotlib,
threadpoolctl, music21): ``pip install "gru_props[study]"``; a Dask cluster,
the ``cluster`` extra.
"""

from gru_props.study.analysis import (
    ArmSummary,
    Comparison,
    CurvePoint,
    choose_lr,
    compare,
    curve_points,
    params_needed,
    pooled_compare,
    sign_test,
    summarise,
)
from gru_props.study.config import StudyConfig, comparison_arms, curve_arms, reversed_arms, study_config
from gru_props.study.models import Arm, Model, count_parameters_trained, hidden_size
from gru_props.study.optim import Adam, clip_grad_norm, global_norm
from gru_props.study.report import curve_markdown, markdown, plot_curve, plot_curves
from gru_props.study.runner import RunStore, StudyInterrupted, StudyResult, run_study
from gru_props.study.tasks import AddingProblem, AnBn, Batch, Chorales, CopyTask, Task, make_task
from gru_props.study.trainer import RunResult, train

__all__ = [
    "Chorales",
    "CurvePoint",
    "RunStore",
    "StudyInterrupted",
    "curve_arms",
    "curve_markdown",
    "curve_points",
    "params_needed",
    "plot_curve",
    "pooled_compare",
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
