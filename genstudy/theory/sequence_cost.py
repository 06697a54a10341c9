"""What it costs to generate a sequence of N tokens: an LSTM against a Transformer decoder.

Three generators, each producing one token per step (greedy argmax, batch 1):

- LSTM: the recurrent state (h, c) summarises the prefix, so every step costs the same,
  O(L d^2): O(N) for the sequence.
- Transformer, recomputing: at step t the whole prefix of t tokens goes through the
  network again (nanoGPT's `generate`). Linear layers cost O(L t d^2) and causal attention
  O(L t^2 d) per step; summed over t = 1..N that is O(N^2 d^2 + N^3 d): O(N^3) for the sequence.
- Transformer with a key-value cache: keys and values of earlier tokens are kept, so a step
  runs only the new token: O(L d^2) for its linear layers and O(L t d) to attend over t cached
  keys; summed, O(N d^2 + N^2 d): O(N^2) for the sequence.

Matmul FLOPs per full sequence (2 per multiply-add; L layers, width d, vocabulary V; the
counts torch.utils.flop_counter.FlopCounterMode reports, which the tests check):

    LSTM       N (16 L d^2 + 2 d V)
    recompute  L (12 d^2 N(N+1) + (2/3) d N(N+1)(2N+1)) + 2 d V N
    KV cache   L (24 d^2 N + 2 d N(N+1)) + 2 d V N

(FlopCounterMode counts causal attention as the full t x t square, as the kernel computes it.)

Why the measured slopes differ from the asymptotic exponents 1, 3, 2:
- The lower-order terms are not small at these sizes. With d = 64 the recompute cost's
  attention term overtakes its linear-layer term only past N ~ 9d ~ 600, and the KV cache's
  attention term overtakes its linear layers past N ~ 12d ~ 800. Log-log FLOP slopes are
  2.47 (recompute, N = 256..1024) and 1.55 (KV cache, N = 256..4096) on the timed ranges,
  2.87 and 1.83 on N = 2k..8k, and 2.98 and 1.97 on N = 16k..64k: still climbing to 3 and 2.
- Wall-clock time has a fixed cost per step: Python and PyTorch dispatch for a few dozen small
  kernels, ~0.1-1 ms, against ~2e5 FLOPs of real work (~2 us) for an early KV-cache step. The LSTM and the
  KV cache are dominated by it at every N measured here, so their wall-clock slopes are ~1;
  only the recomputing Transformer, whose per-step work grows like t^2, leaves the overhead
  regime, and its slope approaches the FLOP slope at large N. Fit wall-clock slopes on the
  large-N end only; FLOP counts carry the asymptotics.
"""

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

KINDS = ("lstm", "transformer_recompute", "transformer_kv_cache")
EXPECTED_EXPONENT = {"lstm": 1, "transformer_recompute": 3, "transformer_kv_cache": 2}


class LSTMGenerator(nn.Module):
    def __init__(self, vocab: int, d_model: int, n_layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.lstm = nn.LSTM(d_model, d_model, n_layers, batch_first=True)
        self.head = nn.Linear(d_model, vocab)

    @torch.no_grad()
    def generate(self, n: int, start: int = 0, on_step=None):
        """n tokens after `start`, greedy; (1, n) int64."""
        device = self.head.weight.device
        out = torch.full((1, n + 1), start, dtype=torch.long, device=device)
        state = None
        for t in range(n):
            h, state = self.lstm(self.embed(out[:, t : t + 1]), state)  # (1, 1, d), state carries the prefix
            out[:, t + 1] = self.head(h[:, -1]).argmax(-1)  # (1,)
            if on_step:
                on_step(t + 1)
        return out[:, 1:]


class Block(nn.Module):
    """Pre-norm Transformer block (nanoGPT) that can read and fill a key-value cache."""

    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x, cache=None, pos: int = 0):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (a.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for a in (q, k, v))  # (B, H, T, hd)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, hd)
        else:
            # The new tokens' keys and values go into the preallocated cache; the queries
            # attend to everything cached so far (all of it is in their past).
            keys, values = cache  # (B, H, N, hd) each
            keys[:, :, pos : pos + T], values[:, :, pos : pos + T] = k, v
            y = F.scaled_dot_product_attention(q, keys[:, :, : pos + T], values[:, :, : pos + T])
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln2(x))


