"""README.md and docs/: short, links that resolve, no path outside the repository, and no stale result.

A result number that docs/ states is listed in FACTS and checked against its metrics file, so the
doc fails here as soon as the metrics change. README.md states no result at all: it links to the
report. The layer rules and the DAG table of docs/architecture.md are checked against the code.
"""

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
ALL_DOCS = [README, *DOCS]
MAX_README_LINES = 200

# Folders that the pipeline, the venv or MLflow create: a doc may name paths inside them before they exist.
GENERATED = (
    "data",
    "models",
    "checkpoints",
    "mlartifacts",
    "mlflow.db",
    "mlflow.db-pending",
    "mlflow-server",
    "dvc_plots",
    ".venv",
    ".dvc",
    "bench/out",
)
PLACEHOLDER = re.compile(r"[<>*${}]|[A-Z]{3,}")  # models/gan/ARCH-METHOD.pt, reports/runs/<stage>.json
FENCE = re.compile(r"```.*?```", re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+")


def generated(path: str) -> bool:
    return any(path == g or path.startswith(f"{g}/") for g in GENERATED)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def flat(path: Path) -> str:
    """The doc with every run of whitespace as one space, so a phrase may wrap across lines."""
    return " ".join(text(path).split())


def metric(path: str, *keys):
    value = json.loads((ROOT / path).read_text())
    for key in keys:
        value = value[key]
    return value


# --- the numbers ------------------------------------------------------------------------------


def mlp_g_dcgan_failures():
    record = metric("metrics/gan/train/mlp_g-dcgan.json")
    (iteration,) = {f["iteration"] for f in record["failures"]}  # one iteration for every attempt
    assert all(f["cause"].startswith("mode collapse") for f in record["failures"])
    assert record["failures"][-1]["action"].startswith("kept")
    return record["failed_attempts"], record["attempts"], iteration


# (doc, phrase with {} for each number, the numbers as the doc writes them: from metrics files or run records)
FACTS = [
    (
        "docs/m1.md",
        "In the committed run all {} latent dimensions stay active.",
        lambda: [metric("metrics/vae.json", "active_units")],
    ),
    (
        "docs/m1.md",
        "and {} on the test set (the pipeline's VAE",
        lambda: [f"{metric('metrics/m1.json', 'm1', '100', 'accuracy_mean'):.4f}"],
    ),
    (
        "docs/gan.md",
        "`mlp_g`-DCGAN failed {} of {} attempts, each flagged for within-class mode collapse at iteration {}. "
        "The last attempt is kept.",
        mlp_g_dcgan_failures,
    ),
    (
        "docs/gan.md",
        "diversity {}, against {} for WGAN-GP on the same generator.",
        lambda: [
            f"{metric('metrics/gan/mlp_g-dcgan.json', 'diversity'):.2f}",
            f"{metric('metrics/gan/mlp_g-wgan_gp.json', 'diversity'):.2f}",
        ],
    ),
    *[
        (
            "docs/m2.md",
            f"| {n} | {{}} ± {{}} | {{}} |",
            lambda n=n: [
                f"{metric('metrics/m1.json', 'm1_m2', n, 'accuracy_mean'):.4f}",
                f"{metric('metrics/m1.json', 'm1_m2', n, 'accuracy_std'):.4f}",
                f"{metric('metrics/m1.json', 'm1', n, 'accuracy_mean'):.4f}",
            ],
        )
        for n in ("100", "600", "1000", "3000")
    ],
    (
        "docs/gan.md",
        "run took about {} minutes in the committed run",
        lambda: [f"{metric('reports/runs/train_gan@dcgan-wgan_gp.json', 'seconds') / 60:.0f}"],
    ),
]


@pytest.mark.parametrize("doc, phrase, numbers", FACTS, ids=[f"{d}:{p[:30]}" for d, p, _ in FACTS])
def test_a_result_stated_in_the_docs_matches_its_metrics_file(doc, phrase, numbers):
    expected = phrase.format(*numbers())
    assert expected in flat(ROOT / doc), f"{doc} should say: {expected}"


def metric_values(node, out: list):
    if isinstance(node, bool):
        return
    if isinstance(node, (int, float)):
        out.append(float(node))
    elif isinstance(node, dict):
        for value in node.values():
            metric_values(value, out)
    elif isinstance(node, list):
        for value in node:
            metric_values(value, out)


def test_the_readme_states_no_result_but_links_to_the_report():
    values = []
    for path in sorted((ROOT / "metrics").rglob("*.json")):
        metric_values(json.loads(path.read_text()), values)
    readme = URL.sub(" ", text(README))
    copied = []
    for whole in re.finditer(r"(?<![\w.])(\d+\.(\d{2,}))(?!\w)", readme):  # numbers with 2+ decimals
        written, decimals = whole.group(1), len(whole.group(2))
        if any(f"{v:.{decimals}f}" == written for v in values):
            copied.append(written)
    assert copied == [], "README.md copies numbers from metrics/: link to reports/report.md instead"
    assert "(reports/report.md)" in readme


# --- shape, links and paths -------------------------------------------------------------------


def test_the_readme_is_short():
    assert len(text(README).splitlines()) <= MAX_README_LINES


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    heading = heading.strip().lower().replace("`", "")
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", heading))


def anchors(path: Path) -> set[str]:
    return {slug(m) for m in re.findall(r"^#+ (.+)$", FENCE.sub("", text(path)), re.M)}


@pytest.mark.parametrize("doc", ALL_DOCS, ids=rel)
def test_every_relative_link_points_to_a_file_of_the_repository(doc):
    broken = []
    for target in LINK.findall(FENCE.sub("", text(doc))):
        if URL.match(target) or target.startswith("mailto:"):
            continue
        name, _, anchor = target.partition("#")
        path = (doc.parent / name).resolve() if name else doc
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(target)
    assert broken == []


def path_like(token: str) -> bool:
    return bool(re.fullmatch(r"[\w.][\w.@<>*${}-]*(?:/[\w.@<>*${}-]*)+", token))


def code_paths(doc: Path) -> list[str]:
    """Path-like words in inline code and code blocks: paths from the repository root."""
    body = URL.sub(" ", text(doc))
    words = [w for block in FENCE.findall(body) for w in block.split()]
    words += [w for span in re.findall(r"`([^`\n]+)`", FENCE.sub("", body)) for w in span.split()]
    words = [w.strip("`'\"(),;:") for w in words]
    return [w for w in words if path_like(w) and not re.fullmatch(r"[\w.-]+/", w)]  # not a bare folder name


@pytest.mark.parametrize("doc", ALL_DOCS, ids=rel)
def test_no_doc_mentions_a_path_outside_the_repository(doc):
    body = URL.sub(" ", text(doc))
    assert re.findall(r"(?:^|(?<=[\s`'\"(\[=]))(?:/|~/|\$HOME)[\w.-]+", body, re.M) == [], "absolute paths"
    links = [t.partition("#")[0] for t in LINK.findall(FENCE.sub("", body)) if not URL.match(t)]
    outside = [t for t in links if t and not (doc.parent / t).resolve().is_relative_to(ROOT)]
    top = {p.name for p in ROOT.iterdir()} | {g.split("/")[0] for g in GENERATED}
    missing = []
    for path in code_paths(doc):
        if path.startswith("..") or Path(path).parts[0] not in top:
            outside.append(path)
        elif not generated(path) and not PLACEHOLDER.search(path) and not (ROOT / path).exists():
            missing.append(path)
    for name in re.findall(r"[\w./-]*\w\.md\b", body):  # every markdown file named, linked or not
        if not any((base / name).exists() for base in (doc.parent, ROOT)) and not list(ROOT.rglob(Path(name).name)):
            missing.append(name)
    assert outside == [], "paths outside the repository"
    assert missing == [], "paths that do not exist in the repository"


@pytest.mark.parametrize("doc", ALL_DOCS, ids=rel)
def test_the_project_speaks_of_itself_only(doc):
    assert re.findall(r"(?i)\b(?:sessions?|issues?|PR)\s*#?\d+|(?<![\w/])#\d+\b", text(doc)) == []


def tracked_files() -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()


def test_the_readme_layout_names_every_module_and_folder():
    layout = text(README).split("## Layout", 1)[1]
    words = set(re.findall(r"[\w*]+", layout))
    files = [Path(f) for f in tracked_files()]
    modules = [f for f in files if f.parts[0] == "genstudy" and f.suffix in (".py", ".csv") and f.stem != "__init__"]
    modules += [f for f in files if f.parent == Path("tests/helpers") and f.stem != "__init__"]
    unnamed = [
        str(f) for f in modules if f.stem not in words and not (f.stem.endswith("_figure") and "*_figure" in words)
    ]
    folders = {f.parts[0] for f in files if len(f.parts) > 1 and not f.parts[0].startswith(".")}
    folders |= {"docs", "data", "models", "checkpoints"}
    unnamed += [f"{folder}/" for folder in sorted(folders) if f"{folder}/" not in layout]
    assert unnamed == []


# --- docs/architecture.md against the code ------------------------------------------------------

LAYERS = {  # layer -> the layers it must not import (docs/architecture.md, "Layers")
    "library": {"pipeline", "report", "cli", "profile", "stages"},
    "pipeline": {"report", "cli", "profile", "stages"},
    "report": {"cli", "profile", "stages"},
    "cli": {"stages"},
    "profile": {"stages"},
}


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "stages":
        return "stages"
    if len(parts) > 1 and parts[1] in ("pipeline", "report", "cli", "profile"):
        return parts[1]
    return "library"


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code, relative imports resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(p for p in [*parts, base] if p)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in ("genstudy", "stages")}


