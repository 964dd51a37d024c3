"""Level 1, correctness first: ``gru_step``, ``gru_forward`` and ``gru_backward`` written to be read
next to the equations and the chain rule.

The code lives in ``gru_props/tiers/level1.py``; this module is its public name.
"""

from gru_props.tiers.level1 import gru_backward, gru_forward, gru_step

__all__ = ["gru_step", "gru_forward", "gru_backward"]
