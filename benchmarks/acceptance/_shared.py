"""What the acceptance harnesses share: fresh cases, the 1e-6 comparison, verifying a bug model, recording an error.

An explanation is *true* when ``err.bug_model`` reproduces the checked
function on ``FRESH`` (50) fresh random cases: sizes B, T, D, H drawn in
1..5, h0 zero on every other case, parameter scale 0.5 / 1 / 2, float64,
every output element within 1e-6 relative (``worst_error``; the relative
error of an element near zero is taken against 1e-3 of the output's largest
magnitude, so rounding at 1e-16 never counts; an output the function returns
in float32 gets 1e-4). The same is reported, apart, on ``EXTREME`` (10)
fresh cases at extreme magnitudes, where exp overflows; there the gates
saturate and ``1 - z`` loses digits (a correct BPTT and Level 1 differ by
1e-3 relative in small gradient elements), so only the NaN / inf pattern and
gross differences count (``EXTREME_RTOL``: every finite element within 1e-2
of the output's largest magnitude: slips that square pre-activations make
sums of huge terms whose small elements are all cancellation). A fresh case on which the
function itself raises cannot be compared; it is counted apart
(``uncomparable``) and never counted as a match. An output of another shape
than the model's is a mismatch.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for path in (HERE, os.path.join(ROOT, "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)
try:  # a checkout that was not pip-installed still runs
    import gru_props  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, ROOT)

from gru_props import GRUParams  # noqa: E402

FRESH = 50
EXTREME = 10
RTOL = 1e-6
EXTREME_RTOL = 1e-2  # extreme cases: saturated gates make 1 - z lose digits; only gross mismatches count there
RTOL_FLOAT32 = 1e-4  # for an output the function returns in float32 (published code with float32 buffers)
FIELDS = ("W_z", "W_r", "W_n", "U_z", "U_r", "U_n", "b_z", "b_r", "b_n", "b_hn")


# ----------------------------------------------------------------------------- cases
class Case:
    """One float64 case: x (B, T, D), h0 (B, H), params, dhs (B, T, H), dh_T (B, H)."""

    def __init__(self, x: np.ndarray, h0: np.ndarray, params: GRUParams, dhs: np.ndarray, dh_T: np.ndarray,
                 label: str) -> None:
        self.x, self.h0, self.params, self.dhs, self.dh_T, self.label = x, h0, params, dhs, dh_T, label

    @property
    def dims(self) -> Tuple[int, int, int, int]:
        B, T, D = self.x.shape
        return B, T, D, self.h0.shape[1]


def case(seed: int, B: int, T: int, D: int, H: int, scale: float = 1.0, x_scale: float = 1.0,
         zero_h0: bool = False, bias: bool = True) -> Case:
    rng = np.random.default_rng(seed)
    params = GRUParams.random(D, H, seed=rng, scale=scale)
    if not bias:
        params = params.replace(**{b: np.zeros(H) for b in ("b_z", "b_r", "b_n", "b_hn")})
    x = rng.normal(size=(B, T, D)) * x_scale
    h0 = np.zeros((B, H)) if zero_h0 else rng.uniform(-1, 1, (B, H))
    dhs = rng.normal(size=(B, T, H))
    dh_T = rng.normal(size=(B, H))
    return Case(x, h0, params, dhs, dh_T, f"seed={seed} B={B} T={T} D={D} H={H} scale={scale} x_scale={x_scale} "
                                         f"h0={'zero' if zero_h0 else 'random'}")


def fresh_cases(n: int = FRESH, seed: int = 7000, bias: bool = True, zero_h0: bool = False) -> List[Case]:
    """``n`` cases the checker never saw (case i has seed ``seed + i``); ``bias=False``: zero biases,
    ``zero_h0``: h0 zero on every case."""
    out = []
    for i in range(n):
        dims = np.random.default_rng(seed + i).integers(1, 6, size=4)
        out.append(case(seed + i + 100_000, *(int(d) for d in dims), scale=(0.5, 1.0, 2.0)[i % 3],
                        x_scale=(1.0, 2.0)[(i // 2) % 2], zero_h0=zero_h0 or (i % 2 == 0), bias=bias))
    return out


def extreme_cases(n: int = EXTREME, seed: int = 8000, bias: bool = True, zero_h0: bool = False) -> List[Case]:
    """``n`` fresh cases at extreme magnitudes (parameters up to 30 or 300, x scaled by 10 or 100): exp
    overflows there, so slips that only differ once it does (an exp-ratio sigmoid or tanh, a guard) show."""
    out = []
    for i in range(n):
        dims = np.random.default_rng(seed + i).integers(1, 6, size=4)
        out.append(case(seed + i + 100_000, *(int(d) for d in dims), scale=(30.0, 300.0)[i % 2],
                        x_scale=(10.0, 100.0)[(i // 2) % 2], zero_h0=zero_h0 or (i % 2 == 0), bias=bias))
    return out


#: The fixed case the mutants are classified on: every size distinct, h0 not zero.
def fixed_case() -> Case:
    return case(12345, 3, 4, 2, 5, scale=1.0)


# ----------------------------------------------------------------------------- outputs
def forward_outputs(out: Any) -> Dict[str, np.ndarray]:
    """hs, and h_T when the function returns (hs, h_T)."""
    if isinstance(out, tuple):
        if len(out) != 2:
            raise ValueError(f"returned a tuple of {len(out)}")
        return {"hs": np.asarray(out[0]), "h_T": np.asarray(out[1])}
    return {"hs": np.asarray(out)}


def backward_outputs(out: Any) -> Dict[str, np.ndarray]:
    """dx, dh0 and every parameter gradient, by name."""
    dx, dh0, grads = out
    if isinstance(grads, GRUParams):
        grads = grads.arrays()
    if not isinstance(grads, Mapping):
        raise ValueError(f"grads is a {type(grads).__name__}")
    arrays = {"dx": np.asarray(dx), "dh0": np.asarray(dh0)}
    for name in FIELDS:
        arrays[name] = np.asarray(grads[name])
    return arrays


def call(fn: Callable[..., Any], kind: str, c: Case, step: bool = False) -> Dict[str, np.ndarray]:
    """``fn`` on case ``c`` (copies of the arrays), its outputs by name; raises what ``fn`` raises.

    ``step``: ``fn`` is a step function, called on step 0 of the case (forward ``fn(x_t, h_prev, params)``,
    backward ``fn(x_t, h_prev, params, dh_t)``)."""
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if step and kind == "forward":
            return {"h_t": np.asarray(fn(c.x[:, 0].copy(), c.h0.copy(), c.params))}
        if step:
            return backward_outputs(fn(c.x[:, 0].copy(), c.h0.copy(), c.params, c.dhs[:, 0].copy()))
        if kind == "forward":
            return forward_outputs(fn(c.x.copy(), c.h0.copy(), c.params))
        return backward_outputs(fn(c.x.copy(), c.h0.copy(), c.params, c.dhs.copy(), c.dh_T.copy()))


def worst_error(got: np.ndarray, want: np.ndarray, floor_frac: float = 1e-3) -> float:
    """The largest relative error of ``got`` against ``want`` (inf: shape, NaN or inf mismatch)."""
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    if g.shape != w.shape:
        return float("inf")
    if g.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        same = (np.isnan(g) & np.isnan(w)) | (np.isinf(g) & (g == w))
        finite = np.isfinite(w)
        scale = float(np.max(np.abs(np.where(finite, w, 0.0)), initial=0.0))
        floor = floor_frac * max(scale, 1e-9)
        err = np.abs(g - w) / np.maximum(np.abs(w), floor)
        err = np.where(same, 0.0, err)
        err = np.where(np.isnan(err), np.inf, err)
    return float(np.max(err))


def compare(got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray], floor_frac: float = 1e-3
            ) -> Tuple[float, str]:
    """(worst relative error over the outputs ``got`` has, the output where it is). An output ``got`` returns
    in float32 has its error scaled by RTOL / RTOL_FLOAT32, so that 1e-6 means float32's 1e-4 for it."""
    worst, where = 0.0, ""
    for name, g in got.items():
        if name not in want:
            continue
        e = worst_error(g, want[name], floor_frac)
        if np.asarray(g).dtype == np.float32:
            e *= RTOL / RTOL_FLOAT32
        if e > worst or not where:
            worst, where = max(worst, e), name
    return worst, where


