"""Combinations of two and three catalogued slips: how many are explained, and is every explanation true?

    python benchmarks/acceptance/combinations.py --quick                     # a handful of each
    python benchmarks/acceptance/combinations.py                             # the default sample (see below)
    python benchmarks/acceptance/combinations.py --kind backward --pairs 0   # every backward pair
    python benchmarks/acceptance/combinations.py --only 'backward:True:dz_sign_flipped+dx_missing_r_path' -v
    python benchmarks/acceptance/combinations.py --count                     # how many combinations exist

Issue 16's acceptance: "combinations of two and three catalogued bugs,
forward and backward: at least 90 % explained, every explanation true (its
model reproduces the function on 50 fresh cases)".

Two sources of buggy functions:

* ``model``: the checker's own vocabulary. Every pair and triple of
  ``gru_props.forward.terms.SLIPS_LIST`` (forward) and
  ``gru_props.backward.terms.SLIPS_LIST`` (backward), in both reset
  conventions (standard interpolation), is turned into a function computing
  ``terms.forward`` / ``terms.backward`` with those slips (answering in the
  input's dtype). A combination is dropped when its model equals a reference
  GRU (either convention) or a smaller or earlier combination on three probe
  cases (``--count`` prints what is left). The checks run on a deterministic
  sample: ``--pairs`` and ``--triples`` combinations per direction (0: all).
  A vocabulary with more triples than ``--enumerate-limit`` (the backward
  one, whose 131 slips make 732,290 in two conventions) is not enumerated:
  the sample is drawn at random, each set kept when its model differs from
  the references, from each of its own subsets' and from the sets drawn
  before.
* ``learner``: independent code (``tests/combos.py`` ``learner_forward``,
  reset before; ``tests/grad_zoo.py`` ``learner_backward``, both
  conventions), every pair and triple its ``forward_combinations`` /
  ``backward_combinations`` allow, with the same deduplication.

Each function is checked with ``profile="ci"`` (every other argument
default); a rejection carrying ``diagnoses`` is *explained*; every bug model
is verified on 50 fresh cases (``_shared.verify_model``), whether it names
the same slips or an equivalent other set. Not rejected at all is a missed
bug (a combination that differs from both references on the probe cases).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import sys
import warnings
from collections import Counter, defaultdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _shared  # noqa: E402
import numpy as np  # noqa: E402
from _shared import Stopwatch, pct  # noqa: E402

from gru_props import GRUParams  # noqa: E402
from gru_props.backward import terms as bterms  # noqa: E402
from gru_props.engine.conventions import Convention  # noqa: E402
from gru_props.forward import terms as fterms  # noqa: E402


# ----------------------------------------------------------------------------- functions
class ModelFunction:
    """A buggy function made of the checker's vocabulary: the GRU (or BPTT) of one convention with slips."""

    def __init__(self, kind: str, reset_after: bool, slips: Sequence[str]) -> None:
        self.kind, self.reset_after, self.slips = kind, reset_after, tuple(slips)
        self.__name__ = "buggy_" + "_".join(self.slips)
        self.__qualname__ = self.__name__

    def __call__(self, x: Any, h0: Any, p: GRUParams, dhs: Any = None, dh_T: Any = None) -> Any:
        dtype = np.result_type(x, p.W_z)
        if self.kind == "forward":
            hs, h_T = fterms.forward(x, h0, p, Convention(self.reset_after), self.slips)
            return hs.astype(dtype), h_T.astype(dtype)
        dx, dh0, g = bterms.backward(x, h0, p, dhs, dh_T, self.reset_after, self.slips)
        return dx.astype(dtype), dh0.astype(dtype), g.astype(dtype)

    def __repr__(self) -> str:
        return f"ModelFunction({self.kind}, reset_after={self.reset_after}, {'+'.join(self.slips)})"


