"""Level 2, vectorized: ``gru_step`` and ``gru_forward`` with the three gates in one matrix product.

The code lives in ``gru_props/tiers/level2.py``; this module is its public name.
"""

from gru_props.tiers.level2 import gru_forward, gru_step

__all__ = ["gru_step", "gru_forward"]
