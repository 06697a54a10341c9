"""The report's M1 and GAN sections, each from the DVC outputs it reads.

Each function returns markdown. An input that is not built yet turns its part into a note naming
the stage that makes it (genstudy.report.markdown.missing); everything else is still reported. Every
number comes from a metrics file through num/pm.
"""

import pandas as pd

from genstudy import references
from genstudy.gan import METHOD_NAMES as GAN_METHODS
from genstudy.pipeline import paths
from genstudy.report.inputs import Inputs
from genstudy.report.markdown import missing, num, pm, table

M1_METHODS = {
    "m1": "M1 + SVM",
    "m1_transductive": "M1 + label spreading + SVM (transductive)",
    "m1_m2": "M1 + M2 (classifier q(y|x) on z1)",
    "m2": "M2 on raw pixels",
    "raw_pixels": "SVM on raw pixels (baseline)",
}


# --- M1 ---------------------------------------------------------------------------------------


def m1_tables(summary: dict, dataset: str) -> str:
    counts = sorted({int(n) for per_n in summary.values() for n in per_n})
    cols = [f"N = {n}" for n in counts]
    ours = [m for m in M1_METHODS if m in summary]
    seeds = sorted({summary[m][str(n)]["seeds"] for m in ours for n in counts if str(n) in summary[m]})

    def row(method, key, digits):
        cells = summary[method]
        return [M1_METHODS[method]] + [
            pm(cells[str(n)][f"{key}_mean"], cells[str(n)][f"{key}_std"], digits) if str(n) in cells else "–"
            for n in counts
        ]

    error = pd.DataFrame([row(m, "error", 2) for m in ours], columns=["method"] + cols)
    for name, paper in (
        ("M1 + TSVM", references.PAPER_MNIST_M1_TSVM_ERROR),
        ("M2", references.PAPER_MNIST_M2_ERROR),
        ("M1 + M2", references.PAPER_MNIST_M1_M2_ERROR),
    ):
        error.loc[len(error)] = [f"reference: {name} on **MNIST** (Kingma et al. 2014, Table 1)"] + [
            f"{paper[n][0]:g} ± {paper[n][1]:g}" if n in paper else "–" for n in counts
        ]
    accuracy = pd.DataFrame([row(m, "accuracy", 4) for m in ours], columns=["method"] + cols)
    if dataset == "fashion_mnist":
        for name, ref in references.FASHION_REFERENCES.items():
            accuracy.loc[len(accuracy)] = [f"reference: {name} (Fashion-MNIST)"] + [
                f"{ref[n]:.4f}" if n in ref else "–" for n in counts
            ]
    seeds_text = " or ".join(str(s) for s in seeds)
    full = references.FASHION_RAW_PIXELS_ALL_LABELS
    return "\n".join(
        [
            f"**Test error (%)** on {dataset}, mean ± std over {seeds_text} label subsets (seeds), "
            "in the layout of the paper's Table 1:",
            "",
            table(error),
            f"**Test accuracy**, mean ± std over {seeds_text} seeds:",
            "",
            table(accuracy),
            f"For scale: with all N = {full['n']:,} labels an RBF SVC on raw pixels reaches {full['accuracy']:.3f} "
            "(published reference)."
            if dataset == "fashion_mnist"
            else "",
            "",
        ]
    )


def hyperparameters(inp: Inputs, counts, seeds) -> str:
    """Kernel, C and gamma factor chosen for each seed, from metrics/svm/*.json."""
    rows, folds, absent = [], set(), []
    for features, methods in (("m1", ("m1", "m1_transductive")), ("pixels", ("pixels",))):
        results = {}
        for n in counts:
            for seed in seeds:
                result = inp.json(paths.svm_metrics(features, n, seed))
                if result is None:
                    absent.append((paths.svm_metrics(features, n, seed), f"fit_svm_{features}@{n}-{seed}"))
                else:
                    results[n, seed] = result["methods"]
        for method in methods:
            for n in counts:
                chosen = [results[n, s][method] for s in seeds if (n, s) in results]
                if not chosen:
                    continue
                folds |= {c["cv_folds"] for c in chosen}
                gammas = [f"{c['gamma_factor']:g}" if c.get("gamma_factor") is not None else "–" for c in chosen]
                rows.append(
                    [
                        M1_METHODS["raw_pixels" if method == "pixels" else method],
                        n,
                        ", ".join(sorted({c["kernel"] for c in chosen})),
                        ", ".join(sorted({"+".join(c.get("augment", [])) or "none" for c in chosen})),
                        ", ".join(f"{c['C']:g}" for c in chosen),
                        ", ".join(gammas),
                    ]
                )
    out = []
    if rows:
        out += [
            f"**Classifier and selected hyperparameters.** scikit-learn's SVC; C and γ chosen for each seed by "
            f"stratified {'/'.join(str(f) for f in sorted(folds))}-fold cross-validation on the N labelled "
            "images only (γ as a multiple of sklearn's `gamma='scale'`), listed in seed order. *Copies*: "
            "label-preserving copies of each labelled image (`svm.augment`) that join its training folds, "
            "never a held-out fold:",
            "",
            table(pd.DataFrame(rows, columns=["method", "N", "kernel", "copies", "C per seed", "γ factor per seed"])),
        ]
    if absent:
        out.append(missing("the hyperparameters of some SVM fits", absent))
    return "\n".join(out)


