"""The report's theory section: the three questions answered from the theory stages' metrics."""

import pandas as pd

from genstudy.report.inputs import Inputs
from genstudy.report.markdown import missing, num, table

SEQ_KINDS = {
    "lstm": "LSTM",
    "transformer_recompute": "Transformer, recomputing the prefix",
    "transformer_kv_cache": "Transformer with a KV cache",
}


def theory_section(inp: Inputs) -> str:
    out = ["## Theory questions, answered by experiment", ""]
    out += [divergences(inp), sequence_cost(inp), gan2d(inp)]
    return "\n".join(out)


def divergences(inp: Inputs) -> str:
    out = [
        "### KL, JS and Wasserstein distance between two parallel segments",
        "",
        "P is uniform on the segment {0} × [0, 1], Q on {θ} × [0, 1]. For θ ≠ 0 the supports are disjoint:",
        "",
        "* **KL(P‖Q) = +∞ for θ ≠ 0, zero at θ = 0**: P puts mass where Q has density zero.",
        "* **JS(P, Q) = log 2 for θ ≠ 0, zero at θ = 0**: each distribution sits where the mixture is half "
        "of it, whatever the distance between them.",
        "* **W(P, Q) = |θ|**: the cheapest transport moves every point horizontally by |θ|.",
        "",
        "Only W gives a usable gradient: KL is infinite and JS is constant for every θ ≠ 0, so their gradient in "
        "θ is zero or undefined and tells a generator nothing about which way to move; dW/dθ = sign(θ) has "
        "magnitude one at any distance and points towards θ = 0. This is why a critic estimating W (WGAN) "
        "keeps training a generator whose samples do not yet overlap the data.",
        "",
    ]
    d = inp.json("metrics/theory/divergences.json")
    if d is None:
        return "\n".join(
            out + [missing("the measured estimates", [("metrics/theory/divergences.json", "theory_divergences")])]
        )
    w, js, kl = d["w"], d["js"], d["kl"]
    growth = [v for t, v in kl["knn_growth_per_ln_n"].items() if float(t) > 0]
    out += [
        f"Measured (exact optimal transport between samples, histogram and k-NN estimators): the W estimate "
        f"has fitted slope {num(w['fitted_slope_dW_dtheta'], 3)} in θ, within "
        f"{num(w['max_abs_error_theta_gt_0'], 3)} of |θ| for θ > 0, and a finite-difference gradient of "
        f"{num(w['mean_gradient_theta_gt_0'], 3)} on "
        f"average. The JS histogram estimate is within {sci(js['max_abs_error_vs_log2_away_from_jump'])} of "
        f"log 2 away from θ = 0, with gradient at most {sci(js['max_abs_gradient_away_from_jump'])}. The "
        f"always-finite k-NN KL estimate grows by {span(growth, 2)} nats per unit "
        f"of ln n for θ > 0 (it diverges as the sample grows) against "
        f"{num(kl['knn_growth_per_ln_n'][min(kl['knn_growth_per_ln_n'], key=float)], 3)} at θ = 0.",
        "",
        inp.figure(
            "reports/figures/theory/divergences.png",
            "KL, JS and W against θ: estimates and closed forms",
            "theory_divergences",
        ),
    ]
    return "\n".join(out)


def span(values, digits) -> str:
    low, high = num(min(values), digits), num(max(values), digits)
    return low if low == high else f"{low} to {high}"


def sci(value) -> str:
    return f"{value:.1e}"


def sequence_cost(inp: Inputs) -> str:
    out = [
        "### The cost of generating N tokens: LSTM vs Transformer",
        "",
        "* **LSTM**: each new token costs the same (one recurrent step on a fixed-size state): **O(N)** in all.",
        "* **Transformer, recomputing the prefix at every step**: step t runs the whole model on t tokens, "
        "O(t) projections and O(t²) attention, so the last token alone costs O(N²) and the sequence "
        "**O(N³)** (O(N²) per token on average).",
        "* **Transformer with a KV cache**: step t computes one new token's keys and values and attends to the t "
        "cached ones, O(t): **O(N²)** in all, O(N) per token.",
        "",
    ]
    s = inp.json("metrics/theory/sequence_cost.json")
    if s is None:
        return "\n".join(
            out + [missing("the measured slopes", [("metrics/theory/sequence_cost.json", "theory_sequence_cost")])]
        )
    rows = [
        [
            SEQ_KINDS[k],
            v["expected"],
            num(v["flops_large_n"], 3),
            num(v["flops_timed_range"], 3),
            num(v["time"], 3),
            f"{num(s['seconds_at_longest'][k]['seconds'], 2)} s at N = {s['seconds_at_longest'][k]['n']}",
        ]
        for k, v in s["slopes"].items()
    ]
    lengths = s["fit"]["flops_large_n_lengths"]
    out += [
        f"Fitted log-log slopes (cost ∝ N^slope): FLOPs from formulas that match torch's FLOP counter "
        f"exactly for N up to {s['flop_formulas_match_flopcounter_up_to']}, at large N (N = "
        f"{', '.join(str(n) for n in lengths)}) and over the timed range; wall-clock time fitted on "
        f"N ≥ {s['fit']['time_min_length']} (d_model {s['architecture']['d_model']}, "
        f"{s['architecture']['n_layers']} layers).",
        "",
        table(
            pd.DataFrame(
                rows,
                columns=[
                    "model",
                    "asymptotic exponent",
                    "FLOP slope, large N",
                    "FLOP slope, timed range",
                    "time slope",
                    "longest timed run",
                ],
            )
        ),
        "At small N the per-token overheads (and, for the Transformer, the projections linear in t) dominate, "
        "so the measured slopes approach the exponents only as N grows.",
        "",
        inp.figure(
            "reports/figures/theory/sequence_cost.png", "Time and FLOPs to generate N tokens", "theory_sequence_cost"
        ),
    ]
    return "\n".join(out)


def gan2d(inp: Inputs) -> str:
    out = ["### A GAN in two dimensions (in the spirit of GAN Lab)", ""]
    g = inp.json("metrics/theory/gan2d.json")
    if g is None:
        return "\n".join(out + [missing("the 2-D GAN", [("metrics/theory/gan2d.json", "theory_gan2d")])])
    final = g["final"]
    verdict = (
        f"**converged at epoch {g['converged_epoch']}**" if g["converged"] else "**did not converge** by that criterion"
    )
    out += [
        f"Target: a ring of {g['n_modes']} Gaussians. One epoch is {g['epoch_definition']}. Trained for "
        f"{g['epochs']} epochs, the GAN {verdict}. The criterion: {g['criterion']}. W1 between two real "
        f"samples (the noise floor) is {num(g['w1_floor'], 3)}, so the threshold is {num(g['w1_threshold'], 3)};"
        f" at the end W1 is {num(final['w1'], 3)} with {final['modes_covered']} of {g['n_modes']} modes covered "
        f"(evaluations meeting the criterion: {g['evaluations_meeting_criterion']}).",
        "",
        inp.figure(
            "reports/figures/theory/gan2d.png",
            "2-D GAN: samples, the discriminator's output and the generator's gradient at a few epochs; W1 and losses",
            "theory_gan2d",
        ),
    ]
    return "\n".join(out)
