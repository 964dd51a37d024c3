"""The stack form of ``check_implementation`` and ``check_gradients`` (``num_layers``, ``bidirectional``,
``lengths``, ``padding``): a contract on the shared engine (search, shrink, diagnose, report)."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from gru_props.engine.calls import Caller
from gru_props.engine.conventions import candidates as convention_candidates
from gru_props.engine.model import Context, Contract, Failure, Property
from gru_props.engine.report import CheckReport, labelled, params_text
from gru_props.engine.session import Plan, execute, select
from gru_props.engine.snippet import import_lines
from gru_props.stack import bugs, diagnosis, gradients, terms
from gru_props.stack import properties as forward_props
from gru_props.stack.case import StackCase
from gru_props.stack.properties import Settings
from gru_props.stack.subject import StackSubject

PADDINGS = ("zeros", "hold", "any")


def settings(num_layers: Any, bidirectional: Any, lengths: Any, padding: Any) -> Settings:
    """The stack arguments of a check, validated (TypeError / ValueError name the argument)."""
    if isinstance(num_layers, bool) or not isinstance(num_layers, int):
        raise TypeError(f"num_layers: expected an integer >= 1 (layers stacked, as torch.nn.GRU's); got "
                        f"{num_layers!r}.")
    if num_layers < 1:
        raise ValueError(f"num_layers: expected an integer >= 1; got {num_layers}.")
    for name, value in (("bidirectional", bidirectional), ("lengths", lengths)):
        if not isinstance(value, bool):
            raise TypeError(f"{name}: expected True or False; got {value!r}.")
    if padding not in PADDINGS:
        raise ValueError(f"padding: expected 'zeros' (outputs 0 past each length: PyTorch, ONNX Runtime), 'hold' "
                         f"(the last valid state repeated: a masked update) or 'any' (padded outputs unchecked); "
                         f"got {padding!r}.")
    if padding != "zeros" and not lengths:
        raise ValueError(f"padding={padding!r} says what a function writes at padded steps, which only exist with "
                         f"lengths=True; pass lengths=True or drop padding.")
    return Settings(num_layers, bidirectional, lengths, padding)


def case_text(case: StackCase) -> str:
    lines = [f"  {case.dims_text()}", labelled("  x       = ", case.x), labelled("  h0      = ", case.h0)]
    if case.lengths is not None:
        lines.append(f"  lengths = {case.lengths.tolist()}")
    for i, p in enumerate(case.layers):
        k, d = divmod(i, case.nd)
        lines.append(f"  layers[{i}] (layer {k}{' reverse' if d else ' forward' if case.bidirectional else ''}):")
        lines += ["  " + line for line in params_text(p)]
    if case.gradient:
        lines += [labelled("  dout    = ", case.dout), labelled("  dh_n    = ", case.dh_n)]
    return "\n".join(lines)


class StackContract(Contract):
    """What is specific to checking a stack (the engine does the rest)."""

    unknown_bug_advice = ("compare your code with gru_props.level1.stack_forward (a plain loop over layers and "
                          "directions) and gru_props.level1.gru_forward(..., lengths=...).")

    def __init__(self, props: Sequence[Property], s: Settings, gradient: bool) -> None:
        super().__init__(props)
        self.settings = s
        self.gradient = gradient
        self.kind = "gradients" if gradient else "forward"
        if gradient:
            self.unknown_bug_advice = ("compare your backward with gru_props.level1.stack_backward (a plain loop "
                                       "over layers and directions) and gru_props.level1.gru_backward(..., "
                                       "lengths=...).")

    def subject(self, fn: Any, step: bool, caller: Caller, name: str) -> StackSubject:
        return StackSubject(fn, step, caller, name, with_lengths=self.settings.lengths, gradient=self.gradient)

    def prepare(self, ctx: Context) -> None:
        ctx.extra["stack"] = self.settings
        ctx.extra["gradient"] = self.gradient

    def detect(self, ctx: Context) -> None:
        diagnosis.detect(ctx)

    def detection_case(self, ctx: Context) -> StackCase:
        return diagnosis.detection_cases(ctx)[0]

    def diagnose(self, ctx: Context, failure: Failure) -> None:
        diagnosis.diagnose(ctx, failure)

    def bug(self, name: str) -> Any:
        return bugs.bug(name)

    def slip(self, name: str) -> Any:
        for s in terms.STACK_SLIPS:
            if s.name == name:
                return s
        from gru_props.forward import terms as cell_terms

        return cell_terms.describe(name)

    def axes(self, name: str) -> str:
        return {"out": "btj", "h_n": "ibh", "dx": "btd", "dh0": "ibh"}.get(name, "")

    def case_text(self, case: StackCase) -> str:
        return case_text(case)

    def snippet(self, fn: Any, step: bool, ctx: Context, failure: Failure) -> Optional[str]:
        case = failure.case
        if not isinstance(case, StackCase) or self.gradient:
            return None
        conv = failure.convention or ctx.primary
        call = "fn(x, h0, layers, lengths)" if self.settings.lengths else "fn(x, h0, layers)"
        lines = ["import numpy as np", "from gru_props import GRUParams, level1"] + import_lines(fn)
        lines += ["", case.describe(), "", f"out, h_n = {call}"]
        if conv.chung:
            lines.append("layers = [p.replace(W_z=-p.W_z, U_z=-p.U_z, b_z=-p.b_z) for p in layers]  # Chung's form")
        lines.append(f"out_ref, h_n_ref = level1.stack_forward(x, h0, layers, bidirectional={case.bidirectional}, "
                     f"lengths=lengths, reset_after={conv.reset_after})")
        lines.append("print(np.abs(out - out_ref).max(), np.abs(h_n - h_n_ref).max())  # far above rounding: wrong")
        return "\n".join(lines)

    def notes(self, ctx: Context) -> List[str]:
        s = self.settings
        text = (f"checked in the stack form: num_layers={s.num_layers}, bidirectional={s.bidirectional}, "
                f"lengths={s.lengths}")
        if s.lengths:
            text += f", padding={s.padding!r}"
            if s.padding == "hold":
                text += " (the forward half must repeat its last valid state; the reverse half's padded outputs "
                text += "are not checked)"
        return [text + "."]


def check_stack(fn: Any, plan_: Plan, s: Settings, properties: Any, gradient: bool) -> CheckReport:
    """Run the stack contract on ``fn`` with the validated plan of ``check_implementation`` / ``check_gradients``."""
    a = plan_.args
    if a["step"]:
        raise ValueError("step=True: a stack is checked as a whole (fn(x, h0, layers[, lengths])); a step function "
                         "has no layers or lengths. Drop step=True, or check the cell alone without the stack "
                         "arguments.")
    props = (gradients.properties(s, a["bias"], plan_.sizes) if gradient
             else forward_props.properties(s, a["bias"], plan_.sizes))
    cands = convention_candidates(a["reset_after"], a["interpolation"])
    return execute(StackContract(props, s, gradient), fn, plan_, select(props, properties), cands,
                   ("stack", a["reset_after"], a["interpolation"], a["bias"], s))
