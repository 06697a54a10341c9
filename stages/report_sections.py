"""The report's sections, each from the DVC outputs it reads (used by stages/report.py).

Each function returns markdown. An input that is not built yet turns its part into a note naming
the stage that makes it (genstudy.report.missing); everything else is still reported. Every
number comes from a metrics file through genstudy.report.num/pm.
"""

import json
from pathlib import Path

import pandas as pd

from genstudy import references
from genstudy.report import figure, missing, num, pm, table
from stages.gan_table import METHOD_NAMES as GAN_METHODS

REPORT_DIR = Path("reports")  # figure paths in the report are relative to it
M1_METHODS = {"m1": "M1 + SVM", "m1_transductive": "M1 + label spreading + SVM (transductive)",
              "raw_pixels": "SVM on raw pixels (baseline)"}
SEQ_KINDS = {"lstm": "LSTM", "transformer_recompute": "Transformer, recomputing the prefix",
             "transformer_kv_cache": "Transformer with a KV cache"}


class Inputs:
    """Reads the pipeline's outputs and remembers the missing ones with the stage that makes each."""

    def __init__(self, root: Path = Path(".")):
        self.root = root

    def json(self, path: str):
        file = self.root / path
        return json.loads(file.read_text()) if file.exists() else None

    def has(self, path: str) -> bool:
        return (self.root / path).exists()

    def figure(self, path: str, caption: str, stage: str) -> str:
        """The figure if it exists, else the missing note."""
        if not self.has(path):
            return missing(caption, [(path, stage)])
        return figure(str(Path(path).relative_to(REPORT_DIR)), caption)


# --- M1 ---------------------------------------------------------------------------------------


def svm_path(features: str, n, seed) -> str:
    return f"metrics/svm/{features}-n{n}-seed{seed}.json"  # as stages/fit_svm.py writes them


def m1_tables(summary: dict, dataset: str) -> str:
    counts = sorted({int(n) for per_n in summary.values() for n in per_n})
    cols = [f"N = {n}" for n in counts]
    ours = [m for m in M1_METHODS if m in summary]
    seeds = sorted({summary[m][str(n)]["seeds"] for m in ours for n in counts if str(n) in summary[m]})

    def row(method, key, digits):
        cells = summary[method]
        return [M1_METHODS[method]] + [pm(cells[str(n)][f"{key}_mean"], cells[str(n)][f"{key}_std"], digits)
                                       if str(n) in cells else "–" for n in counts]

    error = pd.DataFrame([row(m, "error", 2) for m in ours], columns=["method"] + cols)
    paper = references.PAPER_MNIST_M1_TSVM_ERROR
    error.loc[len(error)] = (["reference: M1 + TSVM on **MNIST** (Kingma et al. 2014, Table 1)"]
                             + [f"{paper[n][0]:g} ± {paper[n][1]:g}" if n in paper else "–" for n in counts])
    accuracy = pd.DataFrame([row(m, "accuracy", 4) for m in ours], columns=["method"] + cols)
    if dataset == "fashion_mnist":
        for name, ref in references.FASHION_REFERENCES.items():
            accuracy.loc[len(accuracy)] = [f"reference: {name} (Fashion-MNIST)"] + [
                f"{ref[n]:.4f}" if n in ref else "–" for n in counts]
    seeds_text = " or ".join(str(s) for s in seeds)
    full = references.FASHION_RAW_PIXELS_ALL_LABELS
    return "\n".join([
        f"**Test error (%)** on {dataset}, mean ± std over {seeds_text} label subsets (seeds), "
        "in the layout of the paper's Table 1:", "", table(error),
        f"**Test accuracy**, mean ± std over {seeds_text} seeds:", "", table(accuracy),
        f"For scale: with all N = {full['n']:,} labels an RBF SVC on raw pixels reaches {full['accuracy']:.3f} "
        "(published reference)." if dataset == "fashion_mnist" else "", ""])


