"""gru_props: prove a GRU implementation right, or show exactly where it is wrong.

Reference GRUs in three tiers (``gru_props.level1``, ``level2``, ``level3``;
the top-level ``gru_step`` and ``gru_forward`` are Level 3's), the parameter
container ``GRUParams`` with converters for PyTorch, Keras and ONNX, and
``check_implementation``, which vets a user's GRU with Hypothesis
(strategies for your own tests are in ``gru_props.strategies``).
"""

from gru_props._case import GRUCase
from gru_props._params import GRUParams
from gru_props.check import (
    CheckReport,
    ImplementationError,
    PropertyResult,
    check_implementation,
    implementation_tests,
)
from gru_props.level3 import gru_forward, gru_step

__version__ = "0.1.0"

__all__ = [
    "CheckReport",
    "GRUCase",
    "GRUParams",
    "ImplementationError",
    "PropertyResult",
    "check_implementation",
    "gru_forward",
    "gru_step",
    "implementation_tests",
]
