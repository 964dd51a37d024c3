"""The checking engine, the same for every contract: the model of a check (``model``), the search
with Hypothesis (``search``), shrinking (``shrink``), calls under a time limit (``calls``), one check
from start to finish (``session``), tolerances (``compare``), the GRU conventions a function may
follow (``conventions``), what the contracts share about cases, subjects and checks (``case``,
``subject``, ``checks``), the report (``report``), reproduction snippets (``snippet``) and the
settings profiles (``profiles``).

Imports ``gru_props.core`` and ``gru_props.tiers`` (the float64 references), never a contract.
"""