def hyperparameters(inp: Inputs, counts, seeds) -> str:
    """Kernel, C and gamma factor chosen for each seed, from metrics/svm/*.json."""
    rows, folds, absent = [], set(), []
    for features, methods in (("m1", ("m1", "m1_transductive")), ("pixels", ("pixels",))):
        results = {}
        for n in counts:
            for seed in seeds:
                result = inp.json(svm_path(features, n, seed))
                if result is None:
                    absent.append((svm_path(features, n, seed), f"fit_svm_{features}@{n}-{seed}"))
                else:
                    results[n, seed] = result["methods"]
        for method in methods:
            for n in counts:
                chosen = [results[n, s][method] for s in seeds if (n, s) in results]
                if not chosen:
                    continue
                folds |= {c["cv_folds"] for c in chosen}
                gammas = [f"{c['gamma_factor']:g}" if c.get("gamma_factor") is not None else "–" for c in chosen]
                rows.append([M1_METHODS["raw_pixels" if method == "pixels" else method], n,
                             ", ".join(sorted({c["kernel"] for c in chosen})),
                             ", ".join(sorted({"+".join(c.get("augment", [])) or "none" for c in chosen})),
                             ", ".join(f"{c['C']:g}" for c in chosen), ", ".join(gammas)])
    out = []
    if rows:
        out += [f"**Classifier and selected hyperparameters.** scikit-learn's SVC; C and γ chosen for each seed by "
                f"stratified {'/'.join(str(f) for f in sorted(folds))}-fold cross-validation on the N labelled "
                "images only (γ as a multiple of sklearn's `gamma='scale'`), listed in seed order. *Copies*: "
                "label-preserving copies of each labelled image (`svm.augment`) that join its training folds, "
                "never a held-out fold:", "",
                table(pd.DataFrame(rows, columns=["method", "N", "kernel", "copies", "C per seed",
                                                  "γ factor per seed"]))]
    if absent:
        out.append(missing("the hyperparameters of some SVM fits", absent))
    return "\n".join(out)


def m1_section(inp: Inputs, counts, seeds, dataset) -> str:
    out = ["## M1: a VAE's latent means as features for an SVM", "",
           "Kingma et al. (2014), M1: a VAE trained on all training images without labels; an SVM on the "
           "posterior means μ(x) of N labelled images (as many of each class), evaluated on the test set.", ""]
    vae = inp.json("metrics/vae.json")
    if vae is None:
        out.append(missing("VAE results", [("metrics/vae.json", "train_vae")]))
    else:
        out += [f"The VAE trained {vae['epochs']} epochs: ELBO {num(vae['train_elbo'], 1)} nats per image on the "
                f"training set and {num(vae['test_elbo'], 1)} on the test set (KL term {num(vae['test_kl'], 1)}); "
                f"{vae['active_units']} latent units active.", ""]
    summary = inp.json("metrics/m1.json")
    if summary is None:
        out.append(missing("the Table 1-style results", [("metrics/m1.json", "m1_table")]))
    else:
        out.append(m1_tables(summary, dataset))
    out.append(hyperparameters(inp, counts, seeds))
    out += [inp.figure("reports/figures/m1/accuracy_vs_n.png", "Test accuracy against the number of labels N",
                       "m1_table"),
            inp.figure("reports/figures/vae/elbo.png", "VAE: ELBO per epoch, training and test set", "train_vae"),
            inp.figure("reports/figures/vae/reconstructions.png", "VAE: test images and their reconstructions",
                       "train_vae"),
            inp.figure("reports/figures/vae/samples.png", "VAE: samples from the prior", "train_vae"),
            inp.figure("reports/figures/vae/latent_map.png", "VAE: test latent means by class (PCA to two "
                       "dimensions)", "train_vae")]
    return "\n".join(out)


# --- GANs -------------------------------------------------------------------------------------


def run_name(arch, method) -> str:
    return f"{arch}-{method}"


def gan_losses_section(inp: Inputs, archs, methods) -> str:
    out = ["## GAN training: losses", "",
           "Class-conditional GANs (Gulrajani et al. 2017): each architecture trained with each objective. "
           "One plot per architecture, one panel per method with its own y axis (the objectives' losses differ in "
           "scale); faint lines are per-iteration values, solid lines rolling means.", ""]
    for arch in archs:
        out.append(inp.figure(f"reports/figures/gan_overview/losses_{arch}.png",
                              f"{arch} architecture: critic and generator loss of "
                              + ", ".join(GAN_METHODS[m] for m in methods), "gan_figures"))
    return "\n".join(out)


