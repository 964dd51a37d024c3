"""Write tests/data/golden.json: seeded GRU inputs and the outputs the tiers must keep giving.

Run once, by hand, from the repository root (``python tests/data/make_golden.py``),
and commit the JSON. ``tests/test_regression.py`` only reads it; it never
recomputes these values. Rerun only when a change of the stored values is
intended, and say why in the commit.

The outputs come from ``gru_props.level1``. Before anything is written they are
confirmed against ONNX's reference evaluator (both conventions, float64) and
against torch.nn.GRU (reset_after=True, float64) when those are installed.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from gru_props import GRUParams, level1

OUT = pathlib.Path(__file__).with_name("golden.json")
SHAPE = dict(B=2, T=4, D=3, H=5)
SEEDS = [0, 1, 2]
DTYPES = ["float64", "float32"]


def make_inputs(seed: int, dtype: str):
    """The documented recipe; the test re-runs it to check the stored inputs still match."""
    rng = np.random.default_rng(seed)
    params = GRUParams.random(SHAPE["D"], SHAPE["H"], seed=rng, scale=1.5, dtype=dtype)
    x = rng.normal(size=(SHAPE["B"], SHAPE["T"], SHAPE["D"])).astype(dtype)
    h0 = rng.uniform(-1, 1, (SHAPE["B"], SHAPE["H"])).astype(dtype)
    return x, h0, params


def confirm(x, h0, params, reset_after, hs):
    """Independent references must agree before a golden value is stored."""
    try:
        import onnx
        from onnx.reference import ReferenceEvaluator
    except ImportError:
        print("onnx not installed: golden values NOT confirmed against ONNX")
    else:
        W, R, B = params.astype(np.float64).to_onnx()
        node = onnx.helper.make_node("GRU", ["X", "W", "R", "B", "", "initial_h"], ["Y", "Y_h"],
                                     hidden_size=params.H, linear_before_reset=int(reset_after))
        Y, _ = ReferenceEvaluator(node).run(None, {
            "X": x.astype(np.float64).transpose(1, 0, 2), "W": W, "R": R, "B": B,
            "initial_h": h0.astype(np.float64)[None]})
        diff = np.max(np.abs(Y[:, 0].transpose(1, 0, 2) - hs))
        tol = 1e-12 if hs.dtype == np.float64 else 1e-5
        assert diff <= tol, f"level1 differs from ONNX by {diff}"
    if reset_after:
        try:
            import torch
        except ImportError:
            print("torch not installed: golden values NOT confirmed against PyTorch")
            return
        gru = torch.nn.GRU(params.D, params.H, batch_first=True, dtype=torch.float64)
        gru.load_state_dict(params.astype(np.float64).to_torch())
        with torch.no_grad():
            out, _ = gru(torch.from_numpy(x.astype(np.float64)),
                         torch.from_numpy(h0.astype(np.float64))[None])
        diff = np.max(np.abs(out.numpy() - hs))
        assert diff <= (1e-12 if hs.dtype == np.float64 else 1e-5), f"level1 differs from torch by {diff}"


def main() -> None:
    cases = []
    for dtype in DTYPES:
        for seed in SEEDS:
            x, h0, params = make_inputs(seed, dtype)
            entry = {
                "seed": seed, "dtype": dtype, **SHAPE,
                "x": x.tolist(), "h0": h0.tolist(),
                "params": {k: v.tolist() for k, v in params.arrays().items()},
                "outputs": {},
            }
            for reset_after in (False, True):
                hs, h_T = level1.gru_forward(x, h0, params, reset_after=reset_after)
                assert hs.dtype == np.dtype(dtype)
                confirm(x, h0, params, reset_after, hs)
                entry["outputs"]["reset_after" if reset_after else "reset_before"] = {
                    "hs": hs.tolist(), "h_T": h_T.tolist()}
            cases.append(entry)
    doc = {
        "about": "Golden GRU outputs for tests/test_regression.py; written by make_golden.py, "
                 "values from gru_props.level1 confirmed against ONNX's reference evaluator and torch.",
        "recipe": "rng = np.random.default_rng(seed); params = GRUParams.random(D, H, seed=rng, "
                  "scale=1.5, dtype=dtype); x = rng.normal(size=(B, T, D)).astype(dtype); "
                  "h0 = rng.uniform(-1, 1, (B, H)).astype(dtype)",
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT.name}")


if __name__ == "__main__":
    main()
