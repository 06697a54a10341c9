"""Tables, figures and HTML for the report. Knows nothing of params.yaml or of where outputs live:
stages/gan_figures.py and stages/report.py pass in what they read.

Every number the report shows goes through `num` or `pm`, so a number is always a metrics
value at a stated precision, never a literal typed here.
"""

import base64
import html
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

# --- numbers and markdown ---------------------------------------------------------------------


def num(value, digits: int = 4) -> str:
    """A metrics value at `digits` decimals; '–' for a value that is absent (None or NaN)."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{digits}f}"


def pm(mean, std, digits: int = 4) -> str:
    return f"{num(mean, digits)} ± {num(std, digits)}"


def table(frame: pd.DataFrame) -> str:
    """A pipe table from a DataFrame of preformatted cells (pandas' to_markdown would re-parse
    '0.7040' as a number and print 0.704)."""
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def missing(what: str, needs: list[tuple[str, str]], limit: int = 6) -> str:
    """The note that replaces a section (or part of one) whose inputs are not built yet:
    `needs` = [(path, the stage that makes it)], the first `limit` of them named."""
    items = "; ".join(f"`{path}` (run `dvc repro {stage}`)" for path, stage in needs[:limit])
    more = f"; and {len(needs) - limit} more" if len(needs) > limit else ""
    return f"> **Missing: {what}.** Not built yet: {items}{more}. The rest of the report is unaffected.\n"


def figure(path: str, caption: str) -> str:
    """A figure by its path relative to the report; the caption goes below as an italic line."""
    return f"![{caption}]({path})\n\n*{caption}*\n"


# --- HTML -------------------------------------------------------------------------------------

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; line-height: 1.45; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
code, pre { background: #f6f6f6; font-size: 0.9em; }
pre { padding: 0.8em; overflow-x: auto; }
blockquote { border-left: 4px solid #d9534f; margin: 1em 0; padding: 0.2em 1em; background: #fdf3f2; }
"""

_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]+)(")')


def embed_images(body: str, base: Path) -> tuple[str, list[str]]:
    """Replace every <img src="relative.png"> by a data URI of the file; return (html, embedded paths).

    A missing image file raises: the report must never show a broken figure."""
    embedded = []

    def data_uri(match):
        src = html.unescape(match.group(2))
        if src.startswith("data:"):
            return match.group(0)
        path = base / src
        if not path.is_file():
            raise FileNotFoundError(f"the report references {path}, which does not exist")
        mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}.get(path.suffix.lower(),
                                                                                         "application/octet-stream")
        embedded.append(src)
        return f"{match.group(1)}data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}{match.group(3)}"

    return _IMG_SRC.sub(data_uri, body), embedded


def to_html(md: str, base: Path, title: str) -> tuple[str, list[str]]:
    """A self-contained HTML page from the report's markdown: figures (relative to `base`) embedded."""
    import markdown

    body = markdown.markdown(md, extensions=["tables", "fenced_code", "toc"])
    body, embedded = embed_images(body, base)
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
    return page, embedded


# --- figures for the report (stage gan_figures) ---------------------------------------------


def loss_panels(histories: dict, names: dict, title: str, window: int, notes: dict):
    """One panel per method: critic and generator loss per generator iteration, raw (faint) and as a
    rolling mean over `window` iterations. Panels keep their own y axis: the three objectives' losses
    differ in scale by orders of magnitude. `histories[m]` is None for a run not trained yet: its panel
    shows `notes[m]` instead."""
    fig, axes = plt.subplots(1, len(histories), figsize=(5.2 * len(histories), 3.8), squeeze=False)
    for ax, (method, history) in zip(axes[0], histories.items()):
        ax.set_title(names.get(method, method))
        if history is None:
            ax.text(0.5, 0.5, notes[method], ha="center", va="center", wrap=True, fontsize=9, transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        for column, label, color in (("d_loss", "critic (D) loss", "tab:blue"), ("g_loss", "generator loss",
                                                                                  "tab:orange")):
            ax.plot(history["iteration"], history[column], color=color, alpha=0.2, lw=0.6)
            smooth = history[column].rolling(window, min_periods=1).mean()
            ax.plot(history["iteration"], smooth, color=color, lw=1.6, label=f"{label}, rolling mean of {window}")
        # Spikes of single iterations would squash the smoothed curves: clip the view to the
        # central 99% of the raw values (the spikes still show, cut at the frame).
        raw = pd.concat([history["d_loss"], history["g_loss"]]).dropna()
        lo, hi = raw.quantile(0.005), raw.quantile(0.995)
        pad = 0.08 * (hi - lo) or 1.0
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel("generator iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("loss")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def label_comparison(rows: dict, labels: list[str], per_label: int, title: str, notes: dict):
    """Rows of images (generated by each method, then real), `per_label` columns per label, titled.

    `rows[name]` is a tensor (len(labels) * per_label, 1, 28, 28) in label-major order, or None for a
    run not trained yet (its row shows `notes[name]`)."""
    cols = len(labels) * per_label
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.5 * cols + 1.6, 1.55 * len(rows) + 0.6), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{labels[c // per_label]} #{c % per_label + 1}", fontsize=10)
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
            if images is None:
                if c == 0:  # one line across the empty row
                    ax.text(0.05, 0.5, notes[name], va="center", fontsize=9, transform=ax.transAxes, clip_on=False)
                ax.set_frame_on(False)
                continue
            ax.imshow(images[c].reshape(28, 28).numpy(), cmap="gray", vmin=0, vmax=1)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
