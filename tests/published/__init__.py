"""A zoo of look-alikes of GRU code that people published, with the glue a
user writes today to check each one with gru_props.

Each module imitates one project or style: its look-alikes keep the
original's interface, layout, math and slips, in code written here (no
published code is copied). Each entry of ``ENTRIES`` pairs a native object
(``native()``, as its users hold it) with ``glue``, the canonical-contract
function built from it (``fn(x, h0, params)`` / step form, or
``backward_fn(x, h0, params, dhs, dh_T)`` / step form), and records what the
user would pass to ``check_implementation`` / ``check_gradients``.

``glue_lines`` counts the lines of the glue block (between ``# glue: <name>``
and ``# end glue`` in the entry's module) that are neither blank nor comments;
imports sit outside the blocks. ``tests/test_published_zoo.py`` checks the
count, and that every correct entry agrees with ``gru_props.level1`` and every
buggy one does not.

What today's checker says (one ``check_implementation`` / ``check_gradients``
run per entry with ``profile="ci"`` and the entry's ``check_kwargs``; filled
in by running ``python -m published.run_checker`` from ``tests/``):

Run on the ``published`` branch against gru_props as it stood then (torch 2.13.0, CPU); "FAIL p" is the
first failing property, "/d" its diagnosis, "then" the further failures in ``err.failures``. No error
carried ``.diagnoses`` or ``.bug_model`` (round 3 of the SPEC): those attributes do not exist yet.

  d2l_gru: FAIL empty_sequence/None (torch.cat raises at T = 0; the SPEC makes a raise at T = 0 a
      warning, torch.nn.GRU raises too) + warning accepts_h0_none                 <- checker wrong
  cmu_hw3p1_gru_cell: pass (warning accepts_h0_none)
  cmu_old_gru_cell: pass (warning accepts_h0_none)
  dlfs2_time_gru: pass (warning dtype_preserved: float64 in, float32 hs out)
  pydl_gru_layer: FAIL empty_sequence/None (the glue's h_T lookup raises at T = 0)  <- should be a warning
  mygrad_gru: pass
  concat_x_h_one_layer: FAIL empty_sequence/None (the glue's hs[-1] raises at T = 0) <- should be a warning
  temp_gru_cell: FAIL matches_reference/None; then update_gate_saturation, matches_reference_at_extremes
      (no name for gates that never see x)
  epynn_gru: FAIL matches_reference_at_extremes/non_finite_output; then finite_and_bounded/
      non_finite_output, matches_reference/None and update_gate_saturation/None (the ignored h0: not
      named initial_state_ignored), empty_sequence/None
  torch_function_tanh_gates: FAIL matches_reference/None; then update_gate_saturation, reset_gate_zero,
      matches_reference_at_extremes, finite_and_bounded, output_contract (IndexError at B = 1)
  concat_module_no_candidate_bias: FAIL matches_reference/None; then update_gate_saturation,
      matches_reference_at_extremes (no name for a missing candidate bias)
  d2l_class_candidate_twice: FAIL matches_reference/update_gate_ignored; then update_gate_saturation and
      matches_reference_at_extremes (update_gate_ignored), empty_sequence/None
  d2l_matmul_for_hadamard: FAIL matches_reference/None; then update_gate_saturation,
      matches_reference_at_extremes, finite_and_bounded, batch_rows_independent, empty_sequence,
      output_contract (raises unless B == H)
  d2l_reset_after_mix: FAIL matches_reference/None; then update_gate_saturation,
      matches_reference_at_extremes, empty_sequence (no name for r gating the product with b_h outside)
  cmu_hw3p1_gru_cell_backward: pass (warning dtype_preserved: float32 in, float64 gradients out)
  cmu_hw3p1_nodes_backward: pass (warning dtype_preserved: float32 in, float64 gradients out)
  cmu_old_gru_cell_backward: FAIL gradients_match_reference/None at b_n (and b_hn): with bias=False the
      bias gradients are still compared, "expected 0.5, got 0.0" for the zeros the glue returns; the
      SPEC says they are not compared and a returned one must be zero or absent    <- checker wrong
  dlfs2_time_gru_backward: pass (warning dtype_preserved: float64 in, float32 dx out)
  dlfs2_no_bias_backward: FAIL output_contract/None: "grads has no ['b_z', 'b_r', 'b_n', 'b_hn']" with
      bias=False, where the SPEC allows them absent                                 <- checker wrong
  pydl_gru_layer_backward: FAIL empty_sequence/None (the glue raises at T = 0)     <- should be a warning
  epynn_gru_backward: FAIL gradients_match_reference/None at U_z; then gradients_with_loss_on_last_state,
      gradients_at_extremes, empty_sequence: EpyNN has no h0 and the check gives h0 != 0; there is no way
      to check a GRU that always starts from zeros (its gradients are right for h0 = 0)
  cmu_hw3p1_assigned_backward: FAIL gradients_match_reference/grads_not_accumulated at b_n; then
      gradients_with_loss_on_last_state and gradients_at_extremes (grads_not_accumulated)
  cmu_old_nodes_backward: FAIL gradients_match_reference/None at dh_prev; then gradients_at_extremes
      (three slips at once, none named)
  mygrad_gru_backward: FAIL gradients_match_reference/dh0_missing at dh0; then
      gradients_with_loss_on_last_state, gradients_at_extremes, empty_sequence (dh0_missing)
  concat_x_h_one_layer_backward: FAIL gradients_match_reference/None at dh0; then
      gradients_with_loss_on_last_state, gradients_at_extremes, empty_sequence (dx and dh0 missing and the
      zero h_prev at t = 0: not named)
  cmu_described_preactivation_backward: FAIL gradients_match_reference/None at b_z; then
      gradients_at_extremes (tanh' and sigmoid' both wrong: not named as the pair)
  cmu_described_no_carry_backward: FAIL gradients_match_reference/None at dh_prev; then
      gradients_at_extremes (not named)
  cmu_described_hidden_bias_backward: FAIL gradients_at_extremes/None at b_hn; then output_contract:
      torch_layout's TiedGradientError (bias_ih[r] vs bias_hh[r]) is reported as the function raising

Summary: 7 of the 14 correct entries pass (6 of them with warnings). The other 7 fail for reasons
that are not wrong values: a raise at T = 0 (4: d2l_gru's own torch.cat, and the glue of PyDL forward
and backward and of the [x, h, 1] layer), which the SPEC makes a warning; bias=False still comparing,
or requiring, bias gradients (2); EpyNN's missing h0 (1). All 14 buggy entries fail; 4 get a named
diagnosis on their first failure (update_gate_ignored, non_finite_output, grads_not_accumulated,
dh0_missing), the other 10 none, including every entry whose slips come several at once.
"""

