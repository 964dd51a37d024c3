"""The stack contract: ``check_implementation`` and ``check_gradients`` for the whole ``torch.nn.GRU``.

When ``num_layers``, ``bidirectional``, ``lengths`` or ``padding`` differs from its default, both checks
hand over to this folder: the function follows the SPEC's stack form, ``fn(x, h0, layers, lengths)`` ->
``(out, h_n)`` (backward ``fn(x, h0, layers, lengths, dout, dh_n)`` -> ``(dx, dh0, grads)``), and is held to
the stack's properties (``properties.py``, ``gradients.py``) on ``StackCase`` inputs (``case.py``); a
wrong value is explained by slips of the stack's terms (``terms.py``) combined with the single-layer ones.
"""
