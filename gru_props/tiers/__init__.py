"""The reference GRU in three tiers (``level1`` readable, ``level2`` vectorized, ``level3`` fast), the
same functions held to the same tests; public as ``gru_props.level1`` / ``level2`` / ``level3``.

Imports only ``gru_props.core``.
"""
