"""Two gradients of a user's layout that must be equal (PyTorch's bias_ih[z] and bias_hh[z] both feed b_z)
and were not: by default the adapters raise ``TiedGradientError``; during a check they record both, so the
check can compare each with the reference and name the wrong one.

Imports nothing else from gru_props (the adapters and the gradient check both use it).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Dict, Iterator, Optional, Tuple

import numpy as np

Tied = Dict[str, Tuple[str, np.ndarray, str, np.ndarray]]

#: Per thread: the tied gradients that disagreed during a call made under ``collect_tied`` (the checker's).
_TIED = threading.local()


@contextlib.contextmanager
def collect_tied() -> Iterator[Tied]:
    """Within the block (in this thread), two tied gradients that disagree do not raise: each is recorded as
    ``{field: (first name, first gradient, second name, second gradient)}`` and the first is used, so that a
    check can compare both with the reference and say which one is wrong."""
    previous = getattr(_TIED, "record", None)
    record: Tied = {}
    _TIED.record = record
    try:
        yield record
    finally:
        _TIED.record = previous


def tied_record() -> Optional[Tied]:
    """The record of the enclosing ``collect_tied`` block in this thread, or None outside one."""
    return getattr(_TIED, "record", None)
