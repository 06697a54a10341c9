"""Numbers and markdown for the report and the tables.

Every number the report shows goes through `num` or `pm`, so a number is always a metrics
value at a stated precision, never a literal typed here.
"""

import pandas as pd

from genstudy.pipeline import paths


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
    items = "; ".join(f"`{path}` (run `{paths.repro(stage)}`)" for path, stage in needs[:limit])
    more = f"; and {len(needs) - limit} more" if len(needs) > limit else ""
    return f"> **Missing: {what}.** Not built yet: {items}{more}. The rest of the report is unaffected.\n"


def figure(path: str, caption: str) -> str:
    """A figure by its path relative to the report; the caption goes below as an italic line."""
    return f"![{caption}]({path})\n\n*{caption}*\n"