class LearnerFunction:
    """Independent learner code with slips (tests/combos.py, tests/grad_zoo.py)."""

    def __init__(self, kind: str, reset_after: bool, slips: Sequence[str]) -> None:
        self.kind, self.reset_after, self.slips = kind, reset_after, tuple(slips)
        self.__name__ = "learner_" + "_".join(self.slips)
        self.__qualname__ = self.__name__

    def __call__(self, x: Any, h0: Any, p: GRUParams, dhs: Any = None, dh_T: Any = None) -> Any:
        if self.kind == "forward":
            import combos

            return combos.learner_forward(x, h0, p, slips=frozenset(self.slips))
        import grad_zoo

        return grad_zoo.learner_backward(x, h0, p, dhs, dh_T, reset_after=self.reset_after,
                                         bug=set(self.slips) or None)

    def __repr__(self) -> str:
        return f"LearnerFunction({self.kind}, reset_after={self.reset_after}, {'+'.join(self.slips)})"


def make(source: str, kind: str, reset_after: bool, slips: Sequence[str]) -> Callable[..., Any]:
    return (ModelFunction if source == "model" else LearnerFunction)(kind, reset_after, slips)


# ----------------------------------------------------------------------------- enumeration
def _probe_cases() -> List[_shared.Case]:
    return [_shared.case(901, 2, 3, 3, 4, scale=1.5), _shared.case(902, 3, 2, 2, 3, scale=1.0),
            _shared.case(903, 2, 4, 4, 2, scale=1.0, x_scale=2.0)]


def fingerprint(fn: Callable[..., Any], kind: str, cases: Sequence[_shared.Case]) -> Optional[str]:
    """A hash of ``fn``'s outputs on the probe cases (rounded), None when it raises."""
    h = hashlib.sha1()
    for c in cases:
        try:
            out = _shared.call(fn, kind, c)
        except Exception:
            return None
        for name in sorted(out):
            a = np.asarray(out[name], dtype=np.float64)
            h.update(name.encode() + str(a.shape).encode())
            a = np.nan_to_num(a, nan=7.77e7, posinf=8.88e8, neginf=-8.88e8)
            h.update(np.round(a, 7).tobytes())
    return h.hexdigest()


def _reference_prints(kind: str, cases: Sequence[_shared.Case]) -> set:
    from gru_props import level1

    prints = set()
    for ra in (False, True):
        if kind == "forward":
            def ref(x, h0, p, ra=ra):
                return level1.gru_forward(x, h0, p, reset_after=ra)
        else:
            def ref(x, h0, p, dhs, dh_T, ra=ra):
                return level1.gru_backward(x, h0, p, dhs, dh_T, reset_after=ra)
        prints.add(fingerprint(ref, kind, cases))
    return prints


def vocabulary(source: str, kind: str) -> List[str]:
    if source == "model":
        return [s.name for s in (fterms.SLIPS_LIST if kind == "forward" else bterms.SLIPS_LIST)]
    import combos

    return sorted(combos.FORWARD_SLIPS if kind == "forward" else combos.BACKWARD_SLIPS)


def candidate_sets(source: str, kind: str, size: int) -> List[Tuple[str, ...]]:
    if source == "model":
        return list(itertools.combinations(vocabulary(source, kind), size))
    import combos

    return list(combos.forward_combinations(size) if kind == "forward" else combos.backward_combinations(size))


def conventions(source: str, kind: str) -> Tuple[bool, ...]:
    return (False,) if (source == "learner" and kind == "forward") else (False, True)


def enumerate_distinct(source: str, kind: str, max_size: int = 3) -> Dict[int, List[Tuple[bool, Tuple[str, ...]]]]:
    """size -> [(reset_after, slips)] whose model differs from the references and from every smaller or
    earlier combination (same convention) on the probe cases."""
    cases = _probe_cases()
    refs = _reference_prints(kind, cases)
    out: Dict[int, List[Tuple[bool, Tuple[str, ...]]]] = defaultdict(list)
    for ra in conventions(source, kind):
        seen = set(refs)
        for size in range(1, max_size + 1):
            for slips in candidate_sets(source, kind, size):
                fp = fingerprint(make(source, kind, ra, slips), kind, cases)
                if fp is None or fp in seen:
                    continue
                seen.add(fp)
                if size >= 2:
                    out[size].append((ra, slips))
    return out


