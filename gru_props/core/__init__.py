"""The ground everything stands on: ``GRUParams`` and its converters, argument validation for the tiers,
the overflow-free sigmoid, parameter counts, and the machine description.

Imports nothing else from gru_props.
"""
