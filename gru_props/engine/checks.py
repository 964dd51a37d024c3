"""Property checks and findings that every contract shares: a contract violation read off an error
outcome, a float64 answer right only to float32 precision, and the inputs-unchanged property.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import numpy as np

from gru_props.engine.model import Failure
from gru_props.engine.subject import what_the_function_did

_READ_ONLY_HINTS: Tuple[str, str, str] = (
    "Which of your operations work in place (+=, out=, slice assignment)?",
    "The parameter arrays you are given are read-only views of the caller's weights; x and h0 "
    "belong to the caller too. A forward pass must not change them.",
    "Copy before writing: W = params.W_z.copy(), h = h0.copy(); or compute new arrays "
    "(h = z * h + (1 - z) * n) instead of assigning into existing ones.",
)


def contract_failure(case: Any, out: Any, where: str = "",
                     read_only_hints: Tuple[str, str, str] = _READ_ONLY_HINTS) -> Optional[Failure]:
    """The failure an error outcome stands for: a write into read-only input, or a contract violation.

    Shared by the forward and the gradient checks (``case`` a GRUCase or a
    GradCase, ``out`` an Outcome or a GradOutcome); ``read_only_hints`` are the
    hints shown when the function wrote into an array it was given.
    """
    if out.error is None:
        return None
    if out.read_only_write:
        return Failure(
            "inputs_unchanged",
            "the function tried to write into an array it was given (the parameter arrays are "
            f"read-only, so the write failed){where.rstrip(',')}: it {out.error}",
            case, diagnosis="input_mutated", kind="behaviour", hints=read_only_hints, diagnosed=True,
        )
    return Failure("output_contract", f"the function{where} {what_the_function_did(out.error)}", case,
                   kind="contract")


def float32_values(a: np.ndarray) -> bool:
    """Whether every value of ``a`` is a float32 number (what a float32 result cast to float64 looks like)."""
    a = np.asarray(a)
    if a.dtype.itemsize < 8:
        return True
    with np.errstate(all="ignore"):
        return bool(np.all((a.astype(np.float32).astype(a.dtype) == a) | ~np.isfinite(a)))


def float32_only(prop: str, case: Any, failure: Failure) -> Failure:
    """A float64 answer that is right only to float32 precision: a warning (a failure under strict=True)."""
    mm = failure.mismatch
    assert mm is not None
    return Failure(
        prop,
        f"float64 inputs are answered with float32 precision only: the worst difference from the float64 "
        f"reference is {mm.worst_abs:.3g} at {mm.name}{list(mm.worst_abs_index)} where float64 allows "
        f"{mm.allowed_abs:.2g}, yet everything agrees within float32's tolerance. The function computes in "
        "float32 internally (a cast, a float32 buffer or parameter); the values are right, the precision is not.",
        case, got=failure.got, expected=failure.expected, mismatch=mm, convention=failure.convention,
        kind="contract", warning=True,
        hints=("Where does your computation leave float64?",
               "float64 in, float64 out: a float32 array anywhere in the chain (np.float32 weights, "
               ".astype(np.float32), a float32 torch tensor) rounds every result to ~1e-7 relative.",
               "Compute in the input's dtype: cast with .astype(x.dtype), or leave the arrays as they come."),
    )


def inputs_unchanged(ctx: Any, case: Any, run: Callable[..., Any],
                     violation: Callable[..., Optional[Failure]] = contract_failure) -> Optional[Failure]:
    """The ``inputs_unchanged`` property of either check: run on copies, report any write into them.

    ``run(ctx, case, check_mutation=True)`` is the contract's own way of running its subject;
    ``violation`` turns an error outcome into a failure (``contract_failure`` with its hints).
    """
    out = run(ctx, case, check_mutation=True)
    failure = violation(case, out)
    if failure:
        return failure
    if out.mutated:
        return Failure("inputs_unchanged", out.mutated, case, diagnosis="input_mutated", kind="behaviour")
    return None


def empty_sequence_failure(case: Any, out: Any, hints: Tuple[str, str, str]) -> Failure:
    """The finding for a function that, given T = 0 (and working with T = 1), raised or returned garbage.

    Raising is a *warning* (``torch.nn.GRU`` itself raises "Expected sequence length to be larger than 0"),
    a failure under ``strict=True`` (the engine decides); returning something the contract does not allow
    is a failure.
    """
    failure = contract_failure(case, out, where=", with T = 0 (an empty sequence),")
    assert failure is not None
    if failure.property != "output_contract":
        return failure  # a write into read-only input, found at T = 0
    failure.property, failure.kind, failure.hints = "empty_sequence", "edge", hints
    if out.raised:
        failure.warning = True
        failure.message += ("\n(torch.nn.GRU raises on an empty sequence too, so this is a warning; "
                            "strict=True makes it a failure.)")
    return failure


def dtype_at_empty(case: Any, dtypes: Tuple[Any, ...], usual: Tuple[Any, ...]) -> Optional[Failure]:
    """A T = 0 answer in other dtypes than the function gives for T = 1 (``usual``): a failure, since only
    the empty case differs; the same change of dtype as for T = 1 is ``dtype_preserved``'s warning. An
    output that comes back at T = 0 in the inputs' own dtype is right whatever T = 1 gives (``return hs,
    h0`` keeps h0's float32 while the loop upcasts): the contract's dtype is never a failure."""
    if not dtypes:
        return None
    if len(dtypes) == len(usual):
        if all(str(d) in (str(u), str(case.dtype)) for d, u in zip(dtypes, usual)):
            return None
    elif set(map(str, dtypes)) <= set(map(str, usual)) | {str(case.dtype)}:
        return None
    return Failure(
        "empty_sequence",
        f"with T = 0 the function returns {', '.join(map(str, dtypes))} where with one step it returns "
        f"{', '.join(map(str, usual))} (the inputs were {case.dtype}): the empty case takes another path "
        "that changes the dtype.", case, kind="contract",
        hints=("Where does your function build its result when there is no step to take?",
               "An empty result made with np.zeros((B, 0, H)) is float64 whatever the input is.",
               "Make it with dtype=x.dtype, as the non-empty path does."),
    )