def sample_distinct(source: str, kind: str, want: Dict[int, int], seed: int
                    ) -> Dict[int, List[Tuple[bool, Tuple[str, ...]]]]:
    """size -> ``want[size]`` random (reset_after, slips) whose model differs from the references, from the
    model of each of its own smaller subsets and from every set drawn before (same convention), on the probe
    cases: for a vocabulary whose every triple is too many to run (``enumerate_distinct``). A set equal to
    some unrelated smaller one is kept; its explanation by that smaller set is then an equivalent other set."""
    cases = _probe_cases()
    refs = _reference_prints(kind, cases)
    vocab = vocabulary(source, kind)
    rng = random.Random(seed)
    prints: Dict[Tuple[bool, Tuple[str, ...]], Optional[str]] = {}

    def fp(ra: bool, slips: Tuple[str, ...]) -> Optional[str]:
        if (ra, slips) not in prints:
            prints[(ra, slips)] = fingerprint(make(source, kind, ra, slips), kind, cases)
        return prints[(ra, slips)]

    out: Dict[int, List[Tuple[bool, Tuple[str, ...]]]] = defaultdict(list)
    for size, n in sorted(want.items()):
        seen: Dict[bool, set] = {ra: set(refs) for ra in conventions(source, kind)}
        for _ in range(50 * max(n, 1)):
            if len(out[size]) >= n:
                break
            ra = rng.choice(conventions(source, kind))
            slips = tuple(sorted(rng.sample(vocab, size), key=vocab.index))
            f = fp(ra, slips)
            if f is None or f in seen[ra]:
                continue
            if any(fp(ra, sub) == f for k in range(1, size) for sub in itertools.combinations(slips, k)):
                continue
            seen[ra].add(f)
            out[size].append((ra, slips))
    return out


def sample(items: Sequence[Any], n: int, seed: int) -> List[Any]:
    if n <= 0 or n >= len(items):
        return list(items)
    return sorted(random.Random(seed).sample(list(items), n), key=lambda t: (t[0], t[1]))


# ----------------------------------------------------------------------------- one combination
def run_one(source: str, kind: str, reset_after: bool, slips: Tuple[str, ...], fresh: int) -> Dict[str, Any]:
    from gru_props import ImplementationError, check_gradients, check_implementation

    fn = make(source, kind, reset_after, slips)
    rec: Dict[str, Any] = {"id": f"{kind}:{reset_after}:{'+'.join(slips)}", "source": source, "kind": kind,
                           "reset_after": reset_after, "slips": list(slips), "size": len(slips)}
    watch = Stopwatch()
    err = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "forward":
                check_implementation(fn, profile="ci")
            else:
                check_gradients(fn, profile="ci")
        rec["killed"] = False
    except ImplementationError as e:
        err = e
        rec["killed"] = True
    except Exception as e:
        import traceback

        rec["killed"] = False
        rec["checker_crash"] = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-3000:]
    rec["check_seconds"] = round(watch(), 2)
    if err is None:
        return rec
    rec["error"] = _shared.error_record(err)
    rec["explained"] = bool(rec["error"]["diagnoses"]) and rec["error"]["bug_model"] is not None
    rec["verifications"] = []
    for index, model in _shared.models_of(err):
        v = _shared.verify_everywhere(fn, model, kind, fresh)
        v["failure"], v["model"] = index, repr(model)
        rec["verifications"].append(v)
    first = [v for v in rec["verifications"] if v["failure"] == 0]
    if rec["explained"]:
        rec["explanation_true"] = bool(first and first[0]["true"])
        ext = first[0]["extreme"] if first else None
        rec["explanation_true_extreme"] = bool(ext and (ext["true"] or ext["compared"] == 0))
        named = set(_expand(kind, rec["error"]["diagnoses"]))
        rec["same_set"] = named == set(_expand(kind, slips))
    return rec


def _expand(kind: str, names: Sequence[str]) -> List[str]:
    return sorted((fterms if kind == "forward" else bterms).expand(names))


