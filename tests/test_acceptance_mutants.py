"""The mutation harness's invariants (benchmarks/acceptance/mutants.py) on a handful of mutants.

Issue 16's acceptance: a correct learner GRU is never rejected, and a name is
given only when its bug model reproduces the function. Here: every
unmutated learner of benchmarks/acceptance/learner_code.py passes its check;
five mutants whose slips the catalogue holds are rejected and explained; and
every bug model any of their failures carries reproduces the mutant on the
50 fresh cases (1e-6 relative). The full measurement is
``python benchmarks/acceptance/mutants.py``.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "benchmarks", "acceptance"))

import learner_code  # noqa: E402
import mutants  # noqa: E402
import mutate  # noqa: E402

#: a dropped candidate term, a reset gate in tanh, gates in tanh (column vectors), truncated BPTT, one = for +=
QUICK = ("textbook_gru#0027", "stacked_gru#0033", "column_gru#0007", "bptt_before#0053", "bptt_after#0013")


def test_quick_mutants_invariants():
    problems = []
    for name, info in learner_code.LEARNERS.items():
        rec = {"id": name}
        rec.update(mutants.classify(getattr(learner_code, name), info["kind"]))
        assert rec["class"] == "equivalent", f"{name} disagrees with gru_props.level1: the harness is wrong"
        mutants.run_check(getattr(learner_code, name), info["kind"], rec, fresh=50)
        if rec["killed"]:
            problems.append(f"correct {name} rejected:\n{rec['error']['text']}")
    for mutant_id in QUICK:
        m = mutate.by_id(mutant_id)
        rec = mutants.run_mutant(m, learner_code.LEARNERS[m.learner]["kind"])
        assert rec["class"] == "value-wrong", f"{m.description}: {rec['class']}"
        if not rec.get("killed"):
            problems.append(f"{m.description}: not rejected")
            continue
        if not rec.get("explained"):
            problems.append(f"{m.description}: not explained ({rec['error']['property']})")
        for v in rec.get("verifications", ()):
            if not v["true"]:
                problems.append(f"{m.description}: the model of failure {v['failure']}, {v['model']}, reproduces "
                                f"{v['matched']} of {v['compared']} fresh cases; first bad {v['first_bad']}")
    assert not problems, "\n\n".join(problems)
