"""gru_props: prove a GRU implementation right, or show exactly where it is wrong.

* Reference GRUs in three tiers (``gru_props.level1``, ``level2``, ``level3``;
  the top-level ``gru_step``, ``gru_forward`` and ``gru_backward`` are Level
  3's), the parameter container ``GRUParams`` with converters for PyTorch,
  Keras and ONNX; ``stack_forward`` / ``stack_backward`` for the whole
  ``torch.nn.GRU`` (layers, both directions, ``lengths=``);
* ``check_implementation`` (a forward GRU) and ``check_gradients`` (its
  backward pass), which vet a user's code with Hypothesis, shrink a failure
  and name the bug; ``gru_props.adapters`` wraps the layouts learners write
  in; strategies for your own tests are in ``gru_props.strategies``;
* an LSTM (``gru_props.lstm``), parameter counts (``count_parameters``) and a
  GRU-vs-LSTM training study (``gru_props.study``, extra ``study``).
"""

from gru_props.backward.case import GradCase
from gru_props.backward.check import check_gradients
from gru_props.core.counting import count_parameters, equal_budget_hidden
from gru_props.core.params import GRUParams
from gru_props.forward.case import GRUCase
from gru_props.forward.check import (
    CheckReport,
    ImplementationError,
    IncompleteCheckError,
    PropertyResult,
    check_implementation,
    implementation_tests,
)
from gru_props.tiers.level3 import GRUCache, gru_backward, gru_forward, gru_step
from gru_props.tiers.stack import fast_backward as stack_backward
from gru_props.tiers.stack import fast_forward as stack_forward

__version__ = "0.2.0"

__all__ = [
    "CheckReport",
    "GRUCache",
    "GRUCase",
    "GRUParams",
    "GradCase",
    "ImplementationError",
    "IncompleteCheckError",
    "PropertyResult",
    "check_gradients",
    "check_implementation",
    "count_parameters",
    "equal_budget_hidden",
    "gru_backward",
    "gru_forward",
    "gru_step",
    "implementation_tests",
    "stack_backward",
    "stack_forward",
]