def m1_section(inp: Inputs, counts, seeds, dataset) -> str:
    out = [
        "## M1: a VAE's latent means as features for an SVM",
        "",
        "Kingma et al. (2014), M1: a VAE trained on all training images without labels; an SVM on the "
        "posterior means μ(x) of N labelled images (as many of each class), evaluated on the test set.",
        "",
    ]
    vae = inp.json("metrics/vae.json")
    if vae is None:
        out.append(missing("VAE results", [("metrics/vae.json", "train_vae")]))
    else:
        out += [
            f"The VAE trained {vae['epochs']} epochs: ELBO {num(vae['train_elbo'], 1)} nats per image on the "
            f"training set and {num(vae['test_elbo'], 1)} on the test set (KL term {num(vae['test_kl'], 1)}); "
            f"{vae['active_units']} latent units active.",
            "",
        ]
    summary = inp.json("metrics/m1.json")
    if summary is None:
        out.append(missing("the Table 1-style results", [("metrics/m1.json", "m1_table")]))
    else:
        out.append(m1_tables(summary, dataset))
    out.append(hyperparameters(inp, counts, seeds))
    out += [
        inp.figure("reports/figures/m1/accuracy_vs_n.png", "Test accuracy against the number of labels N", "m1_table"),
        inp.figure("reports/figures/vae/elbo.png", "VAE: ELBO per epoch, training and test set", "train_vae"),
        inp.figure(
            "reports/figures/vae/reconstructions.png", "VAE: test images and their reconstructions", "train_vae"
        ),
        inp.figure("reports/figures/vae/samples.png", "VAE: samples from the prior", "train_vae"),
        inp.figure(
            "reports/figures/vae/latent_map.png", "VAE: test latent means by class (PCA to two dimensions)", "train_vae"
        ),
    ]
    return "\n".join(out)


# --- GANs -------------------------------------------------------------------------------------


def gan_losses_section(inp: Inputs, archs, methods) -> str:
    out = [
        "## GAN training: losses",
        "",
        "Class-conditional GANs (Gulrajani et al. 2017): each architecture trained with each objective. "
        "One plot per architecture, one panel per method with its own y axis (the objectives' losses differ in "
        "scale); faint lines are per-iteration values, solid lines rolling means.",
        "",
    ]
    names = ", ".join(GAN_METHODS[m] for m in methods)
    for arch in archs:
        out += [
            inp.figure(
                f"reports/figures/gan_overview/losses_shared_{arch}.png",
                f"{arch} architecture: the critic (D) loss and the generator loss of {names} on shared axes, "
                f"rolling means; the y axis is symlog (linear within ±1, logarithmic beyond), since the "
                "objectives' scales differ by orders of magnitude",
                "gan_figures",
            ),
            inp.figure(
                f"reports/figures/gan_overview/losses_{arch}.png",
                f"{arch} architecture: critic and generator loss of {names}, a panel per method",
                "gan_figures",
            ),
        ]
    return "\n".join(out)


def gan_curves_section(inp: Inputs, archs, methods) -> str:
    """Gulrajani et al.'s Figure 3 on this study: quality against iterations and wall-clock time."""
    out = [
        "## GAN quality during training",
        "",
        "As in Gulrajani et al.'s Figure 3: the Fréchet distance (judge features, against the test set) of "
        "snapshots of the sampled (EMA) generator, taken every `gan.train.grid_every` generator iterations, "
        "against iterations and against the wall-clock seconds of training. Every snapshot draws the same "
        "noise and labels (`gan.evaluation.curve_per_class` per class); `evaluate_gan` scores them, so a new "
        "judge rescores the curves without retraining a GAN. The same points are MLflow step metrics "
        "(`curve_frechet_distance`, `curve_judge_accuracy`) of the `evaluate_gan` runs.",
        "",
    ]
    for arch in archs:
        out.append(
            inp.figure(
                f"reports/figures/gan/curves/{arch}.png",
                f"{arch} architecture: Fréchet distance against generator iterations (left) and wall-clock "
                "seconds (right)",
                "gan_figures",
            )
        )
    summary = (inp.json("metrics/gan_figures.json") or {}).get("curves")
    if not summary:
        out.append(missing("the curves' summary", [("metrics/gan_figures.json", "gan_figures")]))
        return "\n".join(out)
    rows = [
        [
            run,
            GAN_METHODS[method],
            f"{c['final_iteration']:,}",
            f"{c['final_seconds']:,.0f}",
            num(c["final_frechet_distance"], 2),
            num(c["final_judge_accuracy"], 4),
            f"{num(c['best_frechet_distance'], 2)} at {c['best_iteration']:,}",
            f"{c['last_quarter_change_percent']:.0f} %",
        ]
        for method in methods
        for arch in archs
        if (c := summary.get(run := paths.gan_run(arch, method)))
    ]
    columns = [
        "run",
        "method",
        "last snapshot (iterations)",
        "seconds",
        "Fréchet distance",
        "judge accuracy",
        "best Fréchet distance",
        "change over the last quarter",
    ]
    out += [
        "Each run's curve in brief (scored on the curve samples, fewer than the table's below; a small "
        "change over the last quarter of training means the curve has flattened):",
        "",
        table(pd.DataFrame(rows, columns=columns)),
    ]
    return "\n".join(out)