class TransformerGenerator(nn.Module):
    def __init__(self, vocab: int, d_model: int, n_layers: int, n_head: int, max_len: int):
        super().__init__()
        self.n_head, self.max_len = n_head, max_len
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_head) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, idx, caches=None, pos: int = 0):
        """Logits for the token after idx (1, T) whose first token sits at position `pos`: (1, V)."""
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(pos, pos + T, device=idx.device))  # (1, T, d)
        for i, block in enumerate(self.blocks):
            x = block(x, caches[i] if caches else None, pos)
        return self.head(self.ln_f(x[:, -1]))  # only the last position is needed

    @torch.no_grad()
    def generate(self, n: int, start: int = 0, kv_cache: bool = True, on_step=None):
        """n tokens after `start`, greedy; (1, n) int64. kv_cache=False recomputes the prefix."""
        if n > self.max_len:
            raise ValueError(f"n = {n} exceeds the model's max_len = {self.max_len}")
        device = self.head.weight.device
        out = torch.full((1, n + 1), start, dtype=torch.long, device=device)
        d = self.head.in_features
        caches = (
            [
                (
                    torch.zeros(1, self.n_head, n, d // self.n_head, device=device),
                    torch.zeros(1, self.n_head, n, d // self.n_head, device=device),
                )
                for _ in self.blocks
            ]
            if kv_cache
            else None
        )
        for t in range(n):
            if kv_cache:
                logits = self(out[:, t : t + 1], caches, pos=t)  # the newest token only
            else:
                logits = self(out[:, : t + 1])  # the whole prefix, every step
            out[:, t + 1] = logits.argmax(-1)
            if on_step:
                on_step(t + 1)
        return out[:, 1:]


def build(
    kind: str, *, vocab: int, d_model: int, n_layers: int, n_head: int, max_len: int, seed: int = 0, device="cpu"
) -> nn.Module:
    """A generator of `kind` with seeded random weights (costs do not depend on training)."""
    torch.manual_seed(seed)
    with torch.device(device):
        if kind == "lstm":
            return LSTMGenerator(vocab, d_model, n_layers).eval()
        return TransformerGenerator(vocab, d_model, n_layers, n_head, max_len).eval()


def generate(model: nn.Module, kind: str, n: int, on_step=None):
    if kind == "lstm":
        return model.generate(n, on_step=on_step)
    return model.generate(n, kv_cache=kind == "transformer_kv_cache", on_step=on_step)


def analytic_flops(kind: str, n: int, *, vocab: int, d_model: int, n_layers: int) -> int:
    """Matmul FLOPs to generate n tokens (the formulas in the module docstring)."""
    d, L, head = d_model, n_layers, 2 * d_model * vocab * n
    if kind == "lstm":
        return n * 16 * L * d * d + head
    if kind == "transformer_recompute":
        return L * (12 * d * d * n * (n + 1) + 2 * d * n * (n + 1) * (2 * n + 1) // 3) + head
    if kind == "transformer_kv_cache":
        return L * (24 * d * d * n + 2 * d * n * (n + 1)) + head
    raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")


def counted_flops(kind: str, lengths, **arch) -> dict:
    """FLOPs FlopCounterMode counts for generating n tokens, for every n in `lengths`.

    One generation of max(lengths) tokens on the meta device (shapes only, no arithmetic, so
    it costs dispatch time, not FLOPs), reading the running total after each step: the first
    n steps of a longer run are exactly a run of n steps.
    """
    lengths = sorted(lengths)
    model = build(kind, max_len=max(lengths), device="meta", **arch)
    totals, wanted = {}, set(lengths)
    with FlopCounterMode(display=False) as counter:

        def record(t):
            if t in wanted:
                totals[t] = counter.get_total_flops()

        generate(model, kind, max(lengths), on_step=record)
    return totals


def time_generation(model: nn.Module, kind: str, n: int) -> float:
    """Wall-clock seconds to generate n tokens, once."""
    with torch.inference_mode():
        start = time.perf_counter()
        generate(model, kind, n)
        return time.perf_counter() - start


def time_grid(models: dict, lengths: dict, repeats: int, budget_s: float = float("inf"), progress=None) -> dict:
    """Best-of-`repeats` seconds for every (kind, n): {kind: [seconds per n in lengths[kind]]}.

    Rounds run over the whole grid, so a burst of other work on a shared machine slows one
    round of many lengths rather than every repeat of one length; the minimum is the least
    disturbed run. A length whose first run took `budget_s` or more is not repeated (long runs
    are relatively less noisy, and repeating them would dominate the stage's time).
    """
    for kind, model in models.items():
        time_generation(model, kind, 8)  # warm-up: first calls allocate and dispatch
    best = {kind: [float("inf")] * len(lengths[kind]) for kind in models}
    jobs = [(kind, i) for kind in models for i in range(len(lengths[kind]))]
    for round_ in range(repeats):
        todo = [(k, i) for k, i in jobs if round_ == 0 or best[k][i] < budget_s]
        for kind, i in progress(todo, round_) if progress else todo:
            best[kind][i] = min(best[kind][i], time_generation(models[kind], kind, lengths[kind][i]))
    return best


def loglog_slope(ns, values, min_n: int) -> float:
    """Least-squares slope of log(value) on log(n) over the points with n >= min_n (needs two)."""
    ns, values = np.asarray(ns, dtype=float), np.asarray(values, dtype=float)
    keep = ns >= min_n
    if keep.sum() < 2:
        raise ValueError(f"need at least two lengths >= {min_n} to fit a slope, got {ns[keep].tolist()}")
    return float(np.polyfit(np.log(ns[keep]), np.log(values[keep]), 1)[0])


def check_flop_formulas(arch: dict, up_to: int):
    """FlopCounterMode (on the meta device) must count exactly the analytic FLOPs for N = 1..up_to."""
    sizes = {k: arch[k] for k in ("vocab", "d_model", "n_layers")}
    for kind in KINDS:
        counted = counted_flops(kind, range(1, up_to + 1), **arch)
        for n, value in counted.items():
            expected = analytic_flops(kind, n, **sizes)
            if value != expected:
                raise AssertionError(f"{kind}, N = {n}: FlopCounterMode counts {value} FLOPs, the formula {expected}")


def analyse(seconds: dict, timed: dict, flop_lengths: list, fit_min: int, arch: dict, flop_check_length: int):
    """(timings, flops, slopes, table, summary) of measured seconds per kind and length, with analytic FLOPs."""
    import pandas as pd

    sizes = {k: arch[k] for k in ("vocab", "d_model", "n_layers")}
    lengths = sorted({n for ns in timed.values() for n in ns})
    timings, flops, slopes = {}, {}, {}
    for kind in KINDS:
        timings[kind] = {"n": timed[kind], "seconds": seconds[kind]}
        flops[kind] = {"n": flop_lengths, "flops": [analytic_flops(kind, n, **sizes) for n in flop_lengths]}
        fitted = [n for n in timed[kind] if n >= fit_min]
        slopes[kind] = {
            "time": loglog_slope(timed[kind], seconds[kind], fit_min),
            "flops_timed_range": loglog_slope(fitted, [analytic_flops(kind, n, **sizes) for n in fitted], fit_min),
            "flops_large_n": loglog_slope(flop_lengths[-3:], flops[kind]["flops"][-3:], flop_lengths[-3]),
            "expected": EXPECTED_EXPONENT[kind],
        }

    table = pd.DataFrame({"n": flop_lengths})
    for kind in KINDS:
        table[f"{kind}_seconds"] = table["n"].map(dict(zip(timings[kind]["n"], timings[kind]["seconds"])))
        table[f"{kind}_flops"] = flops[kind]["flops"]
    summary = {
        "slopes": slopes,
        "fit": {"time_min_length": fit_min, "flops_large_n_lengths": flop_lengths[-3:]},
        "seconds_at_longest": {k: {"n": t["n"][-1], "seconds": t["seconds"][-1]} for k, t in timings.items()},
        "ms_per_token": {
            k: {"shortest": 1e3 * t["seconds"][0] / t["n"][0], "longest": 1e3 * t["seconds"][-1] / t["n"][-1]}
            for k, t in timings.items()
        },
        "flops_at_longest_timed": {k: analytic_flops(k, max(lengths), **sizes) for k in KINDS},
        "flop_formulas_match_flopcounter_up_to": flop_check_length,
        "architecture": arch,
    }
    return timings, flops, slopes, table, summary
