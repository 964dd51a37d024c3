"""The ``gru-props`` command: check a GRU or its backward pass from the shell.

::

    gru-props check my_gru.py:gru_forward [--step] [--reset-after auto|true|false]
                    [--interpolation standard|chung|auto] [--no-bias] [--strict] [--hints N] ...
    gru-props check my_gru:gru_forward          # a module in the current directory, as pytest finds it
    gru-props check torch_gru.py:gru --layout torch            # your layout: any adapter, by name
    gru-props check cell.py:step --layout unbatched,transposed --step   # composed, outermost first
    gru-props check hw3p1.py:GRUCell --layout cmu-11785        # a class, by its course's style
    gru-props check my_gru.py:gru --names my_gru.py:NAMES --pass-as dict   # your own names for the weights
    gru-props check my_stack.py:gru --num-layers 2 --bidirectional --lengths   # the whole nn.GRU
    gru-props check my_module.py:make --layout torch-module --num-layers 2      # an nn.Module factory
    gru-props check my_gru.py:gru --json        # one JSON object on stdout: verdict, property, diagnoses...
    gru-props check-gradients my_gru.py:gru_backward [--forward my_gru.py:gru_forward] ...
    gru-props layouts                           # every --layout name and what your function takes
    gru-props demo                              # watch the checker catch a buggy GRU
    gru-props study --quick --out DIR           # the parameter-efficiency study (extra "study")

Exit status: 0 only after a pass verdict has been printed; 1 when a property
fails, the check did not finish (``--max-seconds``), or the checked function
ends the process before a verdict; 2 for usage errors, a missing file or
function, and errors importing it (syntax errors, and a module that ends the
process at import); 130 on Ctrl-C.

``check`` and ``check-gradients`` run the check in a child process and
trust only the verdict it reports: a function that calls ``os._exit(0)``
cannot make an autograder read its exit status as a pass.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Callable, List, Optional

from gru_props.engine.profiles import PROFILES

_CHILD = "GRU_PROPS_CLI_VERDICT"


class UsageError(Exception):
    """A problem with the command line or the target: exit status 2."""


# -------------------------------------------------------------------- load
def _import_error_text(where: str, exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        line = (exc.text or "").rstrip()
        return (f"gru-props: {where} has a syntax error at line {exc.lineno}: {exc.msg}"
                + (f"\n    {line}" if line else ""))
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "importlib" not in f.filename]
    at = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"gru-props: importing {where} raised {type(exc).__name__}: {exc}{at}"


def load(target: str, callable_only: bool = True) -> Any:
    """``path/to/file.py:function`` or ``module:function`` -> the function (UsageError otherwise)."""
    if ":" not in target:
        raise UsageError(
            f"gru-props: expected FILE.py:FUNCTION or MODULE:FUNCTION, got {target!r} "
            f"(e.g. my_gru.py:gru_forward or my_gru:gru_forward)."
        )
    where, _, name = target.rpartition(":")
    if not where or not name:
        raise UsageError(f"gru-props: expected FILE.py:FUNCTION or MODULE:FUNCTION, got {target!r}.")
    try:
        if where.endswith(".py") or os.sep in where or "/" in where:
            path = os.path.abspath(where)
            if not os.path.isfile(path):
                raise UsageError(f"gru-props: no such file: {where}")
            sys.path.insert(0, os.path.dirname(path))
            module_name = os.path.splitext(os.path.basename(path))[0]
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise UsageError(f"gru-props: cannot load {where} as Python source.")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        else:
            # A module in the current directory, as pytest and `python -m` find it.
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            try:
                module = importlib.import_module(where)
            except ModuleNotFoundError as exc:
                if exc.name and where.split(".")[0] == exc.name.split(".")[0]:
                    raise UsageError(
                        f"gru-props: no module named {where!r} in the current directory or on the "
                        f"Python path (for a file, write {where.replace('.', '/')}.py:{name})."
                    ) from None
                raise
    except UsageError:
        raise
    except BaseException as exc:  # syntax errors, and whatever the module raises at import
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UsageError(_import_error_text(where, exc)) from None
    fn: Any = module
    for part in name.split("."):
        if not hasattr(fn, part):
            raise UsageError(f"gru-props: {where} has no attribute {name!r}.")
        fn = getattr(fn, part)
    if callable_only and not callable(fn):
        raise UsageError(f"gru-props: {target} is not callable (it is a {type(fn).__name__}).")
    return fn


# ---------------------------------------------------------------- options
def _tri(text: str) -> Optional[bool]:
    value = {"auto": None, "none": None, "true": True, "false": False, "1": True, "0": False}.get(
        text.lower(), "bad")
    if value == "bad":
        raise argparse.ArgumentTypeError("expected auto, true or false")
    return value  # type: ignore[return-value]


def _interpolation(text: str) -> Optional[str]:
    value = {"auto": None, "none": None, "standard": "standard", "chung": "chung"}.get(text.lower(), "bad")
    if value == "bad":
        raise argparse.ArgumentTypeError("expected standard, chung or auto")
    return value


def _seconds(text: str) -> Optional[float]:
    if text.lower() in ("none", "inf", "0"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of seconds, or none") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("expected a number of seconds > 0, or none")
    return value


def _check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--step", action="store_true", help="the function is one step")
    parser.add_argument("--reset-after", type=_tri, default=None, metavar="{auto,true,false}",
                        help="demand a reset convention (default: auto-detect)")
    parser.add_argument("--interpolation", type=_interpolation, default="standard",
                        metavar="{standard,chung,auto}",
                        help="z*h + (1-z)*n (standard, default), (1-z)*h + z*n (chung), or detect")
    parser.add_argument("--no-bias", dest="bias", action="store_false",
                        help="the GRU has no biases: only zero biases are generated")
    parser.add_argument("--strict", action="store_true",
                        help="warnings (dtype changed, h0=None refused) count as failures")
    parser.add_argument("--max-examples", type=int, default=None, help="examples per property")
    parser.add_argument("--timeout", type=_seconds, default=5.0,
                        help="seconds one call may take (default 5; 'none' for no limit)")
    parser.add_argument("--max-seconds", type=_seconds, default=None,
                        help="budget for the whole check (default: none)")
    parser.add_argument("--properties", default=None,
                        help="comma-separated property names to run (default: all)")
    parser.add_argument("--layout", default=None, metavar="NAME[,NAME...]",
                        help="the layout your function is written in: adapters by name, outermost first "
                             "(e.g. torch, unbatched,transposed, cmu-11785; gru-props layouts lists them)")
    parser.add_argument("--names", default=None, metavar="FILE.py:MAP",
                        help="a dict {your name: expression} in your file naming your weights "
                             "(see gru_props.adapters.names); applied inside --layout")
    parser.add_argument("--pass-as", default="args", choices=["args", "dict", "list", "object"],
                        help="with --names: how your function takes its weights (default: args)")
    parser.add_argument("--num-layers", type=int, default=1,
                        help="a stacked GRU: fn(x, h0, layers[, lengths]) -> (out, h_n) (default 1)")
    parser.add_argument("--bidirectional", action="store_true", help="a bidirectional stack (the stack form)")
    parser.add_argument("--lengths", action="store_true",
                        help="sequences of unequal lengths: fn(x, h0, layers, lengths) (the stack form)")
    parser.add_argument("--padding", default="zeros", choices=["zeros", "hold", "any"],
                        help="with --lengths: outputs past a length are zero (PyTorch), the last state "
                             "(Keras masking), or not checked")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (verdict, property, diagnoses, parameter, index, "
                             "counterexample sizes) instead of the report")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gru-props", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", choices=sorted(PROFILES), default=None,
                        help="Hypothesis settings profile (default: dev, or ci when CI is set)")
    common.add_argument("--hints", type=int, choices=[0, 1, 2, 3], default=1,
                        help="how many progressive hints a failure shows (default 1)")
    check = sub.add_parser("check", parents=[common], help="check a forward GRU function")
    check.add_argument("target", help="FILE.py:FUNCTION or MODULE:FUNCTION")
    _check_options(check)
    grads = sub.add_parser("check-gradients", parents=[common], help="check a GRU backward function")
    grads.add_argument("target", help="FILE.py:FUNCTION or MODULE:FUNCTION")
    grads.add_argument("--forward", default=None, metavar="FILE.py:FUNCTION",
                       help="your own forward: check the backward against finite differences of it "
                            "(self-consistency, for GRU variants with no reference)")
    _check_options(grads)
    sub.add_parser("layouts", help="list the --layout names")
    sub.add_parser("demo", parents=[common], help="watch the checker catch a buggy GRU")
    sub.add_parser("study", add_help=False, help="train GRU vs LSTM (gru-props study --help)")
    return parser


# ------------------------------------------------------------------- runs
def _kwargs(args: argparse.Namespace) -> dict:
    props = None
    if args.properties:
        props = [p.strip() for p in args.properties.split(",") if p.strip()]
    return dict(step=args.step, reset_after=args.reset_after, interpolation=args.interpolation,
                bias=args.bias, strict=args.strict, profile=args.profile, max_examples=args.max_examples,
                timeout=args.timeout, max_seconds=args.max_seconds, properties=props, hints=args.hints,
                num_layers=args.num_layers, bidirectional=args.bidirectional, lengths=args.lengths,
                padding=args.padding)


def _verdict(value: str) -> None:
    path = os.environ.get(_CHILD)
    if path:
        with open(path, "w") as f:
            f.write(value)


def _run_check(args: argparse.Namespace) -> int:
    from gru_props.backward.check import check_gradients
    from gru_props.engine.report import CheckReport, ImplementationError, IncompleteCheckError
    from gru_props.forward.check import check_implementation

    check: Callable[..., CheckReport] = check_implementation if args.command == "check" else check_gradients
    _verdict("loading")  # a module that ends the process at import is a usage problem, not a verdict
    try:
        fn = _adapted(args, load(args.target))
        kwargs = _kwargs(args)
        if args.command != "check":
            if args.forward:
                kwargs["forward_fn"] = load(args.forward)
    except UsageError as exc:
        _usage(args, str(exc))
        return 2
    _verdict("checking")
    try:
        report = check(fn, **kwargs)
    except ImplementationError as err:
        _say(args, err)
        _verdict("fail")
        return 1
    except IncompleteCheckError as err:
        _say(args, err, "gru-props: the check did not finish: not a pass.")
        _verdict("fail")
        return 1
    except (TypeError, ValueError) as exc:  # bad arguments, e.g. an unknown property name
        _usage(args, f"gru-props: {exc}")
        return 2
    _say(args, report)
    _verdict("pass")
    return 0


def _adapted(args: argparse.Namespace, fn: Any) -> Any:
    """The target under --names and --layout (UsageError for a bad name or map)."""
    from gru_props.adapters import named_weights
    from gru_props.adapters.names import NameMapError
    from gru_props.adapters.registry import apply_layouts

    try:
        if args.names:
            names = load(args.names, callable_only=False)
            fn = named_weights(fn, names=names, pass_as=args.pass_as)
        if args.layout:
            fn = apply_layouts(fn, args.layout)
    except (NameMapError, TypeError, ValueError) as exc:
        raise UsageError(f"gru-props: {exc}") from None
    return fn


def _say(args: argparse.Namespace, result: Any, tail: str = "") -> None:
    """The verdict on stdout: the report (and ``tail``), or with --json one JSON object."""
    if args.json:
        print(json.dumps(result.to_dict(), default=_json_default), flush=True)
        return
    print(result, flush=True)
    if tail:
        print(tail, flush=True)


def _usage(args: argparse.Namespace, message: str) -> None:
    print(message, file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"verdict": "usage", "message": message}), flush=True)
    _verdict("usage")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _layouts() -> int:
    from gru_props.adapters.registry import LAYOUTS

    print("gru-props check FILE.py:FUNCTION --layout NAME[,NAME...]  (outermost first):")
    for name, (what, _) in LAYOUTS.items():
        print(f"  {name:20} {what}")
    return 0


def _isolated(argv: List[str]) -> int:
    """Run this command in a child process; trust only the verdict it reports."""
    fd, path = tempfile.mkstemp(prefix="gru-props-verdict-")
    os.close(fd)
    try:
        env = dict(os.environ, **{_CHILD: path})
        proc = subprocess.Popen([sys.executable, "-m", "gru_props", *argv], env=env)
        try:
            returncode = proc.wait()
        except KeyboardInterrupt:
            # Ctrl-C reaches the child too (one process group): it stops its check and says so.
            try:
                proc.wait(timeout=10)
            except (KeyboardInterrupt, subprocess.TimeoutExpired):
                proc.kill()
            return 130
        with open(path) as f:
            verdict = f.read().strip()
    finally:
        os.unlink(path)
    if verdict == "interrupted":
        return 130
    as_json = "--json" in argv

    def fail(kind: str, message: str, code: int) -> int:
        print(message, file=sys.stderr)
        if as_json:
            print(json.dumps({"verdict": kind, "message": message}), flush=True)
        return code

    if verdict == "loading":
        return fail("usage", f"gru-props: importing {_target(argv)} ended the process (exit status {returncode}) "
                    "before any check could start: the module calls os._exit or sys.exit at import, or crashed in "
                    "native code. Run it with python to see why.", 2)
    codes = {"pass": 0, "fail": 1, "usage": 2}
    if verdict in codes:
        expected = codes[verdict]
        if returncode != expected and verdict == "pass":
            return fail("fail", f"gru-props: the check passed but the process then exited with status "
                        f"{returncode}; treated as a failure.", 1)
        return expected
    return fail("fail", f"gru-props: the process ended (exit status {returncode}) before the check reached a "
                "verdict: the checked function (or something it called) ended it, e.g. with os._exit() or a "
                "crash in native code. Treated as a failure.", 1)


def _demo(args: argparse.Namespace) -> int:
    from gru_props import _demo
    from gru_props.engine.report import ImplementationError
    from gru_props.forward.check import check_implementation

    print("gru-props demo: checking buggy_gru from gru_props/_demo.py, a loop-based GRU whose")
    print("only flaw is the update-gate interpolation, (1 - z) * h + z * n.\n")
    start = time.perf_counter()
    try:
        check_implementation(_demo.buggy_gru, profile=args.profile, hints=args.hints)
    except ImplementationError as err:
        print(err)
        print(f"\n[caught in {time.perf_counter() - start:.2f} s: property {err.property!r}, "
              f"diagnosis {err.diagnosis!r}, counterexample B={err.counterexample.B} "
              f"T={err.counterexample.T} D={err.counterexample.D} H={err.counterexample.H}]\n")
        caught = err.diagnosis == "reversed_interpolation"
    else:
        print("The checker did NOT catch the bug: please report this.")
        return 1
    print("Now the fixed version, h = z * h + (1 - z) * n:\n")
    report = check_implementation(_demo.fixed_gru, profile=args.profile)
    print(report)
    return 0 if caught and report.complete else 1


def main(argv: Optional[List[str]] = None, *, isolate: Optional[bool] = None) -> int:
    """Entry point. ``isolate`` (default: True when run as a command) runs checks in a child process."""
    if isolate is None:
        isolate = argv is None and _CHILD not in os.environ
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "study":
        try:
            from gru_props.study.cli import main as study_main
        except ImportError as exc:
            print(f"gru-props study: {exc}", file=sys.stderr)
            return 2
        return study_main(argv[1:])
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    if args.command == "demo":
        return _demo(args)
    if args.command == "layouts":
        return _layouts()
    if isolate:
        return _isolated(argv)
    try:
        return _run_check(args)
    except KeyboardInterrupt:
        _verdict("interrupted")
        print("gru-props: interrupted (Ctrl-C); no verdict.", file=sys.stderr, flush=True)
        return 130


def _target(argv: List[str]) -> str:
    """The FILE.py:FUNCTION of a check's command line (for messages)."""
    return next((a for a in argv[1:] if ":" in a and not a.startswith("-")), "the target")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