# ----------------------------------------------------------------------------- summary
def summarise(records: Sequence[Dict[str, Any]], verbose: bool = False) -> None:
    for source in ("model", "learner"):
        for kind in ("forward", "backward"):
            recs = [r for r in records if r["source"] == source and r["kind"] == kind]
            if not recs:
                continue
            print(f"\n== {source} functions, {kind}: {len(recs)} combinations checked")
            for size in sorted({r["size"] for r in recs}):
                for ra in sorted({r["reset_after"] for r in recs}):
                    g = [r for r in recs if r["size"] == size and r["reset_after"] == ra]
                    if not g:
                        continue
                    killed = [r for r in g if r.get("killed")]
                    ex = [r for r in killed if r.get("explained")]
                    true = [r for r in ex if r.get("explanation_true")]
                    same = [r for r in true if r.get("same_set")]
                    print(f"  size {size}, reset_after={ra!s:5}: killed {pct(len(killed), len(g))}; explained "
                          f"{pct(len(ex), len(g))}; true {len(true)}/{len(ex)} (same set {len(same)}, an "
                          f"equivalent other set {len(true) - len(same)})")
            for size in sorted({r["size"] for r in recs}):
                g = [r for r in recs if r["size"] == size]
                ex = [r for r in g if r.get("explained")]
                true = [r for r in ex if r.get("explanation_true")]
                print(f"  size {size} in all: explained {pct(len(ex), len(g))}, explained and true "
                      f"{pct(len(true), len(g))}")
            times = sorted(r["check_seconds"] for r in recs)
            print(f"  check time: median {times[len(times) // 2]:.1f} s, max {times[-1]:.1f} s, "
                  f"sum {sum(times) / 60:.1f} min")
            unexplained = Counter(s for r in recs if r.get("killed") and not r.get("explained") for s in r["slips"])
            if unexplained:
                print("  slips in unexplained combinations: " + ", ".join(f"{k} {v}" for k, v in
                                                                         unexplained.most_common(15)))
            false = [r for r in recs if r.get("explained") and not r.get("explanation_true")]
            false_ext = [r for r in recs if r.get("explanation_true") and r.get("explanation_true_extreme") is False]
            print(f"  false explanations: {len(false)}; true on the ordinary fresh cases but not on the "
                  f"{_shared.EXTREME} extreme ones: {len(false_ext)}")
            missed = [r for r in recs if not r.get("killed")]
            later = [(r, v) for r in recs for v in r.get("verifications", ()) if v["failure"] and not v["true"]]
            for title, group in (("FALSE EXPLANATIONS", false), ("FALSE ON EXTREME CASES ONLY", false_ext),
                                 ("NOT REJECTED", missed)):
                if not group:
                    continue
                print(f"\n  -- {title} ({len(group)}); re-run: python benchmarks/acceptance/combinations.py "
                      f"--source {source} --only ID -v")
                for r in group:
                    print(f"    {r['id']}")
                    if "error" in r:
                        e = r["error"]
                        v = next((v for v in r["verifications"] if v["failure"] == 0), None)
                        print(f"        {e['property']}: diagnoses {e['diagnoses']}; model reproduces "
                              f"{v['matched']}/{v['compared']} fresh cases, worst rel. error {v['worst']:.3g}; "
                              f"first bad {v['first_bad']}; extreme {v['extreme']['matched']}/"
                              f"{v['extreme']['compared']}, first bad {v['extreme']['first_bad']}")
                        if verbose:
                            print("        " + e["text"].replace("\n", "\n        "))
                    if r.get("checker_crash"):
                        print("        " + r["checker_crash"].strip().splitlines()[-1])
            if later:
                print(f"\n  -- false models on later failures (err.failures[1:]): {len(later)}")
                for r, v in later[:20]:
                    print(f"    {r['id']}: failure {v['failure']} {v['model']}: {v['matched']}/{v['compared']}")
            if verbose:
                un = [r for r in recs if r.get("killed") and not r.get("explained")]
                print(f"\n  -- unexplained ({len(un)})")
                for r in un:
                    print(f"    {r['id']}: {r['error']['property']}")


