"""The backward contract, ``check_gradients``: the case (``case``: x, h0, params, dhs, dh_T), the
user's backward pass under test (``subject``), the properties (``properties``), the catalogue of
broken backward passes (``bugs``), detection and diagnosis (``diagnosis``), snippets (``snippet``) and
the check itself (``check``).

Imports ``gru_props.engine``, ``core``, ``tiers``, ``gru_props.strategies`` and, for what both
contracts share about a GRU case, ``gru_props.forward``.
"""
