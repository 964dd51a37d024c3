"""Run today's checker once on every zoo entry and print one line each.

    cd tests && python -m published.run_checker [name ...]

Each entry's glue goes to ``check_implementation`` (forward) or
``check_gradients`` (backward) with ``profile="ci"`` and the entry's
``check_kwargs``. This is a survey of what the checker says, not a test: the
lines are pasted into the docstring of ``published/__init__.py``.
"""

import sys
import time
import warnings

from gru_props import check_gradients, check_implementation

from . import ENTRIES


def describe_failure(err):
    first = f"{err.property}: diagnosis {err.diagnosis}"
    diagnoses = getattr(err, "diagnoses", ())
    if diagnoses and tuple(diagnoses) != (err.diagnosis,):
        first += f", diagnoses {tuple(diagnoses)}"
    parameter = getattr(err, "parameter", None)
    if parameter:
        first += f", parameter {parameter}"
    failures = getattr(err, "failures", ())
    others = [f"{f.property}/{f.diagnosis}" for f in failures[1:]] if len(failures) > 1 else []
    if others:
        first += f"; then {', '.join(others)}"
    return first


def survey(entry):
    check = check_implementation if entry.kind == "forward" else check_gradients
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            report = check(entry.checked, profile="ci", **entry.check_kwargs)
        except AssertionError as err:
            if hasattr(err, "property"):
                verdict = "FAIL " + describe_failure(err)
            else:
                verdict = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
        except Exception as err:  # the check itself crashed
            verdict = f"CRASH {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
        else:
            notes = [str(w).splitlines()[0][:80] for w in getattr(report, "warnings", ())]
            verdict = "pass" + (f" (warnings: {'; '.join(notes)})" if notes else "")
    return f"{entry.name}: {verdict} [{time.perf_counter() - start:.0f} s]"


def main(names):
    for entry in ENTRIES:
        if names and entry.name not in names:
            continue
        print(survey(entry), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
