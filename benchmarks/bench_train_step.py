#!/usr/bin/env python
"""Training-step benchmark: the study's GRU and LSTM steps against the same models in torch.

A training step is what ``gru_props.study`` repeats thousands of times per
run: forward, loss, backward, global gradient-norm clipping and an Adam
update. Both sides run the same model on the same batch, float32, CPU, the
same thread count:

* gru_props: ``gru_props.study.models.Model`` (level3 ``gru_forward`` /
  ``gru_backward`` or ``gru_props.lstm``'s fast passes, with the forward's
  cache reused by the backward) + ``clip_grad_norm`` + ``Adam``;
* torch: ``nn.GRU`` / ``nn.LSTM`` (batch_first) + ``nn.Linear`` on the last
  state (adding problem) or on every step (copy task), ``MSELoss`` /
  ``cross_entropy``, ``loss.backward()``, ``clip_grad_norm_``, ``torch.optim.Adam``.

Before anything is timed, one float64 step of each model is checked against
torch autograd from the same weights (loss and every gradient), so the two
sides compute the same thing.

Run from the repository root after ``pip install -e ".[bench,study]"``::

    python benchmarks/bench_train_step.py              # the study's shapes, 7 rounds
    python benchmarks/bench_train_step.py --threads 1  # as the study's workers run (one BLAS thread each)
    python benchmarks/bench_train_step.py --quick      # 3 short rounds
    python benchmarks/bench_train_step.py --markdown

Timing follows ``bench_forward.py`` (its helpers, in ``_common.py``): variants
interleaved with a rotating order, a pause and a warm-up before each, rounds
re-run when the machine's GEMM speed dropped, medians over rounds; trust the
ratios (all from this one run), not the milliseconds.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Dict, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _common beside this file
from _common import (  # noqa: E402  (also makes gru_props importable from a checkout)
    environment,
    parse_timing,
    print_environment,
    print_timing,
    run_rounds,
    table,
    timing_parser,
)

from gru_props.study.models import Arm, Model  # noqa: E402
from gru_props.study.optim import Adam, clip_grad_norm  # noqa: E402
from gru_props.study.tasks import AddingProblem, CopyTask, Task  # noqa: E402

# The study's shapes: batch 64, GRU H = 32 against the equal-budget LSTM (H = 28 on
# these tasks) and the equal-H LSTM.
CASES: Dict[str, Tuple[Task, int]] = {
    "adding T=50": (AddingProblem(T=50), 64),
    "adding T=100": (AddingProblem(T=100), 64),
    "copy T=30": (CopyTask(), 64),
}
ARMS = {
    "GRU H=32": Arm("GRU H=32", "gru", H=32),
    "LSTM H=28": Arm("LSTM H=28", "lstm", H=28, forget_bias=1.0),
    "LSTM H=32": Arm("LSTM H=32", "lstm", H=32, forget_bias=1.0),
}

Step = Callable[[], float]


# ------------------------------------------------------------------------ ours
def ours(arm: Arm, task: Task, batch, lr: float = 3e-3) -> Tuple[Step, Model]:
    model = Model(arm, task, seed=0, dtype=np.float32)
    opt = Adam(model.params, lr=lr)

    def step() -> float:
        loss, grads = model.loss_and_grads(batch)
        clip_grad_norm(grads, 1.0)
        opt.step(model.params, grads)
        return loss

    return step, model


# ----------------------------------------------------------------------- torch
def torch_model(torch, model: Model, dtype):
    """nn.GRU / nn.LSTM + nn.Linear of ``dtype`` holding ``model``'s current weights."""
    D, H, K = model.task.D, model.H, model.task.K
    rnn = (torch.nn.GRU if model.arm.cell == "gru" else torch.nn.LSTM)(D, H, batch_first=True).to(dtype)
    head = torch.nn.Linear(H, K).to(dtype)
    rnn.load_state_dict(model.cell_params().to_torch())
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(model.params["W_out"].T.copy()))
        head.bias.copy_(torch.as_tensor(model.params["b_out"]))
    return rnn, head


def torch_loss(torch, rnn, head, task: Task, x, y, mask_idx):
    hs, _ = rnn(x)
    if task.target == "last":
        return torch.nn.functional.mse_loss(head(hs[:, -1]), y)
    rows, cols = mask_idx
    return torch.nn.functional.cross_entropy(head(hs[rows, cols]), y[rows, cols])


def theirs(torch, model: Model, task: Task, batch, lr: float = 3e-3) -> Step:
    rnn, head = torch_model(torch, model, torch.float32)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    x, y, idx = _torch_batch(torch, task, batch, torch.float32)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = torch_loss(torch, rnn, head, task, x, y, idx)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.detach().item()

    return step