def gan_samples_section(inp: Inputs, archs, methods) -> str:
    out = ["## GAN samples", ""]
    choice = inp.json("metrics/gan_figures.json")
    if choice is None or choice.get("chosen_arch") is None:
        out.append(
            missing(
                "the choice of architecture and the two-label figure", [("metrics/gan_figures.json", "gan_figures")]
            )
        )
    else:
        means = "; ".join(
            f"`{a}` {num(v['mean_frechet_distance'], 2)} (judge accuracy "
            f"{num(v['mean_judge_accuracy'], 4)}, over {', '.join(v['methods'])})"
            for a, v in choice["per_arch"].items()
        )
        labels = " and ".join(choice["labels"])
        out += [
            f"Better architecture: **`{choice['chosen_arch']}`**, by the {choice['rule']}: mean Fréchet "
            f"distance {means}. Below, its samples of {labels}: {choice['images_per_label']} generated "
            f"images of each label from every method (the same noise for each method) and "
            f"{choice['images_per_label']} real test images of each.",
            "",
            inp.figure(
                "reports/figures/gan_overview/two_labels.png",
                f"{choice['chosen_arch']}: generated ({', '.join(GAN_METHODS[m] for m in methods)}) "
                f"and real images of {labels}",
                "gan_figures",
            ),
        ]
        if choice.get("runs_not_evaluated"):
            out.append(
                f"Runs not evaluated when the choice was made: "
                f"{', '.join('`' + r + '`' for r in choice['runs_not_evaluated'])}.\n"
            )
    out += ["Each run's samples, ten of every class, a row per class (the judge's scores in the titles):", ""]
    for arch in archs:
        for method in methods:
            run = paths.gan_run(arch, method)
            out.append(
                inp.figure(
                    f"reports/figures/gan/samples/{run}.png", f"{run}: ten samples per class", f"evaluate_gan@{run}"
                )
            )
    return "\n".join(out)


