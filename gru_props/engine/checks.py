"""Property checks and findings that every contract shares: a contract violation read off an error
outcome, a float64 answer right only to float32 precision, and the inputs-unchanged property.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

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