def gan_samples_section(inp: Inputs, archs, methods) -> str:
    out = ["## GAN samples", ""]
    choice = inp.json("metrics/gan_figures.json")
    if choice is None or choice.get("chosen_arch") is None:
        out.append(missing("the choice of architecture and the two-label figure",
                           [("metrics/gan_figures.json", "gan_figures")]))
    else:
        means = "; ".join(f"`{a}` {num(v['mean_frechet_distance'], 2)} (judge accuracy "
                          f"{num(v['mean_judge_accuracy'], 4)}, over {', '.join(v['methods'])})"
                          for a, v in choice["per_arch"].items())
        labels = " and ".join(choice["labels"])
        out += [f"Better architecture: **`{choice['chosen_arch']}`**, by the {choice['rule']}: mean Fréchet "
                f"distance {means}. Below, its samples of {labels}: {choice['images_per_label']} generated "
                f"images of each label from every method (the same noise for each method) and "
                f"{choice['images_per_label']} real test images of each.", "",
                inp.figure("reports/figures/gan_overview/two_labels.png",
                           f"{choice['chosen_arch']}: generated ({', '.join(GAN_METHODS[m] for m in methods)}) "
                           f"and real images of {labels}", "gan_figures")]
        if choice.get("runs_not_evaluated"):
            out.append(f"Runs not evaluated when the choice was made: "
                       f"{', '.join('`' + r + '`' for r in choice['runs_not_evaluated'])}.\n")
    out += ["Each run's samples, ten of every class, a row per class (the judge's scores in the titles):", ""]
    for arch in archs:
        for method in methods:
            run = run_name(arch, method)
            out.append(inp.figure(f"reports/figures/gan/samples/{run}.png", f"{run}: ten samples per class",
                                  f"evaluate_gan@{run}"))
    return "\n".join(out)


def gan_metrics_section(inp: Inputs, archs, methods) -> str:
    out = ["## GAN metrics", "",
           "Scored by the judge, a classifier trained in the pipeline: its accuracy on conditional samples "
           "against their conditioning labels, the Fréchet distance between its penultimate features of samples "
           "and of the test set, and diversity (mean within-class feature distance of samples over that of real "
           "test images: one means as varied as real).", ""]
    judge = inp.json("metrics/judge.json")
    if judge is None:
        out.append(missing("the judge", [("metrics/judge.json", "train_judge")]))
    else:
        out += [f"The judge: test accuracy {num(judge['test_accuracy'], 4)} after {judge['epochs']} epochs.", ""]
    found, absent = each_run(inp, archs, methods, "metrics/gan/{run}.json", "evaluate_gan")
    rows = [[run, arch, GAN_METHODS[method], f"{m['n']:,}", num(m["judge_accuracy"], 4),
             num(m["frechet_distance"], 2), num(m["diversity"], 3),
             "yes" if m["converged"] else "no (last attempt kept)"] for method, arch, run, m in found]
    reference = inp.json("metrics/gan/reference.json")
    if reference is not None:
        n = f"{reference['n']:,}"
        rows += [["reference: real training images", "", "", n, num(reference["judge_accuracy_train"], 4),
                  num(reference["frechet_distance_train_test"], 2), num(reference["diversity_train"], 3), ""],
                 ["reference: real test images", "", "", n, num(reference["judge_accuracy_test"], 4),
                  "– (the reference set)", "– (the reference set)", ""],
                 ["reference: M1 VAE, samples of the prior", "", "", n, "",
                  num(reference["frechet_distance_vae_samples"], 2), "", ""]]
    else:
        absent.append(("metrics/gan/reference.json", "gan_reference"))
    if rows:
        out.append(table(pd.DataFrame(rows, columns=["run", "architecture", "method", "images", "judge accuracy",
                                                     "Fréchet distance", "diversity", "converged"])))
    if absent:
        out.append(missing("the scores of some runs", absent))
    summary = inp.json("metrics/gan_summary.json")
    bar = (summary or {}).get("issue3_bar")
    if bar:
        out.append(f"Issue 3's bar (WGAN-GP of the better architecture by its Fréchet distance, `{bar['arch']}`: "
                   f"judge accuracy at the bar of `stages/gan_table.py` and Fréchet distance below the VAE "
                   f"samples'): "
                   f"**{'met' if bar['met'] else 'not met'}** ({num(bar['judge_accuracy'], 4)}; "
                   f"{num(bar['frechet_distance'], 2)} against {num(bar['frechet_distance_vae_samples'], 2)}).\n")
    elif summary is None:
        out.append(missing("the summary table's verdict", [("metrics/gan_summary.json", "gan_table")]))
    out += [failures(inp, archs, methods),
            inp.figure("reports/figures/gan_per_class_accuracy.png", "Judge accuracy per conditioning class",
                       "gan_table")]
    return "\n".join(out)