def load(path: str) -> List[Dict[str, Any]]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 pairs and 4 triples per direction and source")
    ap.add_argument("--source", choices=("model", "learner", "both"), default="both")
    ap.add_argument("--kind", choices=("all", "forward", "backward"), default="all")
    ap.add_argument("--pairs", type=int, default=120, help="pairs checked per direction, model source (0: all)")
    ap.add_argument("--triples", type=int, default=200, help="triples checked per direction, model source (0: all)")
    ap.add_argument("--learner-pairs", type=int, default=0, help="pairs per direction, learner source (0: all)")
    ap.add_argument("--learner-triples", type=int, default=0, help="triples per direction, learner source (0: all)")
    ap.add_argument("--seed", type=int, default=16, help="seed of the sample")
    ap.add_argument("--enumerate-limit", type=int, default=200_000,
                    help="above this many triples (both conventions), draw the sample at random instead of "
                         "enumerating every distinct combination first")
    ap.add_argument("--only", help="comma list of ids kind:reset_after:slip+slip[+slip]")
    ap.add_argument("--fresh", type=int, default=_shared.FRESH)
    ap.add_argument("--count", action="store_true", help="print how many distinct combinations exist and exit")
    ap.add_argument("--out", help="JSON-lines file of the records")
    ap.add_argument("--resume", action="store_true", help="skip the ids already in --out")
    ap.add_argument("--report", metavar="JSONL", help="summarise a finished run and exit")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.report:
        summarise(load(args.report), args.verbose)
        return 0
    total = Stopwatch()
    sources = ("model", "learner") if args.source == "both" else (args.source,)
    kinds = ("forward", "backward") if args.kind == "all" else (args.kind,)
    jobs: List[Tuple[str, str, bool, Tuple[str, ...]]] = []
    if args.only:
        for item in args.only.split(","):
            kind, ra, slips = item.strip().split(":")
            jobs += [(s, kind, ra == "True", tuple(slips.split("+"))) for s in sources]
    else:
        for source in sources:
            for kind in kinds:
                n_pairs = 4 if args.quick else (args.pairs if source == "model" else args.learner_pairs)
                n_triples = 4 if args.quick else (args.triples if source == "model" else args.learner_triples)
                n_sets = len(candidate_sets(source, kind, 3)) * len(conventions(source, kind))
                sampled = n_sets > args.enumerate_limit and n_pairs > 0 and n_triples > 0
                if sampled:
                    found = sample_distinct(source, kind, {2: n_pairs, 3: n_triples}, args.seed)
                else:
                    found = enumerate_distinct(source, kind)
                pairs = sample(found[2], n_pairs, args.seed)
                triples = sample(found[3], n_triples, args.seed + 1)
                how = (f"{n_sets} triples in all, too many to enumerate: drawn at random, each distinct from the "
                       "references, from its own subsets and from the sets drawn before; " if sampled else "")
                print(f"{source} {kind}: {len(vocabulary(source, kind))} slips; {how}distinct pairs {len(found[2])} "
                      f"(by convention {dict(Counter(ra for ra, _ in found[2]))}), distinct triples "
                      f"{len(found[3])} (by convention {dict(Counter(ra for ra, _ in found[3]))}); checking "
                      f"{len(pairs)} pairs, {len(triples)} triples  [{total():.0f} s]", flush=True)
                jobs += [(source, kind, ra, s) for ra, s in pairs + triples]
        if args.count:
            return 0
    done = set()
    records: List[Dict[str, Any]] = []
    if args.out and args.resume and os.path.exists(args.out):
        records = load(args.out)
        done = {(r["source"], r["id"]) for r in records}
    out = open(args.out, "a" if args.resume else "w") if args.out else None
    todo = [j for j in jobs if (j[0], f"{j[1]}:{j[2]}:{'+'.join(j[3])}") not in done]
    print(f"{len(todo)} combinations to check ({len(done)} already done)", flush=True)
    for i, (source, kind, ra, slips) in enumerate(todo, 1):
        rec = run_one(source, kind, ra, slips, args.fresh)
        records.append(rec)
        if out:
            out.write(json.dumps(rec) + "\n")
            out.flush()
        if args.verbose or i % 20 == 0:
            e = rec.get("error", {})
            print(f"[{i}/{len(todo)} {total() / 60:.1f} min] {source} {rec['id']} killed={rec['killed']} "
                  f"{e.get('diagnoses')} true={rec.get('explanation_true')} [{rec['check_seconds']} s]", flush=True)
            if args.verbose and e:
                print("    " + e["text"].replace("\n", "\n    "))
    if out:
        out.close()
    summarise(records, args.verbose)
    print(f"\nharness time: {total() / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
