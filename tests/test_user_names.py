"""Under every adapter, a report speaks the function's own layout: the counterexample as the function
received it (its own names, its own shapes) and the worst element where it is in the function's arrays,
with gru_props' names beside them.

Each test plants a wrong gradient (or state) and checks the place the report names against the arrays the
function really returned: the element named must be one that differs from what a correct function in that
layout returns.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, Tuple

import numpy as np
import pytest

from gru_props import GRUParams, ImplementationError, check_gradients, check_implementation, level1
from gru_props.adapters import (
    CMU_11785_CELL,
    concat_layout,
    gru_object,
    keras_layout,
    maps,
    named_weights,
    onnx_layout,
    time_major,
    torch_layout,
    transposed_weights,
    unbatched,
)
from gru_props.adapters.names import NameMap

PLACE = re.compile(r"(?:the gradient for )?([\w']+(?: \w+)*?)\[([\d, ]*)\]")


def _fails(fn: Any, check: Callable[..., Any] = check_gradients, **kwargs: Any) -> ImplementationError:
    with pytest.raises(ImplementationError) as info:
        check(fn, profile="ci", max_examples=6, **kwargs)
    return info.value


def _place(err: ImplementationError) -> Tuple[str, Tuple[int, ...]]:
    """The (name, index) the report gives for the worst element in the function's own layout."""
    text = str(err)
    line = next((ln for ln in text.splitlines() if "The worst is" in ln), "")
    where = err.failures[0].extra.get("place")
    assert where, text
    m = PLACE.search(where)
    assert m, where
    assert where in line or f"In your function's layout that is {where}" in text, text
    return m.group(1), tuple(int(i) for i in m.group(2).split(",") if i.strip())


def _wrong_grads(m: NameMap, field: str) -> Callable[..., Any]:
    """A backward in ``m``'s layout (arrays positionally) whose gradient for ``field`` is doubled."""

    def backward(x, h0, *rest):
        arrays, (dhs, dh_T) = rest[:-2], rest[-2:]
        H = h0.shape[-1]
        D = x.shape[-1]
        user = dict(zip(m.names, arrays))
        fields = m.values_from_user(user, {"b_hn": np.zeros(H)}, D, H)
        fields.setdefault("b_hn", np.zeros(H))
        p = GRUParams(**fields)
        dx, dh0, g = level1.gru_backward(x, h0, p, dhs, dh_T, not m.summed)
        g = g.replace(**{field: 2 * getattr(g, field)})
        return dx, dh0, m.grads_to_user(g.arrays(), D, H)

    backward.right = lambda x, h0, *rest: _right(m, x, h0, *rest)  # type: ignore[attr-defined]
    return backward


def _right(m: NameMap, x, h0, *rest) -> Dict[str, np.ndarray]:
    arrays, (dhs, dh_T) = rest[:-2], rest[-2:]
    H, D = h0.shape[-1], x.shape[-1]
    fields = m.values_from_user(dict(zip(m.names, arrays)), {"b_hn": np.zeros(H)}, D, H)
    fields.setdefault("b_hn", np.zeros(H))
    _, _, g = level1.gru_backward(x, h0, GRUParams(**fields), dhs, dh_T, not m.summed)
    return m.grads_to_user(g.arrays(), D, H)


LAYOUTS = {
    "torch_layout": (torch_layout, maps.TORCH, {}),
    "keras_layout": (keras_layout, maps.KERAS, {}),
    "keras_layout(reset_after=False)": (lambda fn: keras_layout(fn, reset_after=False), maps.KERAS_RESET_BEFORE, {}),
    "onnx_layout": (onnx_layout, maps.ONNX_2D, {}),
    "onnx_layout(num_directions_axis=True)": (lambda fn: onnx_layout(fn, num_directions_axis=True), maps.ONNX, {}),
    "named_weights(CMU_11785)": (lambda fn: named_weights(fn, names=maps.CMU_11785), maps.CMU_11785, {}),
    "named_weights(DLFS2)": (lambda fn: named_weights(fn, names=maps.DLFS2), maps.DLFS2, {}),
    "named_weights(CONCAT_1XH)": (lambda fn: named_weights(fn, names=maps.CONCAT_1XH), maps.CONCAT_1XH, {}),
}


CASES = [("torch_layout", "W_r"), ("torch_layout", "b_z")] + [(name, "U_n") for name in sorted(LAYOUTS)]


