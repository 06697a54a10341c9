"""The report's section on the shared-conditioning ablation (bench/shared_conditioning.py's results).

The study shares the generator's class-loss weight across the three methods, so that only the
objective and its optimiser differ. The ablation retrains each run whose method had another weight
at that earlier weight, and this section says which reading of the paper's Figure 2 survives: does a
run collapse because of its objective, or because of its class weight?
"""

import pandas as pd

from genstudy.gan import METHOD_NAMES
from genstudy.report.inputs import Inputs
from genstudy.report.markdown import num, table

RESULTS = "bench/results/shared_conditioning.json"
COMMAND = "nice python bench/shared_conditioning.py"
TITLE = "## GAN ablation: shared conditioning"


def current_settings(p) -> dict:
    """What the ablation's results depend on in params `p` (genstudy.schema.Params), in the form the
    bench writes them, for every method of gan.matrix."""
    return {
        "methods": {
            m: {"iterations": p.gan.methods[m].iterations, "shared_weight": p.gan.methods[m].ac_weight_generator}
            for m in p.gan.matrix.method
        },
        "seed": p.gan.train.seed,
    }


def stale_settings(recorded: dict, current: dict) -> list[str]:
    """The settings the results were made with that differ from the current params, in words."""
    out = []
    for method, values in recorded.get("methods", {}).items():
        now = current["methods"].get(method)
        if now is None:
            out.append(f"method `{method}` is no longer in `gan.matrix`")
            continue
        for key, value in values.items():
            if now.get(key) != value:
                name = "iterations" if key == "iterations" else "ac_weight_generator"
                out.append(f"`gan.methods.{method}.{name}` is `{now.get(key)}`, the results were made with `{value}`")
    if recorded.get("seed") != current["seed"]:
        out.append(f"`gan.train.seed` is `{current['seed']}`, the results were made with `{recorded.get('seed')}`")
    return out


def outcome(shared: dict, earlier: dict) -> str:
    """One run's two arms in words."""
    if shared["collapsed"] and earlier["collapsed"]:
        return "collapses at both weights: the objective's doing, not the class weight's"
    scores = (
        f"judge accuracy {num(shared['judge_accuracy'], 3)} shared against {num(earlier['judge_accuracy'], 3)}, "
        f"FD {num(shared['frechet_distance'], 1)} against {num(earlier['frechet_distance'], 1)}"
    )
    if not shared["collapsed"] and not earlier["collapsed"]:
        return f"trains at both weights ({scores})"
    if earlier["collapsed"]:
        return f"collapses only at its earlier weight {earlier['class_weight']:g}: the class weight's doing ({scores})"
    return f"collapses only at the shared weight {shared['class_weight']:g} ({scores})"


def figure2_reading(arch: str, shared: dict, gp: dict | None) -> str | None:
    """Does 'DCGAN collapses where WGAN-GP does not' hold on `arch` with the weight shared?
    `shared`: {method: collapsed} from the ablation; `gp`: the pipeline's WGAN-GP metrics."""
    if "dcgan" not in shared or gp is None:
        return None
    gp_ok = bool(gp.get("converged"))
    dcgan_collapsed = shared["dcgan"]
    if dcgan_collapsed and gp_ok:
        verdict = "survives: DCGAN collapses at the shared weight, and WGAN-GP, at the same weight, does not"
    elif not dcgan_collapsed and gp_ok:
        verdict = "does not apply here: DCGAN trains too at the shared weight"
    elif dcgan_collapsed:
        verdict = "does not hold here: WGAN-GP fails as well"
    else:
        verdict = "is reversed here: DCGAN trains and WGAN-GP fails"
    return f"On `{arch}`, the reading of the paper's Figure 2 (DCGAN collapses where WGAN-GP does not) {verdict}."


def ablation_section(inp: Inputs, current: dict | None) -> str:
    out = [
        TITLE,
        "",
        "The three methods once weighed the generator's class loss differently (the earlier weights below), "
        "so a collapse could come from the class term rather than the objective. The study now shares "
        "one weight; this ablation retrains every run whose method had another weight at that earlier weight, "
        "at the same length and seed, one attempt each, and scores both arms' EMA samples with the judge "
        "against training images (never the test set). A run counts as collapsed when its samples' "
        "within-class spread in the judge's features falls below the study's end-of-training threshold.",
        "",
    ]
    results = inp.json(RESULTS)
    if results is None:
        out.append(
            f"> **Missing: the shared-conditioning ablation.** Not run yet: `{COMMAND}` writes `{RESULTS}` "
            "(it trains each ablated run twice at the default length). The rest of the report is unaffected.\n"
        )
        return "\n".join(out)
    if current is not None and (changes := stale_settings(results["settings"], current)):
        out += [
            "> **Stale: these results were made with other params** ("
            + "; ".join(changes)
            + f"). Rerun `{COMMAND}`, then `dvc repro report`.",
            "",
        ]
    rows = results["rows"]
    cells = [
        [
            f"`{r['run']}`",
            "shared" if r["arm"] == "shared" else "earlier",
            num(r["class_weight"], 2),
            f"{r['iterations']:,}",
            num(r["judge_accuracy"], 3),
            num(r["frechet_distance"], 1),
            num(r["diversity"], 3),
            "collapsed" if r["collapsed"] else "trains",
            num(r["seconds"], 0),
        ]
        for r in rows
    ]
    columns = ["run", "arm", "class weight", "iterations", "judge accuracy", "FD", "diversity", "verdict", "seconds"]
    out += [
        f"Scored on {results['per_class']:,} samples per class against {results['reference']}, "
        f"collapsed below diversity {results['min_diversity']:g}; trained and scored on `{results['machine']}` "
        f"(judge file MD5 `{results['judge_md5']}`), so the arms compare with each other, not with the test-set "
        "scores above.",
        "",
        table(pd.DataFrame(cells, columns=columns)),
    ]
    arms = {(r["run"], r["arm"]): r for r in rows}
    runs = list(dict.fromkeys(r["run"] for r in rows))
    lines = [
        f"* `{run}` ({METHOD_NAMES.get(arms[run, 'shared']['method'], run)}) "
        f"{outcome(arms[run, 'shared'], arms[run, 'earlier'])}."
        for run in runs
        if (run, "shared") in arms and (run, "earlier") in arms
    ]
    collapsed_shared = {}
    for r in rows:
        if r["arm"] == "shared":
            collapsed_shared.setdefault(r["arch"], {})[r["method"]] = r["collapsed"]
    readings = [
        reading
        for arch, shared in collapsed_shared.items()
        if (reading := figure2_reading(arch, shared, inp.json(f"metrics/gan/{arch}-wgan_gp.json")))
    ]
    out += ["**Which conclusion survives.**", "", *lines, ""]
    if readings:
        out += [*readings, ""]
        if not any(r["method"] == "wgan_gp" for r in rows):
            out += [
                "WGAN-GP's weight was already the shared one, so its pipeline run (*GAN metrics*) is its shared arm.",
                "",
            ]
    return "\n".join(out)