def gan_metrics_section(inp: Inputs, archs, methods) -> str:
    out = [
        "## GAN metrics",
        "",
        "Scored by the judge, a classifier trained in the pipeline: its accuracy on conditional samples "
        "against their conditioning labels, the Fréchet distance between its penultimate features of samples "
        "and of the test set, and diversity (mean within-class feature distance of samples over that of real "
        "test images: one means as varied as real). GAN-train accuracy (Shmelkov et al. 2018): a classifier "
        "built as the judge and trained with its recipe for `gan.evaluation.gan_train_epochs` epochs, on the "
        "run's samples alone, tested on the real test set; on the "
        "real-training-images row it is trained on as many real images. Samples that are faithful but not "
        "varied score high judge accuracy and low GAN-train accuracy.",
        "",
    ]
    judge = inp.json("metrics/judge.json")
    if judge is None:
        out.append(missing("the judge", [("metrics/judge.json", "train_judge")]))
    else:
        out += [f"The judge: test accuracy {num(judge['test_accuracy'], 4)} after {judge['epochs']} epochs.", ""]
    found, absent = each_run(inp, archs, methods, "metrics/gan/{run}.json", "evaluate_gan")
    rows = [
        [
            run,
            arch,
            GAN_METHODS[method],
            f"{m['n']:,}",
            num(m["judge_accuracy"], 4),
            num(m["gan_train_accuracy"], 4) if "gan_train_accuracy" in m else "",
            num(m["frechet_distance"], 2),
            num(m["diversity"], 3),
            "yes" if m["converged"] else "no (last attempt kept)",
        ]
        for method, arch, run, m in found
    ]
    reference = inp.json("metrics/gan/reference.json")
    if reference is not None:
        n = f"{reference['n']:,}"
        rows += [
            [
                "reference: real training images",
                "",
                "",
                n,
                num(reference["judge_accuracy_train"], 4),
                num(reference["gan_train_accuracy_real"], 4) if "gan_train_accuracy_real" in reference else "",
                num(reference["frechet_distance_train_test"], 2),
                num(reference["diversity_train"], 3),
                "",
            ],
            *(
                [
                    [
                        "reference: the same training images, shoes mirrored (orientation check)",
                        "",
                        "",
                        n,
                        num(reference["judge_accuracy_mirrored_shoes"], 4),
                        "",
                        num(reference["frechet_distance_mirrored_shoes"], 2),
                        "",
                        "",
                    ]
                ]
                if "frechet_distance_mirrored_shoes" in reference
                else []
            ),
            [
                "reference: real test images",
                "",
                "",
                n,
                num(reference["judge_accuracy_test"], 4),
                "",
                "– (the reference set)",
                "– (the reference set)",
                "",
            ],
            [
                "reference: M1 VAE, samples of the prior",
                "",
                "",
                n,
                "",
                "",
                num(reference["frechet_distance_vae_samples"], 2),
                "",
                "",
            ],
        ]
    else:
        absent.append(("metrics/gan/reference.json", "gan_reference"))
    if rows:
        out.append(
            table(
                pd.DataFrame(
                    rows,
                    columns=[
                        "run",
                        "architecture",
                        "method",
                        "images",
                        "judge accuracy",
                        "GAN-train accuracy",
                        "Fréchet distance",
                        "diversity",
                        "converged",
                    ],
                )
            )
        )
    if absent:
        out.append(missing("the scores of some runs", absent))
    summary = inp.json("metrics/gan_summary.json")
    bar = (summary or {}).get("gan_bar")
    if bar:
        out.append(
            f"The study's GAN bar (WGAN-GP of the better architecture by its Fréchet distance, `{bar['arch']}`: "
            f"judge accuracy at the bar of `genstudy/report/gan_table.py` and Fréchet distance below the VAE "
            f"samples'): "
            f"**{'met' if bar['met'] else 'not met'}** ({num(bar['judge_accuracy'], 4)}; "
            f"{num(bar['frechet_distance'], 2)} against {num(bar['frechet_distance_vae_samples'], 2)}).\n"
        )
    elif summary is None:
        out.append(missing("the summary table's verdict", [("metrics/gan_summary.json", "gan_table")]))
    out += [
        failures(inp, archs, methods),
        inp.figure("reports/figures/gan_per_class_accuracy.png", "Judge accuracy per conditioning class", "gan_table"),
    ]
    return "\n".join(out)


def each_run(inp: Inputs, archs, methods, path: str, stage: str):
    """([(method, arch, run, json of `path`)] for the runs that have it, [(path, stage) of those that do not]),
    grouped by method."""
    found, absent = [], []
    for method in methods:
        for arch in archs:
            run = paths.gan_run(arch, method)
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
        # evaluate_gan's end-of-training check on the reported samples can fail the attempt train_gan kept.
        final = ((inp.json(f"metrics/gan/{run}.json") or {}).get("final_check") or {}).get("cause")
        steps = [
            f"attempt {f['attempt']} (seed {f['seed']}, iteration {f['iteration']}): {f['cause']} → {f['action']}"
            for f in record["failures"]
        ]
        if final:
            steps.append(f"attempt {record['attempts']} (seed {record['seed']}, end of training): {final} → kept")
        if record.get("converged", True) and not final:
            before = str(record["failed_attempts"])
        else:
            kept = final or (record["failures"][-1] if record["failures"] else {}).get("cause", "unknown")
            before = (
                f"no successful run in {record['attempts']} attempts (kept: the last, seed "
                f"{record['seed']}, trained to the end; cause: {kept})"
            )
        causes = "; ".join(steps) or "none"
        rows.append([GAN_METHODS[method], arch, record["iterations"], record["attempts"], before, causes])
    out = [
        "**Failed convergence**, per method, counted as failed attempts before the first successful one "
        "(a failed attempt restarts at the next seed). During training, cheap checks on the raw generator "
        "abort an attempt early; at the end, the reported samples (the EMA generator's) must spread within "
        "each class, in the judge's features, at least `gan.evaluation.min_diversity` of real training "
        "images' spread, or the kept attempt failed too:",
        "",
    ]
    if rows:
        out.append(
            table(
                pd.DataFrame(
                    rows,
                    columns=[
                        "method",
                        "architecture",
                        "generator iterations",
                        "attempts",
                        "failed attempts before the first success",
                        "causes",
                    ],
                )
            )
        )
    if absent:
        out.append(missing("the training records of some runs", absent))
    return "\n".join(out)
