"""Level 3, memory- and performance-aware: ``gru_step``, ``gru_forward``, ``gru_backward`` and
``GRUCache`` (the top-level ``gru_props.gru_*`` functions are these).

The code lives in ``gru_props/tiers/level3.py``; this module is its public name.
"""

from gru_props.tiers.level3 import GRUCache, gru_backward, gru_forward, gru_step

__all__ = ["gru_step", "gru_forward", "gru_backward", "GRUCache"]