def each_run(inp: Inputs, archs, methods, path: str, stage: str):
    """([(method, arch, run, json of `path`)] for the runs that have it, [(path, stage) of those that do not]),
    grouped by method."""
    found, absent = [], []
    for method in methods:
        for arch in archs:
            run = run_name(arch, method)
            data = inp.json(path.format(run=run))
            if data is None:
                absent.append((path.format(run=run), f"{stage}@{run}"))
            else:
                found.append((method, arch, run, data))
    return found, absent


def failures(inp: Inputs, archs, methods) -> str:
    """Failed-convergence counts and causes, grouped by method."""
    found, absent = each_run(inp, archs, methods, "metrics/gan/train/{run}.json", "train_gan")
    rows = []
    for method, arch, run, record in found:
        causes = "; ".join(f"attempt {f['attempt']} (seed {f['seed']}, iteration {f['iteration']}): "
                           f"{f['cause']} → {f['action']}" for f in record["failures"]) or "none"
        rows.append([GAN_METHODS[method], arch, record["iterations"], record["attempts"],
                     record["failed_attempts"], causes])
    out = ["**Failed convergence**, per method (a failed attempt restarts at the next seed):", ""]
    if rows:
        out.append(table(pd.DataFrame(rows, columns=["method", "architecture", "generator iterations", "attempts",
                                                     "failed attempts", "causes"])))
    if absent:
        out.append(missing("the training records of some runs", absent))
    return "\n".join(out)


# --- theory -----------------------------------------------------------------------------------


def theory_section(inp: Inputs) -> str:
    out = ["## Theory questions, answered by experiment", ""]
    out += [divergences(inp), sequence_cost(inp), gan2d(inp)]
    return "\n".join(out)


def divergences(inp: Inputs) -> str:
    out = ["### KL, JS and Wasserstein distance between two parallel segments", "",
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
           "keeps training a generator whose samples do not yet overlap the data.", ""]
    d = inp.json("metrics/theory/divergences.json")
    if d is None:
        return "\n".join(out + [missing("the measured estimates", [("metrics/theory/divergences.json",
                                                                      "theory_divergences")])])
    w, js, kl = d["w"], d["js"], d["kl"]
    growth = [v for t, v in kl["knn_growth_per_ln_n"].items() if float(t) > 0]
    out += [f"Measured (exact optimal transport between samples, histogram and k-NN estimators): the W estimate "
            f"has fitted slope {num(w['fitted_slope_dW_dtheta'], 3)} in θ, within "
            f"{num(w['max_abs_error_theta_gt_0'], 3)} of |θ| for θ > 0, and a finite-difference gradient of {num(w['mean_gradient_theta_gt_0'], 3)} on "
            f"average. The JS histogram estimate is within {sci(js['max_abs_error_vs_log2_away_from_jump'])} of "
            f"log 2 away from θ = 0, with gradient at most {sci(js['max_abs_gradient_away_from_jump'])}. The "
            f"always-finite k-NN KL estimate grows by {span(growth, 2)} nats per unit "
            f"of ln n for θ > 0 (it diverges as the sample grows) against "
            f"{num(kl['knn_growth_per_ln_n'][min(kl['knn_growth_per_ln_n'], key=float)], 3)} at θ = 0.", "",
            inp.figure("reports/figures/theory/divergences.png", "KL, JS and W against θ: estimates and closed forms",
                       "theory_divergences")]
    return "\n".join(out)