def _torch_batch(torch, task: Task, batch, dtype):
    x = torch.as_tensor(batch.x).to(dtype)
    if task.target == "last":
        return x, torch.as_tensor(batch.y).to(dtype), None
    rows, cols = np.nonzero(batch.mask)
    return x, torch.as_tensor(batch.y), (torch.as_tensor(rows), torch.as_tensor(cols))


# --------------------------------------------------------------------- checking
def verify(torch, arm: Arm, task: Task, batch) -> float:
    """Largest relative difference of one float64 step's loss and gradients, ours vs torch autograd."""
    model = Model(arm, task, seed=0, dtype=np.float64)
    loss, grads = model.loss_and_grads(batch)
    rnn, head = torch_model(torch, model, torch.float64)
    x, y, idx = _torch_batch(torch, task, batch, torch.float64)
    tloss = torch_loss(torch, rnn, head, task, x, y, idx)
    tloss.backward()
    layer = type(model.cell_params())(**{k: v for k, v in grads.items() if k not in ("W_out", "b_out")})
    mine = {k: np.asarray(v) for k, v in layer.to_torch().items()}
    # to_torch puts each folded bias in bias_ih_l0 (the GRU's b_hn in bias_hh_l0); torch's
    # two biases of a gate get the same gradient, so bias_hh_l0's is bias_ih_l0's except at b_hn.
    hh = mine["bias_ih_l0"].copy()
    if arm.cell == "gru":
        hh[2 * model.H:] = mine["bias_hh_l0"][2 * model.H:]
    mine["bias_hh_l0"] = hh
    mine["W_out"], mine["b_out"] = grads["W_out"].T, grads["b_out"]
    theirs = {k: p.grad.numpy() for k, p in rnn.named_parameters()}
    theirs["W_out"], theirs["b_out"] = head.weight.grad.numpy(), head.bias.grad.numpy()
    tl = float(tloss.detach())
    worst = abs(loss - tl) / abs(tl)
    for k, a in mine.items():
        b = theirs[k]
        worst = max(worst, float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300)))
    return worst


# ----------------------------------------------------------------------- timing
def bench_case(name: str, env, args) -> Dict[str, float]:
    torch = env["torch"]
    task, B = CASES[name]
    batch = task.sample(np.random.default_rng(0), B)
    variants: Dict[str, Step] = {}
    checks = []
    for label, arm in ARMS.items():
        step, model = ours(arm, task, batch)
        variants[f"{label} gru_props"] = step
        if torch is not None:
            err = verify(torch, arm, task, batch)
            if not err <= 1e-9:
                raise SystemExit(f"verification FAILED: {label} on {name}: ours vs torch autograd differ by {err:.3g}")
            checks.append(f"{label} {err:.1e}")
            variants[f"{label} torch"] = theirs(torch, model, task, batch)
    print(f"\n[{name}] B={B} T={task.steps_T} D={task.D} K={task.K}: float64 step agrees with torch "
          f"autograd (max relative difference of loss and gradients) " + ", ".join(checks))
    return run_rounds(variants, args)


def report(results: Dict[str, Dict[str, float]], markdown: bool) -> None:
    labels = list(ARMS)
    print("\nMedian time per training step, ms (forward + backward + clip + Adam, float32):")
    head = ["case"] + [f"{arm} {side}" for arm in labels for side in ("gru_props", "torch")]
    rows = [[c] + [f"{res[n] * 1e3:.2f}" if n in res else "n/a" for n in head[1:]] for c, res in results.items()]
    table(head, rows, markdown)
    print("\nRatios paired by round (median of per-round ratios; gru_props / torch > 1: torch faster):")
    head = ["case"] + [f"{arm}: ours/torch" for arm in labels] + ["GRU/LSTM H=28 ours", "GRU/LSTM H=28 torch"]
    rows = []
    for c, res in results.items():
        pr = res["_paired"]
        row = [c] + [f"{pr[(f'{arm} gru_props', f'{arm} torch')]:.2f}" if (f"{arm} gru_props", f"{arm} torch") in pr
                     else "n/a" for arm in labels]
        for side in ("gru_props", "torch"):
            k = (f"GRU H=32 {side}", f"LSTM H=28 {side}")
            row.append(f"{pr[k]:.2f}" if k in pr else "n/a")
        rows.append(row)
    table(head, rows, markdown)


def main(argv=None) -> int:
    ap = timing_parser(__doc__.split("\n\n")[0], list(CASES), budget=(0.1, 0.4), threads="BLAS and torch")
    args, cases = parse_timing(ap, argv)
    env = environment(args.threads)
    print_environment(env)
    if env["torch"] is None:
        print("torch is not installed: only gru_props' own steps are timed (pip install -e \".[bench]\").")
    print_timing(args)
    results = {c: bench_case(c, env, args) for c in cases}
    report(results, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
