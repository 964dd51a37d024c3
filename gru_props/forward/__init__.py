"""The forward contract, ``check_implementation``: the case a check generates (``case``), the user's
function under test (``subject``), the properties (``properties``), the catalogue of known bugs
(``bugs``), detection and diagnosis (``diagnosis``), snippets (``snippet``) and the check itself
(``check``).

Imports ``gru_props.engine``, ``core``, ``tiers`` and ``gru_props.strategies``.
"""