@pytest.mark.parametrize("layout, field", CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_the_worst_gradient_is_named_where_the_function_returned_it(layout, field):
    adapter, names, kwargs = LAYOUTS[layout]
    m = NameMap(names)
    bad = _wrong_grads(m, field)
    err = _fails(adapter(bad), **kwargs)
    assert err.parameter == field, str(err)
    name, idx = _place(err)
    assert name in m.names, (name, str(err))
    case = err.counterexample
    p = case.params
    user = m.to_user(p.astype(np.float64).arrays(), case.D, case.H)
    args = (case.x, case.h0, *user.values(), case.dhs, case.dh_T)
    got = bad(*args)[2][name]
    right = _right(m, *args)[name]
    assert not np.isclose(got[idx], right[idx], rtol=1e-9, atol=1e-12), (layout, field, name, idx, str(err))
    # the counterexample as the function received it: its own array names
    block = str(err).split("handed your function as:")[1].split("\n\n")[0]
    assert all(re.search(rf"\b{n}\b", block) for n in m.names), block


def test_the_counterexample_is_shown_in_the_functions_own_shapes():
    def bad_cell(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
        hs, h = level1.gru_forward(x, h0, GRUParams.from_torch(
            {"weight_ih_l0": weight_ih, "weight_hh_l0": weight_hh, "bias_ih_l0": bias_ih,
             "bias_hh_l0": bias_hh}), reset_after=True)
        return hs * 1.5, h * 1.5

    err = _fails(torch_layout(bad_cell), check_implementation)
    text = str(err)
    block = text.split("handed your function as:")[1].split("\n\n")[0]
    H, D = err.counterexample.H, err.counterexample.D
    shown = dict(re.findall(r"  (\w+) = (\[[^\n]*)", block))
    for name, value in shown.items():  # every array printed has the shape the function received
        shape = {"weight_ih": (3 * H, D), "weight_hh": (3 * H, H), "bias_ih": (3 * H,), "bias_hh": (3 * H,)}.get(name)
        if shape is not None and shape[0] == 3 * H and len(shape) == 1:
            assert value.count(",") == 3 * H - 1, (name, value)


@pytest.mark.parametrize("wrap, user_index", [
    (time_major, lambda b, t, h: ("hs", (t, b, h))),
    (unbatched, lambda b, t, h: (f"example {b}'s hs", (t, h))),
])
def test_data_adapters_name_the_state_where_the_function_returned_it(wrap, user_index):
    def shifted(x, h0, p):  # from the second step on, the last state of batch row 0 doubled
        if wrap is time_major:
            hs, h = level1.gru_forward(np.swapaxes(x, 0, 1), h0, p)
            hs = np.swapaxes(hs, 0, 1).copy()
            if len(hs) > 1:
                hs[-1, 0] *= 2
            return hs, h
        hs, h = level1.gru_forward(x[None], h0[None], p)
        hs = hs[0].copy()
        if len(hs) > 1:
            hs[-1] *= 2
        return hs, h[0]

    err = _fails(wrap(shifted), check_implementation)
    b, t, h = err.mismatch.worst_abs_index
    name, idx = user_index(b, t, h)
    assert f"In your function's layout that is {name}[{', '.join(map(str, idx))}]." in str(err), str(err)


def test_a_cell_objects_gradients_are_named_as_its_attributes():
    from published import cmu_hw3p1

    class Halved(cmu_hw3p1.GRUCell):
        def backward(self, delta):
            dx, dh = super().backward(delta)
            self.dWnh = self.dWnh * 0.5
            return dx, dh

    err = _fails(gru_object(Halved, CMU_11785_CELL))
    assert err.parameter == "U_n"
    worst = next(ln for ln in str(err).splitlines() if "The worst is" in ln)
    assert worst.lstrip().startswith("The worst is dWnh[") and "(U_n[" in worst, worst


def test_transposed_and_concatenated_weights_are_located_in_the_users_matrices():
    fn = concat_layout(transposed_weights(unbatched(lambda x_t, h, p: None)))
    # U_z[i, j] (h unit i -> z unit j) is row j, column i of W_z (H, H + D) acting on [h, x]
    assert fn.__gru_props_locate__("U_z", (1, 2), 3, 4) == [("W_z", (2, 1))]
    # W_z[d, j] is column H + d of that row
    assert fn.__gru_props_locate__("W_z", (0, 3), 3, 4) == [("W_z", (3, 4))]
    # a split bias lives in two places; b_n + b_hn in one
    torch = torch_layout(lambda *a: None)
    assert torch.__gru_props_locate__("b_z", (1,), 3, 4) == [("bias_ih", (5,)), ("bias_hh", (5,))]
    keras = keras_layout(lambda *a: None, reset_after=False)
    assert keras.__gru_props_locate__("b_hn", (2,), 3, 4) == [("bias", (10,))]
