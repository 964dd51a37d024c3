"""Level 1, correctness first: ``gru_step``, ``gru_forward`` and ``gru_backward`` written to be read
next to the equations and the chain rule, and ``stack_forward`` / ``stack_backward`` (layers,
directions, lengths: the whole ``torch.nn.GRU``) as a plain loop over layers and directions.

The code lives in ``gru_props/tiers/level1.py``; this module is its public name.
"""

from gru_props.tiers.level1 import gru_backward, gru_forward, gru_step
from gru_props.tiers.stack import readable_backward as stack_backward
from gru_props.tiers.stack import readable_forward as stack_forward

__all__ = ["gru_step", "gru_forward", "gru_backward", "stack_forward", "stack_backward"]
