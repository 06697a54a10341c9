"""The sequence-cost stage's figure: time and FLOPs to generate N tokens, with fitted slopes."""

import numpy as np

from genstudy.theory.sequence_cost import EXPECTED_EXPONENT, KINDS


def figure(timings, flops, slopes: dict, fit_min_length: int, arch: dict):
    """Wall-clock time, time per token and FLOPs against N (log-log), with fitted slopes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"lstm": "tab:blue", "transformer_recompute": "tab:red", "transformer_kv_cache": "tab:green"}
    names = {
        "lstm": "LSTM",
        "transformer_recompute": "Transformer, recompute prefix",
        "transformer_kv_cache": "Transformer, KV cache",
    }
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    for kind in KINDS:
        ns, seconds = np.array(timings[kind]["n"]), np.array(timings[kind]["seconds"])
        c, s = colours[kind], slopes[kind]
        axes[0].loglog(
            ns,
            seconds,
            "o-",
            color=c,
            label=f"{names[kind]}: slope {s['time']:.2f} (N >= {fit_min_length}), O(N^{EXPECTED_EXPONENT[kind]})",
        )
        axes[1].loglog(ns, 1e3 * seconds / ns, "o-", color=c, label=names[kind])
        fn, fv = np.array(flops[kind]["n"]), np.array(flops[kind]["flops"], dtype=float)
        axes[2].loglog(
            fn,
            fv,
            "o-",
            color=c,
            ms=4,
            label=f"{names[kind]}: slope {s['flops_large_n']:.3f} at large N, "
            f"{s['flops_timed_range']:.2f} on the timed range",
        )
        # The asymptotic power law through the largest count, for comparison.
        axes[2].loglog(fn, fv[-1] * (fn / fn[-1]) ** EXPECTED_EXPONENT[kind], ":", color=c, lw=1)
    axes[0].axvspan(fit_min_length, max(max(t["n"]) for t in timings.values()) * 1.2, color="grey", alpha=0.08)
    axes[0].set_title("wall-clock time to generate N tokens (shaded: fit range)", fontsize=10)
    axes[0].set_ylabel("seconds (best of repeats)")
    axes[1].set_title("time per generated token: fixed per-step overhead at small N", fontsize=10)
    axes[1].set_ylabel("milliseconds per token")
    axes[2].set_title("matmul FLOPs to generate N tokens (dotted: N^1, N^3, N^2)", fontsize=10)
    axes[2].set_ylabel("FLOPs")
    for ax, where in zip(axes, ("lower right", "upper left", "lower right")):
        ax.set_xlabel("sequence length N")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc=where)
    fig.suptitle(
        f"Cost of generating a sequence: d_model {arch['d_model']}, {arch['n_layers']} layers, "
        f"{arch['n_head']} heads, vocabulary {arch['vocab']}, batch 1, greedy, CPU"
    )
    fig.tight_layout()
    return fig
