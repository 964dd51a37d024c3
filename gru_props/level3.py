"""Level 3, memory- and performance-aware: ``gru_step``, ``gru_forward``, ``gru_backward`` and
``GRUCache``, and ``stack_forward`` / ``stack_backward`` (layers, directions, lengths; the code is in
``gru_props/tiers/stack.py`` and ``tiers/packed.py``); the top-level ``gru_props`` functions are these.

The code lives in ``gru_props/tiers/level3.py``; this module is its public name.
"""

from gru_props.tiers.level3 import GRUCache, gru_backward, gru_forward, gru_step
from gru_props.tiers.stack import fast_backward as stack_backward
from gru_props.tiers.stack import fast_forward as stack_forward

__all__ = ["gru_step", "gru_forward", "gru_backward", "GRUCache", "stack_forward", "stack_backward"]