# ----------------------------------------------------------------------------- references
def reference(kind: str, c: Case, reset_after: bool) -> Dict[str, np.ndarray]:
    from gru_props import level1

    if kind == "forward":
        return forward_outputs(level1.gru_forward(c.x, c.h0, c.params, reset_after=reset_after))
    return backward_outputs(level1.gru_backward(c.x, c.h0, c.params, c.dhs, c.dh_T, reset_after=reset_after))


def equals_reference(kind: str, outputs: Mapping[str, np.ndarray], c: Case, tol: float = 1e-9
                     ) -> Optional[bool]:
    """The reset convention (False / True) whose reference ``outputs`` equal on ``c``, else None."""
    for ra in (False, True):
        worst, _ = compare(outputs, reference(kind, c, ra))
        if worst <= tol:
            return ra
    return None


# ----------------------------------------------------------------------------- models
def verify_model(fn: Callable[..., Any], model: Callable[..., Any], kind: str,
                 cases: Optional[Sequence[Case]] = None, step: bool = False, rtol: float = RTOL,
                 floor_frac: float = 1e-3) -> Dict[str, Any]:
    """Does ``model`` reproduce ``fn`` on the fresh cases?

    Returns ``true`` (every comparable case within ``RTOL``), ``matched`` / ``compared`` / ``uncomparable``
    counts, ``worst`` relative error, and for the first case that fails, ``first_bad`` (its label, the
    output and the error).
    """
    cases = fresh_cases() if cases is None else cases
    matched = compared = uncomparable = 0
    worst = 0.0
    first_bad = None
    model_errors = 0
    for c in cases:
        try:
            got = call(fn, kind, c, step)
        except Exception:
            uncomparable += 1
            continue
        try:
            want = call(model, kind, c, step)
        except Exception as exc:  # the model itself raises: certainly not a reproduction
            model_errors += 1
            compared += 1
            if first_bad is None:
                first_bad = {"case": c.label, "output": "-", "error": f"model raised {type(exc).__name__}: {exc}"}
            continue
        compared += 1  # an output of another shape than the model's is a mismatch (worst_error: inf)
        e, where = compare(got, want, floor_frac)
        worst = max(worst, e)
        if e <= rtol:
            matched += 1
        elif first_bad is None:
            first_bad = {"case": c.label, "output": where, "error": e}
    return {"true": compared > 0 and matched == compared, "matched": matched, "compared": compared,
            "uncomparable": uncomparable, "worst": worst, "first_bad": first_bad, "model_errors": model_errors}