import dataclasses
from typing import Any, Callable, Dict, Tuple

import numpy as np

from . import (
    cmu_described,
    cmu_hw3p1,
    cmu_old,
    concat,
    d2l,
    dlfs2,
    epynn,
    mygrad_gru,
    pydl,
    temp_cell,
    torch_function_gru,
)

STYLE_CMU = "class cell, weights as attributes set by init_weights, one example, backward(delta) (CMU 11-785 HW3P1)"
STYLE_CMU_OLD = "older CMU cell: column vectors, no bias, Chung form"
STYLE_DLFS2 = ("layer object with params and grads lists, gates stacked z, r, h, state inside "
               "(Deep Learning from Scratch 2)")
STYLE_FRAMEWORK = "layer object of a small framework, weights in a dict, internal caches (PyDL, EpyNN, MyGrad)"
STYLE_D2L = "function on a list of 11 parameters, time-major (d2l.ai)"
STYLE_CONCAT = "one matrix over [1, x, h] or [h, x] concatenated"
STYLE_TORCH = "torch function or nn.Module in PyTorch layout"

STYLES = (STYLE_CMU, STYLE_CMU_OLD, STYLE_DLFS2, STYLE_FRAMEWORK, STYLE_D2L, STYLE_CONCAT, STYLE_TORCH)


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    imitates: str
    found: bool
    kind: str                      # "forward" or "backward"
    style: str
    correct: bool
    slips: Tuple[str, ...]
    native: Callable[[], Any]
    glue: Callable[..., Any]
    glue_lines: int
    check_kwargs: Dict[str, Any]
    notes: str = ""
    module: Any = None             # where the glue block lives
    zero_h0_only: bool = False     # the native object has no initial-state input
    #: for a correct entry, the one property the checker rightly fails, and why (the test holds it to that)
    known_failure: Tuple[str, str] = ("", "")

    @property
    def checked(self) -> Callable[..., Any]:
        """What a user hands the checker: the glue, or, for code with no initial state, the glue under
        ``adapters.no_initial_state`` (cases with h0 = 0 only; the glue's dh0 is not compared)."""
        if not self.zero_h0_only:
            return self.glue
        from gru_props.adapters import no_initial_state

        glue = self.glue

        def from_zeros(x, p, *rest):
            return glue(x, np.zeros((x.shape[0], p.H), x.dtype), p, *rest)

        from_zeros.__name__ = from_zeros.__qualname__ = getattr(glue, "__name__", "glue")
        return no_initial_state(from_zeros)


