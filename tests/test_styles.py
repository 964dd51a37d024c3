"""Every style people write a GRU in can be checked with at most two lines of glue, and the verdict is the
one a hand-written wrapper gets: the same pass, or the same failed property, diagnoses and parameter.

The styles are look-alikes of published code (``tests/published``: CMU 11-785 cells, Deep Learning from
Scratch 2 layers, d2l.ai's parameter list, one matrix over [x, h, 1]) and of the styles it does not cover
(``tests/styles.py``: a framework's layer object, a dict of weights, a column-vector cell, a cell over
[1, x, h], a GRU without h0). ``GLUE`` is what the user writes beyond an import.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Dict, Optional

import numpy as np
import pytest
import styles
from published import cmu_hw3p1, cmu_old, concat, d2l, dlfs2

from gru_props import ImplementationError, check_gradients, check_implementation
from gru_props.adapters import (
    CMU_11785_CELL,
    CMU_11785_OLD_CELL,
    DLFS2_TIME_GRU,
    d2l_function,
    gru_object,
    maps,
    named_weights,
    no_initial_state,
    unbatched,
)


@dataclasses.dataclass(frozen=True)
class Style:
    name: str
    kind: str  # "forward" | "backward"
    adapted: Callable[[], Any]  # the function under the adapter (built lazily)
    glue: str  # what the user writes beyond an import (at most two lines)
    by_hand: Optional[Callable[..., Any]]  # the wrapper a user writes without the adapter (None: none can)
    kwargs: Dict[str, Any] = dataclasses.field(default_factory=dict)


XH1 = {"Wz": "(W_z;U_z;b_z).T", "Wr": "(W_r;U_r;b_r).T", "W": "(W_n;U_n;b_n+b_hn).T"}
NO_BIAS = {"Wx": "W_z,W_r,W_n", "Wh": "U_z,U_r,U_n"}
FRAMEWORK = dict(weights="dict:params", state="attribute:h", grads="dict:grads", dh0="attribute:dh0")

STYLES = [
    Style("cmu_11785_cell", "forward", lambda: gru_object(cmu_hw3p1.GRUCell, CMU_11785_CELL),
          "gru_object(GRUCell, CMU_11785_CELL)", cmu_hw3p1.cmu_forward_glue, {"step": True}),
    Style("cmu_11785_cell", "backward", lambda: gru_object(cmu_hw3p1.GRUCell, CMU_11785_CELL),
          "gru_object(GRUCell, CMU_11785_CELL)", cmu_hw3p1.cmu_backward_glue, {"step": True}),
    Style("cmu_11785_nodes", "backward", lambda: gru_object(cmu_hw3p1.GRUCellNodes, CMU_11785_CELL),
          "gru_object(GRUCellNodes, CMU_11785_CELL)", cmu_hw3p1.cmu_nodes_backward_glue, {"step": True}),
    Style("cmu_11785_over_a_sequence", "backward",
          lambda: gru_object(cmu_hw3p1.GRUCellAssigned, CMU_11785_CELL, sequence=True),
          "gru_object(GRUCellAssigned, CMU_11785_CELL, sequence=True)", cmu_hw3p1.cmu_assigned_backward_glue),
    Style("cmu_11785_old_cell", "forward", lambda: gru_object(cmu_old.GRU_Cell, CMU_11785_OLD_CELL),
          "gru_object(GRU_Cell, CMU_11785_OLD_CELL)", cmu_old.cmu_old_forward_glue,
          {"step": True, "interpolation": "chung", "bias": False}),
    Style("cmu_11785_old_cell", "backward", lambda: gru_object(cmu_old.GRU_Cell, CMU_11785_OLD_CELL),
          "gru_object(GRU_Cell, CMU_11785_OLD_CELL)", cmu_old.cmu_old_backward_glue,
          {"step": True, "interpolation": "chung", "bias": False}),
    Style("cmu_11785_old_nodes", "backward", lambda: gru_object(cmu_old.GRU_CellNodes, CMU_11785_OLD_CELL),
          "gru_object(GRU_CellNodes, CMU_11785_OLD_CELL)", cmu_old.cmu_old_nodes_backward_glue,
          {"step": True, "interpolation": "chung", "bias": False}),
    Style("dlfs2_time_gru", "forward", lambda: gru_object(dlfs2.TimeGRU, DLFS2_TIME_GRU),
          "gru_object(TimeGRU, DLFS2_TIME_GRU)", dlfs2.dlfs2_forward_glue, {"interpolation": "chung"}),
    Style("dlfs2_time_gru", "backward", lambda: gru_object(dlfs2.TimeGRU, DLFS2_TIME_GRU),
          "gru_object(TimeGRU, DLFS2_TIME_GRU)", dlfs2.dlfs2_backward_glue, {"interpolation": "chung"}),
    Style("dlfs2_no_bias", "backward",
          lambda: gru_object(dlfs2.TimeGRUNoBias, DLFS2_TIME_GRU, names=NO_BIAS, grads="attributes"),
          "gru_object(TimeGRUNoBias, DLFS2_TIME_GRU,\n           names=NO_BIAS, grads='attributes')",
          dlfs2.dlfs2_no_bias_backward_glue, {"interpolation": "chung", "bias": False}),
    Style("d2l_parameter_list", "forward", lambda: d2l_function(d2l.gru), "d2l_function(gru)", d2l.d2l_gru_glue),
    Style("one_matrix_over_x_h_1", "forward",
          lambda: gru_object(concat.GRULayer, XH1, per_example=True, state="keyword:initial_h"),
          "gru_object(GRULayer, XH1, per_example=True, state='keyword:initial_h')", concat.concat_xh1_forward_glue,
          {"interpolation": "chung"}),
    Style("framework_layer", "forward", lambda: gru_object(styles.FrameworkGRU, styles.FrameworkGRU.NAMES,
                                                           **FRAMEWORK),
          "gru_object(FrameworkGRU, NAMES, weights='dict:params', state='attribute:h',\n"
          "           grads='dict:grads', dh0='attribute:dh0')", styles.framework_forward_by_hand),
    Style("framework_layer", "backward", lambda: gru_object(styles.FrameworkGRU, styles.FrameworkGRU.NAMES,
                                                            **FRAMEWORK),
          "(the same)", styles.framework_backward_by_hand),
    Style("framework_layer_without_dh0", "backward",
          lambda: gru_object(lambda D, H: styles.FrameworkGRU(D, H, "no_dh0"), styles.FrameworkGRU.NAMES,
                             **FRAMEWORK),
          "(the same)", functools.partial(styles.framework_backward_by_hand, slip="no_dh0")),
    Style("framework_layer_z_swapped", "forward",
          lambda: gru_object(lambda D, H: styles.FrameworkGRU(D, H, "z_swapped"), styles.FrameworkGRU.NAMES,
                             **FRAMEWORK),
          "(the same)", functools.partial(styles.framework_forward_by_hand, slip="z_swapped")),
    Style("dict_of_weights", "forward", lambda: named_weights(styles.dict_gru, names=styles.DICT_NAMES,
                                                              pass_as="dict"),
          "named_weights(dict_gru, names=DICT_NAMES, pass_as='dict')", styles.dict_gru_by_hand),
    Style("dict_of_weights_bias_outside", "forward",
          lambda: named_weights(functools.partial(styles.dict_gru, slip="bias_outside"), names=styles.DICT_NAMES,
                                pass_as="dict"),
          "(the same)", functools.partial(styles.dict_gru_by_hand, slip="bias_outside")),
    Style("column_vector_cell", "forward", lambda: named_weights(unbatched(styles.column_cell),
                                                                 names=styles.COLUMN_NAMES),
          "named_weights(unbatched(column_cell), names=COLUMN_NAMES)", styles.column_cell_by_hand,
          {"step": True}),
    Style("column_vector_cell_transposed_U", "forward",
          lambda: named_weights(unbatched(functools.partial(styles.column_cell, slip="transposed_U")),
                                names=styles.COLUMN_NAMES),
          "(the same)", functools.partial(styles.column_cell_by_hand, slip="transposed_U"), {"step": True}),
    Style("one_x_h_cell", "forward", lambda: named_weights(unbatched(styles.one_x_h_cell), names=maps.CONCAT_1XH),
          "named_weights(unbatched(one_x_h_cell), names=maps.CONCAT_1XH)", styles.one_x_h_by_hand, {"step": True}),
    Style("one_x_h_cell_no_one", "forward",
          lambda: named_weights(unbatched(functools.partial(styles.one_x_h_cell, slip="no_one")),
                                names=maps.CONCAT_1XH),
          "(the same)", functools.partial(styles.one_x_h_by_hand, slip="no_one"), {"step": True}),
    Style("no_initial_state", "forward", lambda: no_initial_state(styles.no_h0_gru), "no_initial_state(no_h0_gru)",
          None),
    Style("no_initial_state_stale", "forward",
          lambda: no_initial_state(functools.partial(styles.no_h0_gru, slip="stale")), "(the same)", None),
]
IDS = [f"{s.name}-{s.kind}" for s in STYLES]


def _verdict(fn: Any, kind: str, kwargs: Dict[str, Any]) -> Any:
    check = check_implementation if kind == "forward" else check_gradients
    try:
        return check(fn, profile="ci", max_examples=12, **kwargs)
    except ImplementationError as err:
        return err


def _summary(result: Any) -> Any:
    """A verdict: pass, or the failed property, its diagnoses and the wrong parameter. (A pass may hold more
    properties than a wrapper's: e.g. the adapter answers h0=None and T = 0 where a quick wrapper raises.)"""
    if isinstance(result, ImplementationError):
        return ("fail", result.property, result.diagnoses, result.parameter)
    return ("pass",)


@pytest.mark.parametrize("style", STYLES, ids=IDS)
def test_each_style_needs_at_most_two_lines_and_gets_the_hand_written_wrappers_verdict(style):
    assert len(style.glue.splitlines()) <= 2
    adapted = _verdict(style.adapted(), style.kind, style.kwargs)
    if style.by_hand is None:  # nothing but the adapter can tell the check that h0 is always 0
        expected_pass = "stale" not in style.name
        assert isinstance(adapted, ImplementationError) != expected_pass, str(adapted)
        return
    by_hand = _verdict(style.by_hand, style.kind, style.kwargs)
    assert _summary(adapted) == _summary(by_hand), f"adapter:\n{adapted}\n\nby hand:\n{by_hand}"


def test_the_planted_slips_are_caught_and_named_in_the_users_own_names():
    err = _verdict(STYLES[IDS.index("framework_layer_without_dh0-backward")].adapted(), "backward", {})
    assert isinstance(err, ImplementationError) and err.diagnoses == ("dh0_missing",), str(err)
    err = _verdict(STYLES[IDS.index("column_vector_cell_transposed_U-forward")].adapted(), "forward",
                   {"step": True})
    assert isinstance(err, ImplementationError), str(err)
    assert "Uz" in str(err).split("Mismatched")[0]  # the counterexample as the cell received it
    err = _verdict(gru_object(cmu_hw3p1.GRUCellAssigned, CMU_11785_CELL, sequence=True), "backward", {})
    assert err.diagnoses == ("grads_not_accumulated",)
    worst = str(err).splitlines()[2]  # the cell's own gradient leads, gru_props' name beside it
    assert worst.startswith("  The worst is d") and f"({err.parameter}[" in worst and "in gru_props' names" in worst


def test_a_cell_style_checked_as_a_sequence_runs_one_object_over_time():
    fn = gru_object(cmu_hw3p1.GRUCell, CMU_11785_CELL, sequence=True)
    assert "step" not in fn.__gru_props_requires__
    from gru_props import GRUParams, level1

    p = GRUParams.random(3, 4, seed=2)
    x = np.random.default_rng(2).standard_normal((2, 5, 3))
    h0 = np.random.default_rng(3).standard_normal((2, 4))
    hs, h_T = fn(x, h0, p)
    ref_hs, ref_hT = level1.gru_forward(x, h0, p, reset_after=True)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_T, ref_hT, rtol=1e-12, atol=1e-12)