def verify_everywhere(fn: Callable[..., Any], model: Callable[..., Any], kind: str, fresh: int = FRESH,
                      extreme: int = EXTREME, step: bool = False, bias: bool = True, zero_h0: bool = False
                      ) -> Dict[str, Any]:
    """``verify_model`` on the ordinary fresh cases (the acceptance figure), with the result on the extreme
    cases under ``"extreme"``."""
    v = verify_model(fn, model, kind, fresh_cases(fresh, bias=bias, zero_h0=zero_h0), step)
    v["extreme"] = verify_model(fn, model, kind, extreme_cases(extreme, bias=bias, zero_h0=zero_h0), step,
                                rtol=EXTREME_RTOL, floor_frac=1.0)
    return v


def rebuild_model(kind: str, text: str) -> Callable[..., Any]:
    """The checker's bug model again from its repr (``ForwardModel(a + b; reset_after=False)``): its state is
    the slips, the convention and the form, nothing else. For re-verifying records of an earlier run."""
    import re

    from gru_props.engine.conventions import Convention

    m = re.match(r"(\w+)\((.*); reset_after=(True|False)(?:, interpolation='(\w+)')?(, step)?\)$", text)
    if not m:
        raise ValueError(f"cannot read the model {text!r}")
    slips = tuple(s.strip() for s in m.group(2).split("+"))
    conv = Convention(m.group(3) == "True", m.group(4) or "standard")
    if kind == "forward":
        from gru_props.forward.diagnosis import ForwardModel

        return ForwardModel(slips, conv, bool(m.group(5)))
    from gru_props.backward.diagnosis import BackwardModel

    return BackwardModel(slips, conv, bool(m.group(5)))


# ----------------------------------------------------------------------------- errors
def error_record(err: BaseException, lines: int = 30) -> Dict[str, Any]:
    """What a check's error says: property, diagnosis, diagnoses, model, parameter, every failure, the text."""
    rec: Dict[str, Any] = {"type": type(err).__name__}
    try:
        text = str(err)
    except Exception as exc:  # rendering itself failed: a defect of its own
        text = f"<str(err) raised {type(exc).__name__}: {exc}>"
    rec["text"] = "\n".join(text.splitlines()[:lines])
    for attr in ("property", "diagnosis", "parameter"):
        try:
            rec[attr] = getattr(err, attr, None)
        except Exception as exc:
            rec[attr] = f"<raised {type(exc).__name__}: {exc}>"
    try:
        rec["diagnoses"] = list(getattr(err, "diagnoses", ()) or ())
        model = getattr(err, "bug_model", None)
        rec["bug_model"] = None if model is None else repr(model)
    except Exception as exc:
        rec["diagnoses"], rec["bug_model"] = [], f"<raised {type(exc).__name__}: {exc}>"
    conv = getattr(err, "convention", None)
    rec["convention"] = None if conv is None else repr(conv)
    rec["failures"] = [
        {"property": f.property, "diagnosis": f.diagnosis, "diagnoses": list(f.diagnoses or ()),
         "bug_model": None if f.bug_model is None else repr(f.bug_model), "parameter": f.parameter,
         "warning": bool(f.warning), "worst_abs": None if f.mismatch is None else float(f.mismatch.worst_abs),
         "case": _dims(f.case), "line": f.headline()[:300]}
        for f in getattr(err, "failures", ())
    ]
    return rec


def _dims(c: Any) -> Optional[str]:
    try:
        return f"B={c.B} T={c.T} D={c.D} H={c.H} {c.dtype}"
    except Exception:
        return None


def models_of(err: BaseException) -> List[Tuple[int, Callable[..., Any]]]:
    """(failure index, bug model) of every failure that carries one, each model object once."""
    out, seen = [], set()
    for i, f in enumerate(getattr(err, "failures", ())):
        if f.bug_model is not None and id(f.bug_model) not in seen:
            seen.add(id(f.bug_model))
            out.append((i, f.bug_model))
    return out


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


def pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100.0 * a / b:.1f} %)" if b else f"{a}/0"
