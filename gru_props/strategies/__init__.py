"""Hypothesis strategies for GRU inputs (installed as ``gru_props.strategies``).

Compose them in your own tests::

    import numpy as np
    from hypothesis import given, settings
    from gru_props import gru_forward
    from gru_props import strategies as gst

    @settings(max_examples=20)
    @given(gst.gru_cases(gst.dims(max_time=5)))
    def test_my_gru(case):
        hs, h_T = gru_forward(case.x, case.h0, case.params)     # your GRU here
        assert hs.shape == (case.B, case.T, case.H)
        assert np.abs(hs).max(initial=0) <= 1

Two ways of filling arrays, chosen on purpose:

* element-wise (``gru_params``, ``gru_cases``): every entry is its own draw
  (``fill=st.nothing()``), so a failure shrinks to a handful of non-zero,
  readable numbers. Use it for small shapes, where readability matters.
* seeded (``seeded_gru_cases``): one integer seed drives
  ``np.random.default_rng``; fast for large shapes, but a failure shrinks only
  to "seed=0" and a dense matrix.

Every strategy checks its arguments when it is called, not when it is drawn
from, and says which argument is wrong.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gru_props.core.params import GRUParams
from gru_props.forward.case import GRUCase

__all__ = [
    "Dims",
    "GRUCase",
    "EXTREME_MAGNITUDES",
    "dims",
    "float_dtypes",
    "seeds",
    "values",
    "extreme_values",
    "gru_params",
    "gru_cases",
    "extreme_gru_cases",
    "seeded_gru_params",
    "seeded_gru_cases",
    "lengths",
    "stack_cases",
]

#: The magnitudes ``extreme_values`` mixes in: enough to saturate every gate
#: (sigmoid(±50) is 0 or 1 to double precision) and to overflow a naive
#: ``exp`` (exp(1e3) is inf in float64, exp(100) in float32).
EXTREME_MAGNITUDES: Tuple[float, ...] = (1e4, 1e3, 100.0, 50.0)


class Dims(NamedTuple):
    """The four GRU sizes: batch B, time steps T, input features D, hidden units H."""

    B: int
    T: int
    D: int
    H: int


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}.")
    return int(value)


def _check_range(name: str, lo: Any, hi: Any, minimum: int) -> Tuple[int, int]:
    lo = _check_int(f"min_{name}", lo, minimum)
    hi = _check_int(f"max_{name}", hi, minimum)
    if lo > hi:
        raise ValueError(f"min_{name}={lo} is greater than max_{name}={hi}; pass min_{name} <= max_{name}.")
    return lo, hi


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {value!r}.")
    return value


def _check_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected np.float32 or np.float64, got {dtype!r}.") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected np.float32 or np.float64, got {dt}.")
    return dt


def _element_count(d: Dims) -> int:
    """Every number in one case: x, h0 and the ten parameter arrays."""
    return d.B * d.T * d.D + d.B * d.H + 3 * d.D * d.H + 3 * d.H * d.H + 4 * d.H


def dims(
    *,
    min_batch: int = 1,
    max_batch: int = 3,
    min_time: int = 0,
    max_time: int = 4,
    min_input: int = 1,
    max_input: int = 4,
    min_hidden: int = 1,
    max_hidden: int = 4,
    max_elements: Optional[int] = 2000,
) -> st.SearchStrategy[Dims]:
    """GRU sizes ``Dims(B, T, D, H)``, shrinking towards B = D = H = 1 and T = min_time.

    * ``min_batch``/``max_batch`` bound B (B = 0 is allowed with ``min_batch=0``);
    * ``min_time``/``max_time`` bound T (T = 0, the empty sequence, is in the
      default range);
    * ``min_input``/``max_input`` bound D, ``min_hidden``/``max_hidden`` bound H (H >= 1);
    * ``max_elements`` caps the numbers in one whole case (x, h0 and the
      parameters: B·T·D + B·H + 3·D·H + 3·H² + 4·H); None for no cap.

    D == H and D != H both occur; every edge (1s, T = 0) is reachable.
    """
    b = _check_range("batch", min_batch, max_batch, 0)
    t = _check_range("time", min_time, max_time, 0)
    d = _check_range("input", min_input, max_input, 0)
    h = _check_range("hidden", min_hidden, max_hidden, 1)
    if max_elements is not None:
        max_elements = _check_int("max_elements", max_elements, 1)
        smallest = Dims(b[0], t[0], d[0], h[0])
        if _element_count(smallest) > max_elements:
            raise ValueError(
                f"max_elements={max_elements} is smaller than the smallest case allowed by "
                f"the bounds ({smallest}: {_element_count(smallest)} numbers); raise it."
            )
    strategy = st.builds(
        Dims,
        B=st.integers(*b),
        T=st.integers(*t),
        D=st.integers(*d),
        H=st.integers(*h),
    )
    if max_elements is None:
        return strategy
    cap = max_elements
    return strategy.filter(lambda dd: _element_count(dd) <= cap)


def float_dtypes() -> st.SearchStrategy[np.dtype]:
    """float64 or float32 (shrinks to float64)."""
    return st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])


def seeds() -> st.SearchStrategy[int]:
    """Seeds for ``np.random.default_rng`` (shrinks to 0)."""
    return st.integers(0, 2**32 - 1)


def values(
    magnitude: float = 3.0, *, dtype: Any = np.float64
) -> st.SearchStrategy[float]:
    """Finite floats in [-magnitude, magnitude], representable in ``dtype``."""
    dt = _check_dtype(dtype)
    if not (isinstance(magnitude, (int, float)) and np.isfinite(magnitude) and magnitude > 0):
        raise ValueError(f"magnitude: expected a finite number > 0, got {magnitude!r}.")
    return _values(float(magnitude), dt.str)


# Strategies are cached: building and validating a fresh strategy object for
# every draw costs more than drawing from it.
@functools.lru_cache(maxsize=None)
def _values(magnitude: float, dtype: str) -> st.SearchStrategy[float]:
    return st.floats(
        -magnitude, magnitude, width=32 if np.dtype(dtype).itemsize == 4 else 64, allow_nan=False,
        allow_infinity=False, allow_subnormal=False,
    )


@functools.lru_cache(maxsize=4096)
def _arrays(dtype: str, shape: Tuple[int, ...], elements: st.SearchStrategy[float]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.dtype(dtype), shape, elements=elements, fill=st.nothing())


def extreme_values(
    magnitudes: Sequence[float] = EXTREME_MAGNITUDES, *, dtype: Any = np.float64
) -> st.SearchStrategy[float]:
    """Ordinary values mixed with ±each of ``magnitudes`` (default up to 1e4).

    The large values are sampled, not drawn from an unbounded range: an
    unbounded ``floats()`` finds an overflowing ``exp`` only about half the
    time, while ±1e4 reaches it every time and shrinks to the smallest
    magnitude that still fails.
    """
    dt = _check_dtype(dtype)
    mags = tuple(magnitudes)
    if not mags or not all(isinstance(m, (int, float)) and np.isfinite(m) and m > 0 for m in mags):
        raise ValueError(f"magnitudes: expected finite numbers > 0, got {magnitudes!r}.")
    return _extreme_values(mags, dt.str)


@functools.lru_cache(maxsize=None)
def _extreme_values(mags: Tuple[float, ...], dtype: str) -> st.SearchStrategy[float]:
    big = sorted({float(s * m) for m in mags for s in (1, -1)}, key=lambda v: (abs(v), v < 0))
    return st.one_of(_values(3.0, dtype), st.sampled_from(big))


def gru_params(
    D: int,
    H: int,
    *,
    dtype: Any = np.float64,
    elements: Optional[st.SearchStrategy[float]] = None,
    bias: bool = True,
) -> st.SearchStrategy[GRUParams]:
    """``GRUParams`` of input size D and hidden size H, drawn element by element.

    ``elements`` defaults to ``values(3.0)``; every entry is drawn on its own
    (``fill=st.nothing()``), so failures shrink to a few non-zero entries.
    ``bias=False`` makes every bias zero (a GRU without biases).
    """
    D = _check_int("D", D, 0)
    H = _check_int("H", H, 1)
    dt = _check_dtype(dtype)
    bias = _check_bool("bias", bias)
    if elements is None:
        elements = values(3.0, dtype=dt)
    elif not isinstance(elements, st.SearchStrategy):
        raise TypeError(f"elements: expected a Hypothesis strategy of floats, got {elements!r}.")
    return _gru_params(D, H, dt.str, elements, bias)


@functools.lru_cache(maxsize=1024)
def _gru_params(D: int, H: int, dtype: str, elements: st.SearchStrategy[float],
                bias: bool = True) -> st.SearchStrategy[GRUParams]:
    def arr(shape: Tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
        return _arrays(dtype, shape, elements)

    def b() -> st.SearchStrategy[np.ndarray]:
        return arr((H,)) if bias else st.just(np.zeros(H, dtype=dtype))

    return st.builds(
        GRUParams,
        W_z=arr((D, H)), W_r=arr((D, H)), W_n=arr((D, H)),
        U_z=arr((H, H)), U_r=arr((H, H)), U_n=arr((H, H)),
        b_z=b(), b_r=b(), b_n=b(), b_hn=b(),
    )


def _check_dims_strategy(shapes: Any) -> st.SearchStrategy[Dims]:
    if shapes is None:
        return dims()
    if isinstance(shapes, Dims):
        return st.just(shapes)
    if not isinstance(shapes, st.SearchStrategy):
        raise TypeError(f"shapes: expected gru_props.strategies.dims(...) or a Dims, got {shapes!r}.")
    return shapes


def _check_dtype_strategy(dtype: Any) -> st.SearchStrategy[np.dtype]:
    if isinstance(dtype, st.SearchStrategy):
        return dtype
    return st.just(_check_dtype(dtype))


def gru_cases(
    shapes: Any = None,
    *,
    dtype: Any = np.float64,
    elements: Optional[st.SearchStrategy[float]] = None,
    h0_magnitude: float = 1.0,
    bias: bool = True,
) -> st.SearchStrategy[GRUCase]:
    """Whole GRU inputs ``GRUCase(x, h0, params)``, drawn element by element.

    * ``shapes``: a ``dims(...)`` strategy or a fixed ``Dims``; default ``dims()``;
    * ``dtype``: np.float32, np.float64 or a strategy such as ``float_dtypes()``;
    * ``elements``: strategy for x and the parameters; default ``values(3.0)``;
    * ``h0_magnitude``: bound on |h0| (1.0 keeps every state in [-1, 1]);
    * ``bias``: False makes every bias zero (a GRU without biases).

    Shrinks towards B = T = D = H = 1 (or T = 0) and zeros.
    """
    shapes = _check_dims_strategy(shapes)
    dtypes = _check_dtype_strategy(dtype)
    bias = _check_bool("bias", bias)
    if elements is not None and not isinstance(elements, st.SearchStrategy):
        raise TypeError(f"elements: expected a Hypothesis strategy of floats, got {elements!r}.")
    if not (isinstance(h0_magnitude, (int, float)) and h0_magnitude >= 0 and np.isfinite(h0_magnitude)):
        raise ValueError(f"h0_magnitude: expected a finite number >= 0, got {h0_magnitude!r}.")

    @st.composite
    def build(draw: Any) -> GRUCase:
        d = draw(shapes)
        dt = draw(dtypes)
        el = elements if elements is not None else _values(3.0, dt.str)
        params = draw(_gru_params(d.D, d.H, dt.str, el, bias))
        x = draw(_arrays(dt.str, (d.B, d.T, d.D), el))
        if h0_magnitude > 0:
            h0 = draw(_arrays(dt.str, (d.B, d.H), _values(float(h0_magnitude), dt.str)))
        else:
            h0 = np.zeros((d.B, d.H), dtype=dt)
        return GRUCase(x, h0, params)

    return build()


def extreme_gru_cases(
    shapes: Any = None,
    *,
    dtype: Any = np.float64,
    magnitudes: Sequence[float] = EXTREME_MAGNITUDES,
    bias: bool = True,
) -> st.SearchStrategy[GRUCase]:
    """GRU inputs whose weights and inputs reach ±1e4: saturated gates, overflowing ``exp``.

    Same arguments as ``gru_cases``, with ``magnitudes`` passed to ``extreme_values``.
    A correct GRU stays finite with |h_t| <= 1 on all of them (|h0| <= 1).
    """
    dt = _check_dtype(dtype) if not isinstance(dtype, st.SearchStrategy) else None
    if dt is None:
        return _check_dtype_strategy(dtype).flatmap(
            lambda d: extreme_gru_cases(shapes, dtype=d, magnitudes=magnitudes, bias=bias)
        )
    return gru_cases(shapes, dtype=dt, elements=extreme_values(magnitudes, dtype=dt), bias=bias)


def seeded_gru_params(
    D: int, H: int, *, dtype: Any = np.float64, scale: Optional[float] = None, bias: bool = True
) -> st.SearchStrategy[GRUParams]:
    """``GRUParams.random(D, H, seed=...)`` for a drawn seed: fast at any size (``bias=False``: zero biases)."""
    D = _check_int("D", D, 0)
    H = _check_int("H", H, 1)
    dt = _check_dtype(dtype)
    bias = _check_bool("bias", bias)
    if scale is not None and not (np.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale: expected a finite number >= 0 or None, got {scale!r}.")
    return seeds().map(lambda s: _without_bias(GRUParams.random(D, H, seed=s, scale=scale, dtype=dt), bias))


def _without_bias(params: GRUParams, bias: bool) -> GRUParams:
    if bias:
        return params
    zero = np.zeros(params.H, dtype=params.dtype)
    return params.replace(b_z=zero, b_r=zero, b_n=zero, b_hn=zero)


def seeded_gru_cases(
    shapes: Any = None,
    *,
    dtype: Any = np.float64,
    scale: float = 1.0,
    x_scale: float = 1.0,
    bias: bool = True,
) -> st.SearchStrategy[GRUCase]:
    """Whole GRU inputs from one seed each: for large shapes, where speed matters.

    Parameters are uniform in [-scale, scale], x normal with standard
    deviation ``x_scale``, h0 uniform in [-1, 1]; ``bias=False`` makes every
    bias zero. Shrinks only the seed and the shape, so prefer ``gru_cases``
    where the counterexample must be read.
    """
    shapes = _check_dims_strategy(shapes)
    dtypes = _check_dtype_strategy(dtype)
    bias = _check_bool("bias", bias)
    for name, v in (("scale", scale), ("x_scale", x_scale)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v >= 0):
            raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}.")

    def make(args: Tuple[Dims, np.dtype, int]) -> GRUCase:
        d, dt, seed = args
        rng = np.random.default_rng(seed)
        params = _without_bias(GRUParams.random(d.D, d.H, seed=rng, scale=scale, dtype=dt), bias)
        x = (x_scale * rng.standard_normal((d.B, d.T, d.D))).astype(dt)
        h0 = rng.uniform(-1.0, 1.0, (d.B, d.H)).astype(dt)
        return GRUCase(x, h0, params)

    return st.tuples(shapes, dtypes, seeds()).map(make)


def lengths(B: int, T: int) -> st.SearchStrategy[np.ndarray]:
    """Sequence lengths (B,), each in 0 .. T, int64: T (no padding) and 0 (an empty sequence) come up
    often; shrinks towards every length T, then towards shorter ones."""
    B = _check_int("B", B, 0)
    T = _check_int("T", T, 0)
    one = st.one_of(st.just(T), st.just(0), st.integers(0, T)) if T else st.just(0)
    return st.lists(one, min_size=B, max_size=B).map(lambda v: np.array(v, dtype=np.int64))


_lengths = lengths


def stack_cases(*, num_layers: int = 1, bidirectional: bool = False, lengths: bool = False, bias: bool = True,
                sizes: Any = None, extreme: bool = False, empty: bool = False, gradient: bool = False,
                dtype: Any = None) -> st.SearchStrategy[Any]:
    """Inputs of a stacked GRU (``gru_props.stack.case.StackCase``): x (B, T, D), h0 (num_layers *
    num_directions, B, H), the layers, lengths (B,) when ``lengths`` (unequal, 0 and T included), and with
    ``gradient`` dout and dh_n.

    Small sizes first (B <= 3, T <= 4, D, H <= 3; shrinking stays readable), then up to ``sizes`` (a
    ``gru_props.engine.profiles.Sizes``; T and H capped at 12 and 8: a stack costs num_layers *
    num_directions passes). Values come from a drawn seed (weights uniform in +-scale, scale 1/sqrt(H) to
    1.5, or up to 1e3 with ``extreme``); ``empty`` gives T = 0. ``bias=False`` zeroes every bias.
    """
    from gru_props.engine.profiles import SIZES
    from gru_props.stack.case import StackCase

    num_layers = _check_int("num_layers", num_layers, 1)
    bidirectional = _check_bool("bidirectional", bidirectional)
    with_lengths = _check_bool("lengths", lengths)
    big = SIZES["dev"] if sizes is None else sizes
    nd = 2 if bidirectional else 1
    small = (3, 0 if empty else 4, 3, 3)
    large = (big.B, 0 if empty else min(big.T, 12), min(big.D, 8), min(big.H, 8))
    dtypes = float_dtypes() if dtype is None else st.just(np.dtype(dtype))
    scales = st.sampled_from([1e3, 100.0]) if extreme else st.sampled_from([1.0, 0.5, 1.5])

    @st.composite
    def build(draw: Any) -> Any:
        top = draw(st.sampled_from([small, large])) if not empty else small
        B = draw(st.integers(1, top[0]))
        T = draw(st.integers(0 if empty else 1, top[1]))
        D = draw(st.integers(1, top[2]))
        H = draw(st.integers(1, top[3]))
        dt = draw(dtypes)
        scale = draw(scales)
        seed = draw(seeds())
        rng = np.random.default_rng(seed)
        layers = []
        for i in range(num_layers * nd):
            p = GRUParams.random(D if i < nd else nd * H, H, seed=rng, scale=scale / np.sqrt(max(H, 1)) if scale == 1.0
                                 else scale, dtype=dt)
            layers.append(_without_bias(p, bias))
        x = ((scale if extreme else 1.0) * rng.standard_normal((B, T, D))).astype(dt)
        h0 = rng.uniform(-1.0, 1.0, (num_layers * nd, B, H)).astype(dt)
        lens = draw(_lengths(B, T)) if with_lengths else None
        dout = dh_n = None
        if gradient:
            dout = rng.standard_normal((B, T, nd * H)).astype(dt)
            dh_n = rng.standard_normal((num_layers * nd, B, H)).astype(dt)
        return StackCase(x, h0, tuple(layers), lens, bidirectional, dout, dh_n)

    return build()
