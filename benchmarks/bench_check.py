"""How fast check_implementation and check_gradients are, and how well they kill their zoos.

    python benchmarks/bench_check.py [--rounds 3] [--profile ci] [--per-property]

Prints, for the forward checker: the time of a default check of a correct
loop-based GRU (target under 5 s on a 2-core machine), its calls of the
function and the largest sizes it generated, the time to catch and shrink
the reversed-interpolation bug; for the zoo in tests/zoo.py, the kill rate
by property, the diagnoses named and the false positives among the correct
GRUs. For the gradient checker: the time of a check of a correct backward
(target under 5 s), the time to catch and shrink a dz sign bug (target under
3 s), and the same zoo figures for tests/grad_zoo.py. Timings are medians of
--rounds runs; they vary with the machine, so they are printed, never
asserted.
"""

import argparse
import os
import statistics
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import functools  # noqa: E402

from gru_props import ImplementationError, check_gradients, check_implementation, level1  # noqa: E402
from gru_props._demo import buggy_gru, fixed_gru  # noqa: E402


def _median_time(fn, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def _kill_matrix(zoo, profile):
    """Each property run alone against each buggy GRU: how many bugs it kills by itself."""
    from gru_props.forward.properties import property_names

    names = property_names()
    kills = {n: [] for n in names}
    for bug, (fn, kwargs, _, _) in zoo.BUGGY.items():
        for prop in names:
            try:
                check_implementation(fn, profile=profile, properties=[prop], **kwargs)
            except ImplementationError:
                kills[prop].append(bug)
    total = len(zoo.BUGGY)
    print("\n  kill rate of each property run alone (of %d buggy GRUs):" % total)
    for prop in names:
        print(f"    {prop:32} {len(kills[prop]):3d}/{total}  ({100 * len(kills[prop]) / total:.0f}%)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="ci", choices=["ci", "dev", "thorough"])
    parser.add_argument("--per-property", action="store_true",
                        help="also run every property alone on every buggy GRU (a kill matrix, ~2 min)")
    args = parser.parse_args(argv)
    import zoo

    print(f"profile {args.profile!r}, {args.rounds} round(s), python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPU(s)\n")

    reports = []

    def correct():
        reports.append(check_implementation(fixed_gru, profile=args.profile))

    def catch_reversed():
        try:
            check_implementation(buggy_gru, profile=args.profile)
        except ImplementationError as err:
            assert err.diagnosis == "reversed_interpolation"
            c = err.counterexample
            assert (c.B, c.T, c.D, c.H) == (1, 1, 1, 1)
            reports.append(err.report)
        else:
            raise AssertionError("reversed interpolation not caught")

    def catch_reversed_property_only():
        try:
            check_implementation(buggy_gru, profile=args.profile, properties=["matches_reference"])
        except ImplementationError:
            pass

    import grad_zoo

    def correct_backward():
        reports.append(check_gradients(lambda x, h0, p, dhs, dh_T: level1.gru_backward(x, h0, p, dhs, dh_T),
                                       profile=args.profile))

    def catch_dz_sign():
        try:
            check_gradients(functools.partial(grad_zoo.learner_backward, bug="dz_sign_flipped"),
                            profile=args.profile)
        except ImplementationError as err:
            assert err.diagnosis == "dz_sign_flipped", err.diagnosis
            reports.append(err.report)
        else:
            raise AssertionError("dz sign bug not caught")

    rows = [
        ("check_implementation, correct loop GRU (target < 5 s)", correct),
        ("catch + shrink reversed interpolation, every property", catch_reversed),
        ("  of which: the failing property alone (find + shrink)", catch_reversed_property_only),
        ("check_gradients, correct backward (target < 5 s)", correct_backward),
        ("catch + shrink a dz sign bug, every property (target < 3 s)", catch_dz_sign),
    ]
    for label, fn in rows:
        reports.clear()
        med, lo, hi = _median_time(fn, args.rounds)
        extra = ""
        if reports:
            r = reports[-1]
            largest = ",".join(str(r.largest.get(k, 0)) for k in "BTDH")
            extra = f"  {r.calls} calls, largest B,T,D,H = {largest}"
        print(f"{label:62} {med:6.2f} s  (min {lo:.2f}, max {hi:.2f}){extra}")

    print("\nZoo of buggy GRUs (tests/zoo.py):")
    first_caught = Counter()
    named_right = 0
    missed = []
    print(f"  {'bug':30} {'caught by':32} {'diagnosis':26} {'B,T,D,H':10} seconds")
    for name, (fn, kwargs, _prop, diagnosis) in zoo.BUGGY.items():
        start = time.perf_counter()
        try:
            check_implementation(fn, profile=args.profile, **kwargs)
        except ImplementationError as err:
            secs = time.perf_counter() - start
            first_caught[err.property] += 1
            named_right += err.diagnosis == diagnosis
            c = err.counterexample
            print(f"  {name:30} {err.property:32} {str(err.diagnosis):26} "
                  f"{f'{c.B},{c.T},{c.D},{c.H}':10} {secs:.2f}")
        else:
            missed.append(name)
            print(f"  {name:30} MISSED")
    total = len(zoo.BUGGY)
    print(f"\n  kill rate: {total - len(missed)}/{total}; expected diagnosis (or none expected) "
          f"on {named_right}/{total}")
    print("  first caught by property:")
    for prop, n in first_caught.most_common():
        print(f"    {prop:32} {n:3d}  ({100 * n / total:.0f}%)")
    if args.per_property:
        _kill_matrix(zoo, args.profile)
    fps = []
    for name, (fn, kwargs) in zoo.CORRECT.items():
        try:
            check_implementation(fn, profile=args.profile, **kwargs)
        except ImplementationError as err:
            fps.append(f"{name} ({err.property})")
    print(f"  false positives among {len(zoo.CORRECT)} correct GRUs: {len(fps)} {fps if fps else ''}")

    print("\nZoo of learner-style backward passes (tests/grad_zoo.py):")
    g_missed, g_named, g_fps = [], 0, []
    print(f"  {'bug':30} {'caught by':34} {'diagnosis':30} {'worst':8} {'B,T,D,H':10} seconds")
    for name, (fn, kwargs, diagnosis) in grad_zoo.BUGGY.items():
        start = time.perf_counter()
        try:
            check_gradients(fn, profile=args.profile, **kwargs)
        except ImplementationError as err:
            c = err.counterexample
            g_named += err.diagnosis == diagnosis
            print(f"  {name:30} {err.property:34} {str(err.diagnosis):30} {str(err.parameter):8} "
                  f"{f'{c.B},{c.T},{c.D},{c.H}':10} {time.perf_counter() - start:.2f}")
        else:
            g_missed.append(name)
            print(f"  {name:30} MISSED")
    for name, (fn, kwargs) in grad_zoo.CORRECT.items():
        try:
            check_gradients(fn, profile=args.profile, **kwargs)
        except ImplementationError as err:
            g_fps.append(f"{name} ({err.property})")
    total = len(grad_zoo.BUGGY)
    print(f"\n  kill rate: {total - len(g_missed)}/{total}; named right {g_named}/{total}; false positives "
          f"among {len(grad_zoo.CORRECT)} correct backward passes: {len(g_fps)} {g_fps if g_fps else ''}")
    return 1 if missed or fps or g_missed or g_fps else 0


if __name__ == "__main__":
    sys.exit(main())
