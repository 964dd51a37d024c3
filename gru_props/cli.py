"""The ``gru-props`` command: check a GRU from the shell, or watch the checker catch a bug.

::

    gru-props check path/to/my_gru.py:gru_forward [--step] [--reset-after true|false]
    gru-props demo

Exit status: 0 when the check passes (or the demo runs as expected), 1 when
a property fails, 2 for a usage error (file or function not found).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from typing import Any, Callable, List, Optional

from gru_props.check import PROFILES, ImplementationError, check_implementation


def _load(target: str) -> Callable[..., Any]:
    """``path/to/file.py:function`` or ``package.module:function`` -> the function."""
    if ":" not in target:
        raise SystemExit(
            f"gru-props: expected FILE.py:FUNCTION or MODULE:FUNCTION, got {target!r} "
            f"(e.g. my_gru.py:gru_forward)."
        )
    where, _, name = target.rpartition(":")
    if where.endswith(".py") or os.sep in where or "/" in where:
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise SystemExit(f"gru-props: no such file: {where}")
        sys.path.insert(0, os.path.dirname(path))
        module_name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    fn = module
    for part in name.split("."):
        if not hasattr(fn, part):
            raise SystemExit(f"gru-props: {where} has no attribute {name!r}.")
        fn = getattr(fn, part)
    if not callable(fn):
        raise SystemExit(f"gru-props: {target} is not callable.")
    return fn  # type: ignore[return-value]


def _reset_after(text: str) -> Optional[bool]:
    value = {"auto": None, "true": True, "false": False, "1": True, "0": False}.get(text.lower(), "bad")
    if value == "bad":
        raise argparse.ArgumentTypeError("expected auto, true or false")
    return value  # type: ignore[return-value]


def _run_check(fn: Callable[..., Any], args: argparse.Namespace) -> int:
    try:
        report = check_implementation(
            fn, step=args.step, reset_after=args.reset_after, profile=args.profile,
            max_examples=args.max_examples, hints=args.hints,
        )
    except ImplementationError as err:
        print(err)
        return 1
    print(report)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from gru_props import _demo

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
    return 0 if caught else 1


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="gru-props", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", choices=sorted(PROFILES), default=None,
                        help="Hypothesis settings profile (default: dev, or ci when CI is set)")
    common.add_argument("--hints", type=int, choices=[0, 1, 2, 3], default=1,
                        help="how many progressive hints a failure shows (default 1)")
    check = sub.add_parser("check", parents=[common], help="check a GRU function")
    check.add_argument("target", help="FILE.py:FUNCTION or MODULE:FUNCTION")
    check.add_argument("--step", action="store_true", help="the function is one step: fn(x_t, h_prev, params)")
    check.add_argument("--reset-after", type=_reset_after, default=None, metavar="{auto,true,false}",
                       help="demand a convention (default: auto-detect)")
    check.add_argument("--max-examples", type=int, default=None, help="examples per property")
    sub.add_parser("demo", parents=[common], help="watch the checker catch a buggy GRU")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    try:
        fn = _load(args.target)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    return _run_check(fn, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