def _kw(step=False, interpolation="standard", reset_after=False, bias=True) -> Dict[str, Any]:
    return dict(step=step, interpolation=interpolation, reset_after=reset_after, bias=bias)


_D2L = "d2l.ai, Dive into Deep Learning, chapter_recurrent-modern/gru.md (d2l-ai/d2l-en), 'Implementation from Scratch'"
_CMU = ("CMU 11-785 Introduction to Deep Learning, HW3P1 mytorch/gru_cell.py GRUCell, "
        "as solved in public student repositories")
_CMU_OLD = "CMU 11-785, older handout's GRU_Cell (bias-free, Chung form), as solved in public student repositories"
_DLFS2 = "Deep Learning from Scratch 2 (oreilly-japan/deep-learning-from-scratch-2), common/time_layers.py GRU, TimeGRU"

ENTRIES = (
    # ------------------------------------------------------------ forward
    Entry(
        name="d2l_gru", imitates=_D2L, found=True, kind="forward", style=STYLE_D2L, correct=True, slips=(),
        native=d2l.make_gru, glue=d2l.d2l_gru_glue, glue_lines=7, module=d2l,
        check_kwargs=_kw(),
        notes="torch; the output layer is made the identity (W_hq = I, b_q = 0) so its outputs are the states; "
              "b_h carries b_n + b_hn; raises at T = 0 (torch.cat of no outputs) as torch.nn.GRU does",
    ),
    Entry(
        name="cmu_hw3p1_gru_cell", imitates=_CMU, found=True, kind="forward", style=STYLE_CMU, correct=True,
        slips=(), native=cmu_hw3p1.make_cell, glue=cmu_hw3p1.cmu_forward_glue, glue_lines=5, module=cmu_hw3p1,
        check_kwargs=_kw(step=True, reset_after=True),
        notes="step form, one example per call: a fresh cell per example; the 12 arrays are PyTorch's per-gate "
              "slices of weight_ih / weight_hh / bias_ih / bias_hh",
    ),
    Entry(
        name="cmu_old_gru_cell", imitates=_CMU_OLD, found=True, kind="forward", style=STYLE_CMU_OLD, correct=True,
        slips=(), native=cmu_old.make_cell, glue=cmu_old.cmu_old_forward_glue, glue_lines=5, module=cmu_old,
        check_kwargs=_kw(step=True, interpolation="chung", bias=False),
        notes="no biases: checked with bias=False; column-vector weights (transposed_weights); Chung form",
    ),
    Entry(
        name="dlfs2_time_gru", imitates=_DLFS2, found=True, kind="forward", style=STYLE_DLFS2, correct=True,
        slips=(), native=dlfs2.make_time_gru, glue=dlfs2.dlfs2_forward_glue, glue_lines=6, module=dlfs2,
        check_kwargs=_kw(interpolation="chung"),
        notes="stateful layer: h0 goes in with set_state, h_T is read back from layer.h; hs is written into a "
              "float32 buffer (dtype='f') whatever the input dtype, while the recurrence runs in float64: "
              "float64 in gives float32 hs out; b carries b_n + b_hn",
    ),
    Entry(
        name="pydl_gru_layer", imitates="PyDL (nash911/PyDL), pydl/nn/gru.py GRU layer", found=True,
        kind="forward", style=STYLE_FRAMEWORK, correct=True, slips=(), native=pydl.make_layer,
        glue=pydl.pydl_forward_glue, glue_lines=7, module=pydl,
        check_kwargs=_kw(),
        notes="one sequence at a time (unbatched), weights over [h, x] (concat_layout); the step count is fixed "
              "when the layer is built, so the glue builds one per call; the glue's h_T (the last entry of the "
              "returned dict) raises at T = 0",
    ),
    Entry(
        name="mygrad_gru", imitates="MyGrad (rsokl/MyGrad), src/mygrad/nnet/layers/gru.py gru", found=True,
        kind="forward", style=STYLE_FRAMEWORK, correct=True, slips=(), native=mygrad_gru.make_gru,
        glue=mygrad_gru.mygrad_forward_glue, glue_lines=4, module=mygrad_gru,
        check_kwargs=_kw(),
        notes="time-major; the result has T + 1 rows, row 0 being s0; MyGrad names input weights U and "
              "recurrent ones W (the reverse of gru_props); bh carries b_n + b_hn; T = 0 works",
    ),
    Entry(
        name="concat_x_h_one_layer",
        imitates="a NumPy GRULayer over [x, h, 1] from a sample-level audio model (public GitHub code, repository "
                 "not named in the index; gradient check after karpathy's min-char-rnn gist)",
        found=True, kind="forward", style=STYLE_CONCAT, correct=True, slips=(), native=concat.make_layer,
        glue=concat.concat_xh1_forward_glue, glue_lines=7, module=concat,
        check_kwargs=_kw(interpolation="chung"),
        notes="the bias is the last column of each (H, D + H + 1) matrix; one sequence per call; the glue's "
              "hs[-1] raises at T = 0",
    ),
    Entry(
        name="temp_gru_cell", imitates="TeMP (JiapengWu/TeMP), baselines/custom_gru.py GRUCell", found=True,
        kind="forward", style=STYLE_TORCH, correct=False,
        slips=("the update gate's pre-activation is missing its input term x_t W_z (and the input-side bias "
               "b_iz): z is computed from h_{t-1} alone",
               "the reset gate's pre-activation is missing its input term x_t W_r (and b_ir): r is computed "
               "from h_{t-1} alone"),
        native=temp_cell.make_cell, glue=temp_cell.temp_glue, glue_lines=10, module=temp_cell,
        check_kwargs=_kw(step=True, reset_after=True),
        notes="the module's weight_ih is (H, D) and bias_ih (H,), so the glue can only load the n rows; the "
              "same file's functional gru_cell is correct",
    ),
    Entry(
        name="epynn_gru", imitates="EpyNN (Synthaze/EpyNN), epynn/gru/forward.py and epynn/commons/maths.py",
        found=True, kind="forward", style=STYLE_FRAMEWORK, correct=False,
        slips=("the candidate's tanh is computed as (e^a - e^-a) / (e^a + e^-a), which is inf / inf = NaN for "
               "|a| > ~710 where tanh is +-1: the candidate (and the state) become NaN at saturated "
               "pre-activations",),
        native=epynn.make_layer, glue=epynn.epynn_forward_glue, glue_lines=6, module=epynn,
        check_kwargs=_kw(), zero_h0_only=True,
        notes="no h0 argument: always starts from zeros, so the glue cannot pass h0 on (gru_props has no option "
              "for that); raises at T = 0 (IndexError on step 0 of the cache); the sigmoid warns about overflow "
              "but is right",
    ),
    Entry(
        name="torch_function_tanh_gates",
        imitates="a PyTorch C++-extension GRU tutorial's Python GRUFunction / GRUCell (public GitHub code, "
                 "repository not named in the index)",
        found=True, kind="forward", style=STYLE_TORCH, correct=False,
        slips=("the reset gate uses tanh where the sigmoid belongs: r in (-1, 1) instead of (0, 1)",
               "the update gate uses tanh where the sigmoid belongs: z in (-1, 1), so the interpolation "
               "n + z (h - n) can leave the convex hull"),
        native=torch_function_gru.make_cell, glue=torch_function_gru.tanh_gates_glue, glue_lines=3,
        module=torch_function_gru, check_kwargs=_kw(step=True, reset_after=True),
        notes="torch.autograd.Function; its .squeeze() drops the batch axis at B = 1, which then raises",
    ),
    Entry(
        name="concat_module_no_candidate_bias",
        imitates="a GRU Module of a small NumPy framework over [h, x] (public GitHub code, repository not named "
                 "in the index)",
        found=True, kind="forward", style=STYLE_CONCAT, correct=False,
        slips=("the candidate's bias b_h (b_n + b_hn) is missing: it is created but never added to the "
               "candidate's pre-activation",),
        native=concat.make_module, glue=concat.concat_module_glue, glue_lines=10, module=concat,
        check_kwargs=_kw(interpolation="chung"),
        notes="forward(x) returns nothing and updates self.h; it takes a batch of exactly one sequence with "
              "T >= 1, so the glue steps it one x_t at a time and reads self.h; the glue's reshape raises at T = 0",
    ),
    Entry(
        name="d2l_class_candidate_twice",
        imitates="a learner's class version of d2l.ai's GRU (GRUModelScratch; public GitHub code, repository not "
                 "named in the index)",
        found=True, kind="forward", style=STYLE_D2L, correct=False,
        slips=("the interpolation's h_{t-1} term is taken from the candidate: h_t = z * n + (1 - z) * n, so "
               "h_t = n_t and the carried state term z * h_{t-1} is missing",),
        native=d2l.make_class_scratch, glue=d2l.d2l_class_glue, glue_lines=8, module=d2l,
        check_kwargs=_kw(),
        notes="the original one-hot encodes token indices in __call__; the look-alike takes the encoded inputs; "
              "parameters listed r first; raises at T = 0 (torch.cat)",
    ),
    Entry(
        name="d2l_matmul_for_hadamard",
        imitates="a learner's copy of d2l.ai's gru function (public GitHub code, repository not named in the index)",
        found=True, kind="forward", style=STYLE_D2L, correct=False,
        slips=("the reset gate is applied to h_{t-1} by a matrix product H @ R instead of elementwise r * h",
               "the interpolation uses matrix products, H @ Z + (1 - Z) @ H~, instead of elementwise "
               "z * h + (1 - z) * n"),
        native=d2l.make_gru_matmul, glue=d2l.d2l_matmul_glue, glue_lines=7, module=d2l,
        check_kwargs=_kw(),
        notes="runs only when B == H (otherwise the products raise); outputs concatenated along dim 1 (B, T*q); "
              "the original also lacks the import of F, not reproduced",
    ),
    Entry(
        name="d2l_reset_after_mix",
        imitates="a learner's d2l.ai-style gru function (public GitHub code, repository not named in the index)",
        found=True, kind="forward", style=STYLE_D2L, correct=False,
        slips=("the reset gate multiplies the recurrent product, r * (h W_hh), instead of h before it, "
               "(r * h) W_hh, while the candidate bias b_h stays outside the gate: neither d2l's equation nor "
               "PyTorch's (whose b_hn is gated)",),
        native=d2l.make_gru_gated_product, glue=d2l.d2l_gated_glue, glue_lines=5, module=d2l,
        check_kwargs=_kw(),
        notes="equals the reset-after GRU exactly when b_hn = 0; raises at T = 0 (reduce of no outputs)",
    ),
    # ----------------------------------------------------------- backward
    Entry(
        name="cmu_hw3p1_gru_cell_backward", imitates=_CMU, found=True, kind="backward", style=STYLE_CMU,
        correct=True, slips=(), native=cmu_hw3p1.make_cell, glue=cmu_hw3p1.cmu_backward_glue, glue_lines=10,
        module=cmu_hw3p1, check_kwargs=_kw(step=True, reset_after=True),
        notes="step form: a fresh cell per example and call; gradients read back from self.dWrx ... self.dbnh",
    ),
    Entry(
        name="cmu_hw3p1_nodes_backward",
        imitates=_CMU + " (a solution building the chain rule from unary and binary nodes)", found=True,
        kind="backward", style=STYLE_CMU, correct=True, slips=(), native=cmu_hw3p1.make_cell_nodes,
        glue=cmu_hw3p1.cmu_nodes_backward_glue, glue_lines=10, module=cmu_hw3p1,
        check_kwargs=_kw(step=True, reset_after=True),
        notes="biases named after PyTorch (bir ... bhn); node gradients are attributes never zeroed, harmless with "
              "a fresh cell per step as here, wrong for a cell reused for a second backward",
    ),
    Entry(
        name="cmu_old_gru_cell_backward", imitates=_CMU_OLD, found=True, kind="backward", style=STYLE_CMU_OLD,
        correct=True, slips=(), native=cmu_old.make_cell, glue=cmu_old.cmu_old_backward_glue, glue_lines=9,
        module=cmu_old, check_kwargs=_kw(step=True, interpolation="chung", bias=False),
        notes="bias-free; transposed_weights needs every field back, so the glue returns zero bias gradients",
    ),
    Entry(
        name="dlfs2_time_gru_backward", imitates=_DLFS2, found=True, kind="backward", style=STYLE_DLFS2,
        correct=True, slips=(), native=dlfs2.make_time_gru, glue=dlfs2.dlfs2_backward_glue, glue_lines=11,
        module=dlfs2, check_kwargs=_kw(interpolation="chung"),
        notes="backward(dhs) has no dh_T input: cache_backward folds it into dhs[:, -1]; dL/dh0 is read from "
              "layer.dh; dxs is a float32 buffer (dtype='f'); b's gradient serves b_n and b_hn",
    ),
    Entry(
        name="dlfs2_no_bias_backward",
        imitates=_DLFS2 + ", the repository's earlier bias-free version (GRU(Wx, Wh), self.dWx / self.dWh)",
        found=True, kind="backward", style=STYLE_DLFS2, correct=True, slips=(),
        native=dlfs2.make_time_gru_no_bias, glue=dlfs2.dlfs2_no_bias_backward_glue, glue_lines=9, module=dlfs2,
        check_kwargs=_kw(interpolation="chung", bias=False),
        notes="bias-free (the second correct bias-free cell; row vectors, not the CMU column style); at T = 0 "
              "the layer leaves self.dWx = 0 (an int) and the glue's split of it raises",
    ),
    Entry(
        name="pydl_gru_layer_backward", imitates="PyDL (nash911/PyDL), pydl/nn/gru.py GRU layer", found=True,
        kind="backward", style=STYLE_FRAMEWORK, correct=True, slips=(), native=pydl.make_layer,
        glue=pydl.pydl_backward_glue, glue_lines=13, module=pydl,
        check_kwargs=_kw(),
        notes="dL/dh0 only with tune_internal_states=True (_hidden_state_grad); gradients come back as dicts "
              "keyed by step; the glue raises at T = 0 (no last step to add dh_T to)",
    ),
    Entry(
        name="epynn_gru_backward",
        imitates="EpyNN (Synthaze/EpyNN), epynn/gru/backward.py and parameters.py", found=True, kind="backward",
        style=STYLE_FRAMEWORK, correct=True, slips=(), native=epynn.make_layer, glue=epynn.epynn_backward_glue,
        glue_lines=13, module=epynn, check_kwargs=_kw(), zero_h0_only=True,
        known_failure=("gradients_at_extremes", "its forward's tanh, an exp ratio, is NaN past |a| = 710, and so "
                       "are the gradients computed from it: the backward's formulas are right, its output is not"),
        notes="raises at T = 0 (IndexError: step 0 of an empty cache); no h0: the forward always starts from "
              "zeros, so its gradients are right only for h0 = 0; its tanh (an exp ratio) is NaN past |a| ~ 710, "
              "the forward entry's slip, which reaches these gradients through the forward values",
    ),
    Entry(
        name="cmu_hw3p1_assigned_backward",
        imitates=_CMU + " (a solution storing gradients with = instead of +=)", found=True, kind="backward",
        style=STYLE_CMU, correct=False,
        slips=("every weight and bias gradient is assigned instead of accumulated over time steps: only the "
               "contribution of the last step processed (t = 0) is kept in dW*, db*",),
        native=cmu_hw3p1.make_cell_assigned, glue=cmu_hw3p1.cmu_assigned_backward_glue, glue_lines=15,
        module=cmu_hw3p1, check_kwargs=_kw(reset_after=True),
        notes="sequence form: one cell for the whole sequence, forward re-run before each step's backward; "
              "right for a single call, which is all the handout's autograder makes",
    ),
    Entry(
        name="cmu_old_nodes_backward",
        imitates="nianiaele/gru-cell-in-numpy, gru.py (older CMU 11-785 GRU_Cell)", found=True, kind="backward",
        style=STYLE_CMU_OLD, correct=False,
        slips=("product rule swapped: for each elementwise product c = a * b, a receives grad * a and b receives "
               "grad * b (instead of grad * b and grad * a), at z * h~, (1 - z) * h_{t-1} and r * h_{t-1}",
               "wrong accumulator: the gradient of (1 - z) with respect to z, -dL/d(1 - z), is added to the "
               "(1 - z) node instead of to z, so z's gradient misses that term",
               "a forward value used as a gradient: the reset gate's pre-activation sum is propagated in place "
               "of its gradient into W_rx, W_rh, dx and dh_prev"),
        native=cmu_old.make_cell_nodes, glue=cmu_old.cmu_old_nodes_backward_glue, glue_lines=9, module=cmu_old,
        check_kwargs=_kw(step=True, interpolation="chung", bias=False),
        notes="bias-free, Chung form, column vectors; the weight gradients are zeroed at every backward call",
    ),
    Entry(
        name="mygrad_gru_backward", imitates="MyGrad (rsokl/MyGrad), src/mygrad/nnet/layers/gru.py GRUnit.backward",
        found=True, kind="backward", style=STYLE_FRAMEWORK, correct=False,
        slips=("dL/dh0 is missing: the gradient reaching the initial state (row 0 of the output and the first "
               "step's dh_prev) is dropped, s0 is not a variable of the operation",),
        native=mygrad_gru.make_gru, glue=mygrad_gru.mygrad_backward_glue, glue_lines=13, module=mygrad_gru,
        check_kwargs=_kw(),
        notes="the glue returns zeros when s0.grad stays None; the original updates the incoming gradient array "
              "in place (the look-alike copies it); every other gradient is right",
    ),
    Entry(
        name="concat_x_h_one_layer_backward",
        imitates="the audio model's NumPy GRULayer over [x, h, 1] (public GitHub code, repository not named "
                 "in the index)",
        found=True, kind="backward", style=STYLE_CONCAT, correct=False,
        slips=("h_{t-1} at t = 0 is taken as zeros instead of initial_h in the weight gradients dW, dWr, dWz "
               "and in the update gate's gradient (h~ - h_prev)",
               "dL/dx is missing: accumulated in a local array that is neither stored nor returned",
               "dL/dh0 is missing: the loop stops propagating at t = 0"),
        native=concat.make_layer, glue=concat.concat_xh1_backward_glue, glue_lines=15, module=concat,
        check_kwargs=_kw(interpolation="chung"),
        notes="backward(dh) returns nothing and updates dh in place (the glue passes a copy, with dh_T added); "
              "the glue has to return zeros for dx and dh0",
    ),
    Entry(
        name="cmu_described_preactivation_backward",
        imitates=_CMU + " (written from the round-3 notes' description, not from code read here)", found=False,
        kind="backward", style=STYLE_CMU, correct=False,
        slips=("tanh' is taken of the candidate's pre-activation a_n, as 1 - a_n**2, instead of 1 - n**2",
               "sigmoid' is taken of the gates' pre-activations, as a * (1 - a), instead of z * (1 - z) and "
               "r * (1 - r)"),
        native=cmu_described.make_preactivation, glue=cmu_described.preactivation_backward_glue, glue_lines=10,
        module=cmu_described, check_kwargs=_kw(step=True, reset_after=True),
        notes="its forward is the handout's and is right",
    ),
    Entry(
        name="cmu_described_no_carry_backward",
        imitates=_CMU + " (written from the round-3 notes' description, not from code read here)", found=False,
        kind="backward", style=STYLE_CMU, correct=False,
        slips=("dh_prev is missing the direct term delta * z (the path h_{t-1} -> h_t through the interpolation)",
               "the update gate's gradient is missing sigmoid': delta * (h - n) is used as the gradient of its "
               "pre-activation",
               "tanh' is taken from the wrong quantity: 1 - tanh(n)**2 with n already tanh of the pre-activation "
               "(tanh applied twice)"),
        native=cmu_described.make_no_carry, glue=cmu_described.no_carry_backward_glue, glue_lines=10,
        module=cmu_described, check_kwargs=_kw(step=True, reset_after=True),
    ),
    Entry(
        name="cmu_described_hidden_bias_backward",
        imitates=_CMU + " (written from the round-3 notes' description, not from code read here)", found=False,
        kind="backward", style=STYLE_CMU, correct=False,
        slips=("the recurrent biases' gradients (bias_hh: dbrh, dbzh, dbnh) are assigned instead of accumulated "
               "over time steps: only the last step processed (t = 0) is kept",),
        native=cmu_described.make_hidden_bias_assigned, glue=cmu_described.hidden_bias_backward_glue,
        glue_lines=15, module=cmu_described, check_kwargs=_kw(reset_after=True),
        notes="sequence form, one cell reused; bias_hh[r, z] then disagree with bias_ih[r, z], which "
              "torch_layout reports as a TiedGradientError",
    ),
)

BY_NAME = {e.name: e for e in ENTRIES}