def span(values, digits) -> str:
    low, high = num(min(values), digits), num(max(values), digits)
    return low if low == high else f"{low} to {high}"


def sci(value) -> str:
    return f"{value:.1e}"


def sequence_cost(inp: Inputs) -> str:
    out = ["### The cost of generating N tokens: LSTM vs Transformer", "",
           "* **LSTM**: each new token costs the same (one recurrent step on a fixed-size state): **O(N)** in all.",
           "* **Transformer, recomputing the prefix at every step**: step t runs the whole model on t tokens, "
           "O(t) projections and O(t²) attention, so the last token alone costs O(N²) and the sequence "
           "**O(N³)** (O(N²) per token on average).",
           "* **Transformer with a KV cache**: step t computes one new token's keys and values and attends to the t "
           "cached ones, O(t): **O(N²)** in all, O(N) per token.", ""]
    s = inp.json("metrics/theory/sequence_cost.json")
    if s is None:
        return "\n".join(out + [missing("the measured slopes", [("metrics/theory/sequence_cost.json",
                                                                  "theory_sequence_cost")])])
    rows = [[SEQ_KINDS[k], v["expected"], num(v["flops_large_n"], 3), num(v["flops_timed_range"], 3),
             num(v["time"], 3), f"{num(s['seconds_at_longest'][k]['seconds'], 2)} s at N = "
             f"{s['seconds_at_longest'][k]['n']}"] for k, v in s["slopes"].items()]
    lengths = s["fit"]["flops_large_n_lengths"]
    out += [f"Fitted log-log slopes (cost ∝ N^slope): FLOPs from formulas that match torch's FLOP counter "
            f"exactly for N up to {s['flop_formulas_match_flopcounter_up_to']}, at large N (N = "
            f"{', '.join(str(n) for n in lengths)}) and over the timed range; wall-clock time fitted on "
            f"N ≥ {s['fit']['time_min_length']} (d_model {s['architecture']['d_model']}, "
            f"{s['architecture']['n_layers']} layers).", "",
            table(pd.DataFrame(rows, columns=["model", "asymptotic exponent", "FLOP slope, large N",
                                              "FLOP slope, timed range", "time slope", "longest timed run"])),
            "At small N the per-token overheads (and, for the Transformer, the projections linear in t) dominate, "
            "so the measured slopes approach the exponents only as N grows.", "",
            inp.figure("reports/figures/theory/sequence_cost.png", "Time and FLOPs to generate N tokens",
                       "theory_sequence_cost")]
    return "\n".join(out)


def gan2d(inp: Inputs) -> str:
    out = ["### A GAN in two dimensions (in the spirit of GAN Lab)", ""]
    g = inp.json("metrics/theory/gan2d.json")
    if g is None:
        return "\n".join(out + [missing("the 2-D GAN", [("metrics/theory/gan2d.json", "theory_gan2d")])])
    final = g["final"]
    verdict = (f"**converged at epoch {g['converged_epoch']}**" if g["converged"]
               else "**did not converge** by that criterion")
    out += [f"Target: a ring of {g['n_modes']} Gaussians. One epoch is {g['epoch_definition']}. Trained for "
            f"{g['epochs']} epochs, the GAN {verdict}. The criterion: {g['criterion']}. W1 between two real "
            f"samples (the noise floor) is {num(g['w1_floor'], 3)}, so the threshold is {num(g['w1_threshold'], 3)};"
            f" at the end W1 is {num(final['w1'], 3)} with {final['modes_covered']} of {g['n_modes']} modes covered "
            f"(evaluations meeting the criterion: {g['evaluations_meeting_criterion']}).", "",
            inp.figure("reports/figures/theory/gan2d.png", "2-D GAN: samples, the discriminator's output and the "
                       "generator's gradient at a few epochs; W1 and losses", "theory_gan2d")]
    return "\n".join(out)
