"""Mutants of learner-style GRUs: how many are killed, how many explained, and is every explanation true?

    python benchmarks/acceptance/mutants.py --quick              # ~25 mutants, a few minutes
    python benchmarks/acceptance/mutants.py                      # every forward mutant, a sample of backward ones
    python benchmarks/acceptance/mutants.py --kind forward       # forward only
    python benchmarks/acceptance/mutants.py --ids 'textbook_gru#0042,bptt_after#0100' -v   # re-run chosen mutants
    python benchmarks/acceptance/mutants.py --report out.jsonl   # the summary of a finished run, no checking

Issue 16's acceptance: "value-wrong mutants of learner-style code: at least
40 % explained, 0 false explanations"; and no correct learner function
rejected. For each mutant of ``learner_code.py`` (made by ``mutate.py``):

1. classify it on one fixed case (``_shared.fixed_case``: B=3, T=4, D=2, H=5)
   against ``gru_props.level1`` in both reset conventions: ``crashes`` (raises,
   or an output of the wrong shape), ``equivalent`` (equal to either
   reference within 1e-9) or ``value-wrong``;
2. check it (``check_implementation`` / ``check_gradients``, ``profile="ci"``,
   every other argument default) and record killed or not, the property,
   ``diagnosis``, ``diagnoses``, ``bug_model`` and every failure;
3. for every failure that carries a ``bug_model``, verify that the model
   reproduces the mutant on 50 fresh cases (``_shared.verify_model``: sizes
   1..5, h0 zero and not, float64, 1e-6 relative): an explanation whose model
   does not is a *false explanation*; the same on 10 fresh cases at extreme
   magnitudes is reported apart (exp overflows there);
4. an ``equivalent`` mutant that is rejected is compared with Level 1 on the
   50 fresh cases: equal there too, its rejection is a false alarm.

Crash mutants are not checked (``--check-crashes`` checks them too). The
forward learners give 710 mutants, the backward ones 1,257; a deterministic
sample of ``--forward-sample`` / ``--backward-sample`` of them (every k-th
mutant of each operator, so that every operator keeps its share; 0: all) is
taken before classification (defaults: every forward mutant, 400 backward).
Each mutant's record is appended to ``--out`` (JSON lines) as it finishes,
so an interrupted run can be summarised with ``--report`` and continued
with ``--resume``. Runs under ``nice`` are the machine-friendly way:
``nice -n 10 python benchmarks/acceptance/mutants.py``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
import traceback
import warnings
from collections import Counter, defaultdict
from typing import Any, Dict, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _shared  # noqa: E402
import mutate  # noqa: E402
from _shared import Stopwatch, pct  # noqa: E402
from learner_code import LEARNERS  # noqa: E402

FORWARD = [n for n, i in LEARNERS.items() if i["kind"] == "forward"]
BACKWARD = [n for n, i in LEARNERS.items() if i["kind"] == "backward"]


# ----------------------------------------------------------------------------- one mutant
def _expected_shapes(kind: str, c: _shared.Case) -> Dict[str, tuple]:
    B, T, D, H = c.dims
    if kind == "forward":
        return {"hs": (B, T, H), "h_T": (B, H)}
    shapes = {"dx": (B, T, D), "dh0": (B, H)}
    shapes.update({k: v.shape for k, v in c.params.arrays().items()})
    return shapes


def classify(fn: Any, kind: str) -> Dict[str, Any]:
    """``crashes`` / ``equivalent`` / ``value-wrong`` on the fixed case."""
    c = _shared.fixed_case()
    try:
        out = _shared.call(fn, kind, c)
    except Exception as exc:
        return {"class": "crashes", "why": f"{type(exc).__name__}: {str(exc)[:200]}"}
    for name, shape in _expected_shapes(kind, c).items():
        if name in out and out[name].shape != shape:
            return {"class": "crashes", "why": f"{name} has shape {out[name].shape}, not {shape}"}
    ra = _shared.equals_reference(kind, out, c)
    if ra is not None:
        return {"class": "equivalent", "reset_after": ra}
    worst = min(_shared.compare(out, _shared.reference(kind, c, r))[0] for r in (False, True))
    return {"class": "value-wrong", "distance": worst}


def check(fn: Any, kind: str) -> Any:
    from gru_props import check_gradients, check_implementation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "forward":
            return check_implementation(fn, profile="ci")
        return check_gradients(fn, profile="ci")


def run_check(fn: Any, kind: str, rec: Dict[str, Any], fresh: int) -> None:
    """Check ``fn``, record the verdict, verify every bug model it reports (in place into ``rec``)."""
    from gru_props import ImplementationError

    watch = Stopwatch()
    err: Optional[BaseException] = None
    try:
        report = check(fn, kind)
        rec["killed"] = False
        rec["report_warnings"] = [str(w).splitlines()[0][:120] for w in getattr(report, "warnings", ())]
    except ImplementationError as e:
        err = e
        rec["killed"] = True
    except AssertionError as e:  # IncompleteCheckError (no max_seconds is given: should not happen)
        rec["killed"] = False
        rec["incomplete"] = f"{type(e).__name__}: {str(e)[:300]}"
    except Exception as e:  # the checker itself crashed
        rec["killed"] = False
        rec["checker_crash"] = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-3000:]
    rec["check_seconds"] = round(watch(), 2)
    if err is None:
        return
    rec["error"] = _shared.error_record(err)
    rec["explained"] = bool(rec["error"]["diagnoses"]) and rec["error"]["bug_model"] is not None
    watch = Stopwatch()
    rec["verifications"] = []
    for index, model in _shared.models_of(err):
        v = _shared.verify_everywhere(fn, model, kind, fresh)
        v["failure"] = index
        v["model"] = repr(model)
        rec["verifications"].append(v)
    mark_truth(rec)
    rec["verify_seconds"] = round(watch(), 2)


def mark_truth(rec: Dict[str, Any]) -> None:
    """``explanation_true`` (the model reproduces the function on the 50 ordinary fresh cases) and
    ``explanation_true_extreme`` (on the extreme ones too) of an explained record."""
    first = [v for v in rec.get("verifications", ()) if v["failure"] == 0]
    if rec.get("explained"):
        rec["explanation_true"] = bool(first and first[0]["true"])
        if first and "extreme" in first[0]:
            ext = first[0]["extreme"]
            rec["explanation_true_extreme"] = bool(ext["true"] or ext["compared"] == 0)


def reverify(path: str, out_path: str) -> None:
    """Add the extreme-case verification to the records of a run made before it existed: each model is
    rebuilt from its repr (``_shared.rebuild_model``) and the mutant recompiled from its id."""
    records = load(path)
    by_id: Dict[str, mutate.Mutant] = {}
    for learner in sorted({r["learner"] for r in records if "#" in r["id"]}):
        by_id.update({m.id: m for m in mutate.mutants(learner)})
    with open(out_path, "w") as fh:
        for rec in records:
            if rec.get("verifications") and rec["id"] in by_id:
                fn = by_id[rec["id"]].compile()
                for v in rec["verifications"]:
                    if "extreme" not in v:
                        model = _shared.rebuild_model(rec["kind"], v["model"])
                        v["extreme"] = _shared.verify_model(fn, model, rec["kind"], _shared.extreme_cases(),
                                                            rtol=_shared.EXTREME_RTOL,
                                                            floor_frac=1.0)
                mark_truth(rec)
            fh.write(json.dumps(rec) + "\n")


def run_mutant(m: mutate.Mutant, kind: str, check_crashes: bool = False, fresh: int = _shared.FRESH
               ) -> Dict[str, Any]:
    rec: Dict[str, Any] = {"id": m.id, "learner": m.learner, "kind": kind, "operator": m.operator, "line": m.line,
                           "before": m.before, "after": m.after}
    try:
        fn = m.compile()
    except Exception as exc:
        rec.update({"class": "crashes", "why": f"does not compile: {exc}"})
        return rec
    rec.update(classify(fn, kind))
    if rec["class"] == "crashes" and not check_crashes:
        return rec
    run_check(fn, kind, rec, fresh)
    if rec["class"] == "equivalent" and rec.get("killed"):
        from gru_props import level1

        ra = rec["reset_after"]
        if kind == "forward":
            def ref(x, h0, p):
                return level1.gru_forward(x, h0, p, reset_after=ra)
        else:
            def ref(x, h0, p, dhs, dh_T):
                return level1.gru_backward(x, h0, p, dhs, dh_T, reset_after=ra)
        rec["equivalent_on_fresh"] = _shared.verify_everywhere(fn, ref, kind, fresh)
    return rec


def _work(item: Any) -> Dict[str, Any]:
    m, kind, check_crashes, fresh = item
    try:
        return run_mutant(m, kind, check_crashes, fresh)
    except Exception as exc:  # the harness itself: record, never stop the run
        return {"id": m.id, "learner": m.learner, "kind": kind, "operator": m.operator, "class": "harness_error",
                "why": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-2000:]}


# ----------------------------------------------------------------------------- choosing mutants
def sample(ms: Sequence[mutate.Mutant], n: int) -> List[mutate.Mutant]:
    """About ``n`` of ``ms``, every k-th of each operator (deterministic, each operator keeps its share)."""
    if n <= 0 or n >= len(ms):
        return list(ms)
    by_op: Dict[str, List[mutate.Mutant]] = defaultdict(list)
    for m in ms:
        by_op[m.operator].append(m)
    out = []
    for group in by_op.values():
        k = max(1, round(len(group) * n / len(ms)))
        step = len(group) / k
        out += [group[int(i * step)] for i in range(k)]
    return sorted(out, key=lambda m: (m.learner, m.id))


def choose(args: argparse.Namespace) -> List[mutate.Mutant]:
    if args.ids:
        return [mutate.by_id(i.strip()) for i in args.ids.split(",") if i.strip()]
    learners = [n for n in LEARNERS if args.kind in ("all", LEARNERS[n]["kind"])]
    if args.learners:
        learners = [n for n in learners if n in args.learners.split(",")]
    chosen: List[mutate.Mutant] = []
    for name in learners:
        ms = mutate.mutants(name)
        if args.quick:
            chosen += sample(ms, 5)
        elif args.sample.get(LEARNERS[name]["kind"]):
            kind = LEARNERS[name]["kind"]
            share = args.sample[kind] // max(1, len([n for n in learners if LEARNERS[n]["kind"] == kind]))
            chosen += sample(ms, share)
        else:
            chosen += ms
    return chosen


# ----------------------------------------------------------------------------- correct functions
def check_correct(fresh: int) -> List[Dict[str, Any]]:
    """Each unmutated learner, checked as it is: it must pass."""
    import learner_code

    out = []
    for name, info in LEARNERS.items():
        fn = getattr(learner_code, name)
        rec: Dict[str, Any] = {"id": f"{name} (unmutated)", "learner": name, "kind": info["kind"]}
        rec.update(classify(fn, info["kind"]))
        run_check(fn, info["kind"], rec, fresh)
        out.append(rec)
    return out


# ----------------------------------------------------------------------------- summary
def summarise(records: Sequence[Dict[str, Any]], correct: Sequence[Dict[str, Any]], verbose: bool = False) -> None:
    print("\n== correct learner functions (must pass)")
    for rec in correct:
        verdict = "REJECTED" if rec.get("killed") else ("pass" if "killed" in rec else "not checked")
        extra = ""
        if rec.get("killed"):
            extra = f": {rec['error']['property']} / {rec['error']['diagnoses']}"
        print(f"  {rec['id']:28} {rec['class']:11} {verdict}{extra}  [{rec.get('check_seconds', 0):.1f} s]")
    rejected_correct = [r for r in correct if r.get("killed")]

    for kind in ("forward", "backward"):
        recs = [r for r in records if r["kind"] == kind]
        if not recs:
            continue
        print(f"\n== {kind} mutants: {len(recs)} (learners: {', '.join(sorted({r['learner'] for r in recs}))})")
        classes = Counter(r["class"] for r in recs)
        print("  classes: " + ", ".join(f"{k} {classes[k]}" for k in ("value-wrong", "equivalent", "crashes",
                                                                       "harness_error") if classes[k]))
        vw = [r for r in recs if r["class"] == "value-wrong"]
        killed = [r for r in vw if r.get("killed")]
        explained = [r for r in killed if r.get("explained")]
        false = [r for r in explained if not r.get("explanation_true")]
        print(f"  killed / value-wrong:       {pct(len(killed), len(vw))}")
        print(f"  explained / value-wrong:    {pct(len(explained), len(vw))}")
        print(f"  explanations true:          {pct(len(explained) - len(false), len(explained))}")
        print(f"  FALSE explanations:         {len(false)}")
        false_ext = [r for r in explained if r.get("explanation_true") and r.get("explanation_true_extreme") is False]
        print(f"  true on the 50 ordinary cases but not on the {_shared.EXTREME} extreme ones: {len(false_ext)}")
        named_no_model = [r for r in killed if r["error"].get("diagnosis") and not r.get("explained")]
        if named_no_model:
            names = Counter(r["error"]["diagnosis"] for r in named_no_model)
            print(f"  named without a model (behaviour findings): {len(named_no_model)}: "
                  + ", ".join(f"{k} {v}" for k, v in names.most_common()))
        other_false = [r for r in killed for v in r.get("verifications", ()) if v["failure"] != 0 and not v["true"]]
        print(f"  false models on later failures (err.failures[1:]): {len(other_false)}")
        eq = [r for r in recs if r["class"] == "equivalent"]
        eq_killed = [r for r in eq if r.get("killed")]
        eq_false_alarm = [r for r in eq_killed if r.get("equivalent_on_fresh", {}).get("true")]
        print(f"  equivalent mutants rejected: {len(eq_killed)} of {len(eq)}; of them equal to Level 1 on the fresh "
              f"cases too (false alarms): {len(eq_false_alarm)}")
        missed = [r for r in vw if not r.get("killed")]
        print(f"  value-wrong mutants NOT killed: {len(missed)}")
        crashes = [r for r in recs if r.get("checker_crash")]
        if crashes:
            print(f"  CHECKER CRASHED on {len(crashes)} mutants")
        times = sorted(r["check_seconds"] for r in recs if "check_seconds" in r)
        if times:
            print(f"  check time: median {times[len(times) // 2]:.1f} s, max {times[-1]:.1f} s, "
                  f"sum {sum(times) / 60:.1f} min; verification sum "
                  f"{sum(r.get('verify_seconds', 0) for r in recs) / 60:.1f} min")

        review_lines(recs)
        print("  by operator: value-wrong / killed / explained / false / equivalent / crashes")
        for op in mutate.OPERATORS:
            o = [r for r in recs if r["operator"] == op]
            if not o:
                continue
            ovw = [r for r in o if r["class"] == "value-wrong"]
            ok = [r for r in ovw if r.get("killed")]
            oe = [r for r in ok if r.get("explained")]
            of = [r for r in oe if not r.get("explanation_true")]
            share = f"{100 * len(oe) / len(ovw):5.1f} %" if ovw else "   - "
            print(f"    {op:16} {len(ovw):4d} {len(ok):4d} {len(oe):4d} ({share}) {len(of):3d} "
                  f"{sum(r['class'] == 'equivalent' for r in o):4d} {sum(r['class'] == 'crashes' for r in o):4d}")
        print("  by learner: value-wrong / killed / explained / false")
        for name in sorted({r["learner"] for r in recs}):
            o = [r for r in vw if r["learner"] == name]
            ok = [r for r in o if r.get("killed")]
            oe = [r for r in ok if r.get("explained")]
            nf = sum(not r.get("explanation_true") for r in oe)
            print(f"    {name:16} {len(o):4d} {len(ok):4d} {len(oe):4d} {nf:3d}")
        diag = Counter("+".join(r["error"]["diagnoses"]) for r in explained)
        print("  diagnoses given (value-wrong, explained): " + ", ".join(f"{k} {v}" for k, v in diag.most_common()))

        for title, group in (("FALSE EXPLANATIONS", false),
                             ("EXPLANATIONS FALSE ON EXTREME FRESH CASES ONLY", false_ext),
                             ("EQUIVALENT MUTANTS REJECTED (false alarms)", eq_false_alarm),
                             ("VALUE-WRONG MUTANTS NOT KILLED", missed), ("CHECKER CRASHES", crashes)):
            if not group:
                continue
            print(f"\n  -- {title} ({len(group)}); re-run one: python benchmarks/acceptance/mutants.py --ids ID -v")
            for r in group:
                print(f"    {r['id']}  line {r.get('line')} [{r['operator']}]: {r.get('before')}  ->  {r.get('after')}")
                if "error" in r:
                    e = r["error"]
                    print(f"        {e['property']}: diagnoses {e['diagnoses']}, model {e['bug_model']}")
                    v = next((v for v in r.get("verifications", ()) if v["failure"] == 0), None)
                    if v:
                        print(f"        model reproduces {v['matched']}/{v['compared']} fresh cases "
                              f"({v['uncomparable']} uncomparable); worst rel. error {v['worst']:.3g}; first bad: "
                              f"{v['first_bad']}")
                        x = v.get("extreme")
                        if x:
                            print(f"        extreme cases: {x['matched']}/{x['compared']} ({x['uncomparable']} "
                                  f"uncomparable); first bad: {x['first_bad']}")
                if r.get("checker_crash"):
                    print("        " + r["checker_crash"].strip().splitlines()[-1])
                if verbose and "error" in r:
                    print("        " + r["error"]["text"].replace("\n", "\n        "))
    print(f"\ncorrect learner functions rejected: {len(rejected_correct)} of {len(correct)}")


_WORST = re.compile(r"batch_rows_independent[^\n]*?\((float\d+)\): worst \|got - expected\| = ([0-9.e+-]+|inf|nan)")
#: a NaN blamed on an exp ratio as a fact about the code ("overflows ... in a sigmoid written as ..."), where
#: no exp-ratio model reproduced the function; naming it as one way among others ("... does this, and so does
#: any other use of exp there") is not a claim about the code
_EXP_RATIO = re.compile(r"in a sigmoid written as exp\(a\)|in a tanh written as \(exp\(a\)")


def review_lines(recs: Sequence[Dict[str, Any]]) -> None:
    """Lines of the reports to review, counted: are they true of the mutant?

    * the convention the failure is shown in is not the learner's, and the message does not say that the
      case cannot tell the conventions apart (unexplained failures only: an explanation in the other
      convention is judged by its model);
    * ``batch_rows_independent`` failing by less than 1e-3 in float32 (BLAS rounding of a batched product,
      while no mutant here mixes batch rows that way);
    * a NaN blamed on an exp-ratio sigmoid or tanh: no learner here writes one, and no mutation makes one.
    """
    killed = [r for r in recs if r.get("killed") and r["class"] == "value-wrong"]
    conv, rows, ratio = [], [], []
    for r in killed:
        e = r["error"]
        learner_ra = LEARNERS[r["learner"]]["reset_after"]
        if not r.get("explained") and e.get("convention") and f"reset_after={not learner_ra}" in e["convention"] \
                and "does not show which one" not in e["text"]:
            conv.append(r)
        texts = [f.get("line") or "" for f in e.get("failures", ())] + [e["text"]]
        for m in _WORST.finditer("\n".join(texts)):
            if m.group(1) == "float32" and m.group(2) not in ("inf", "nan") and float(m.group(2)) < 1e-3:
                rows.append((r, float(m.group(2))))
                break
        if _EXP_RATIO.search(e["text"]):
            ratio.append(r)
    print(f"  report lines to review: failure shown in the other reset convention, unexplained and not said to be "
          f"ambiguous: {len(conv)}; batch_rows_independent failing by < 1e-3 in float32: {len(rows)}; NaN blamed "
          f"on an exp-ratio sigmoid/tanh that the code does not have: {len(ratio)}")
    for r in conv[:5]:
        print(f"      other convention: {r['id']} ({r['before']} -> {r['after']}): {r['error']['property']}")
    for r, w in rows[:5]:
        print(f"      batch rows: {r['id']} ({r['before']} -> {r['after']}): worst {w:.3g}")
    for r in ratio[:5]:
        print(f"      exp ratio: {r['id']} ({r['before']} -> {r['after']}): {r['error']['property']}")


def load(path: str) -> List[Dict[str, Any]]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="about 5 mutants per learner")
    ap.add_argument("--kind", choices=("all", "forward", "backward"), default="all")
    ap.add_argument("--learners", help="comma list of learner names")
    ap.add_argument("--ids", help="comma list of mutant ids (learner#NNNN)")
    ap.add_argument("--forward-sample", type=int, default=0,
                    help="forward mutants taken, in all, before classification (default 0: every one)")
    ap.add_argument("--backward-sample", type=int, default=400,
                    help="backward mutants taken, in all, before classification (0: every one; default 400)")
    ap.add_argument("--check-crashes", action="store_true", help="check crash mutants too")
    ap.add_argument("--classify-only", action="store_true", help="only classify the chosen mutants (no check)")
    ap.add_argument("--fresh", type=int, default=_shared.FRESH, help="fresh cases per verification (default 50)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--out", default=None, help="JSON-lines file of the records (default: none)")
    ap.add_argument("--resume", action="store_true", help="skip the ids already in --out")
    ap.add_argument("--report", metavar="JSONL", help="summarise a finished run's records and exit")
    ap.add_argument("--reverify", nargs=2, metavar=("JSONL", "OUT"),
                    help="add the extreme-case verification to an earlier run's records, write OUT, and exit")
    ap.add_argument("--no-correct", action="store_true", help="skip checking the unmutated learners")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each record, and error texts in the lists")
    args = ap.parse_args(argv)
    args.sample = {"forward": args.forward_sample, "backward": args.backward_sample}

    if args.reverify:
        reverify(*args.reverify)
        return 0
    if args.report:
        records = load(args.report)
        summarise([r for r in records if not r["id"].endswith("(unmutated)")],
                  [r for r in records if r["id"].endswith("(unmutated)")], args.verbose)
        return 0
    total = Stopwatch()
    if args.classify_only:
        for kind in ("forward", "backward"):
            counts: Dict[str, Counter] = defaultdict(Counter)
            for m in choose(args):
                if LEARNERS[m.learner]["kind"] == kind:
                    counts[m.operator][classify(m.compile(), kind)["class"]] += 1
            if counts:
                print(f"{kind}: " + ", ".join(f"{c} {sum(v[c] for v in counts.values())}"
                                             for c in ("value-wrong", "equivalent", "crashes")))
                for op, v in counts.items():
                    print(f"    {op:16} " + ", ".join(f"{c} {v[c]}" for c in ("value-wrong", "equivalent", "crashes")))
        print(f"{total():.0f} s")
        return 0
    done = set()
    if args.out and args.resume and os.path.exists(args.out):
        done = {r["id"] for r in load(args.out)}
    out = open(args.out, "a" if args.resume else "w") if args.out else None
    correct: List[Dict[str, Any]] = []
    if not args.no_correct and not args.ids:
        if any(i.endswith("(unmutated)") for i in done):
            correct = [r for r in load(args.out) if r["id"].endswith("(unmutated)")]
        else:
            correct = check_correct(args.fresh)
            for rec in correct:
                if out:
                    out.write(json.dumps(rec) + "\n")
            if out:
                out.flush()
    chosen = [m for m in choose(args) if m.id not in done]
    print(f"{len(chosen)} mutants to run ({len(done)} already done), {args.jobs} job(s)", flush=True)
    items = [(m, LEARNERS[m.learner]["kind"], args.check_crashes, args.fresh) for m in chosen]
    records: List[Dict[str, Any]] = load(args.out) if (args.out and args.resume and done) else []
    records = [r for r in records if not r["id"].endswith("(unmutated)")]
    if args.jobs > 1:
        pool = multiprocessing.get_context("fork").Pool(args.jobs, maxtasksperchild=25)
        results = pool.imap_unordered(_work, items)
    else:
        pool = None
        results = map(_work, items)
    for i, rec in enumerate(results, 1):
        records.append(rec)
        if out:
            out.write(json.dumps(rec) + "\n")
            out.flush()
        if args.verbose or i % 25 == 0:
            tail = ""
            if rec.get("killed") is not None:
                e = rec.get("error", {})
                tail = (f" killed={rec['killed']} {e.get('property', '')} {e.get('diagnoses', '')}"
                        f" true={rec.get('explanation_true')} [{rec.get('check_seconds')} s]")
            print(f"[{i}/{len(items)} {total() / 60:.1f} min] {rec['id']} {rec['class']}{tail}", flush=True)
            if args.verbose and rec.get("error"):
                print("    " + rec["error"]["text"].replace("\n", "\n    "))
    if pool is not None:
        pool.close()
        pool.join()
    if out:
        out.close()
    summarise(records, correct, args.verbose)
    print(f"\nharness time: {total() / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