def project_modules():
    for path in sorted([*(ROOT / "genstudy").rglob("*.py"), *(ROOT / "stages").glob("*.py")]):
        yield ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"), path


def test_imports_go_down_the_layers_only():
    wrong = []
    for module, path in project_modules():
        for name in imports(path):
            if layer(name) in LAYERS.get(layer(module), set()):
                wrong.append(f"{module} imports {name}")
            if layer(module) == "stages" and name.startswith("stages.") and name != module:
                wrong.append(f"{module} imports another stage, {name}")
    assert wrong == []


def dag_table() -> dict[str, set[str]]:
    section = text(ROOT / "docs/architecture.md").split("## The DAG", 1)[1]
    rows = re.findall(r"^\| `([\w@-]+)` \| ([^|]+) \|", section, re.M)
    stages = {name.partition("@")[0]: after.strip() for name, after in rows}
    every = set(stages)
    return {
        stage: every - {stage} if after == "every other stage" else set(re.findall(r"`(\w+)`", after))
        for stage, after in stages.items()
    }


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # from inside DVC
def test_the_dag_table_is_dvcs_graph():
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        graph = repo.index.graph
        base = lambda stage: stage.name.partition("@")[0]  # noqa: E731 (the name within its pipeline file)
        upstream = {base(stage): set() for stage in graph.nodes}
        for stage, dependency in graph.edges:  # an edge runs from a stage to one it reads from
            if base(stage) != base(dependency):
                upstream[base(stage)].add(base(dependency))
    assert dag_table() == upstream


# --- the known limitations of docs/gan.md still hold -------------------------------------------


def test_the_vae_prior_reference_row_is_documented_as_made_by_an_earlier_vae():
    import yaml

    lock = {}  # every part's lock: the two stages are in different pipeline files
    for path in [ROOT / "dvc.lock", *sorted((ROOT / "pipelines").glob("*/dvc.lock"))]:
        lock.update(yaml.safe_load(path.read_text())["stages"])

    def md5(entries, path):
        return next(e["md5"] for e in entries if e["path"] == path)

    made = md5(lock["train_vae"]["outs"], "models/vae.pt")
    used = md5(lock["gan_reference"]["deps"], "models/vae.pt")
    documented = "The VAE-prior reference row is from an earlier VAE." in flat(ROOT / "docs/gan.md")
    assert documented == (made != used), "docs/gan.md, Known limitations: the VAE-prior row"
