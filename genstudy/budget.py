"""The study's time budget: each part's recorded stage wall times against its minutes (bench/budget.yaml).

The records are the pipeline's own (reports/runs/<stage>.json, `seconds` of the stage's work). A part
with no record yet counts as zero and says so; a recorded stage that belongs to no part, or to two,
is an error, so a new stage cannot slip past the budget.
"""

import fnmatch
import json
from pathlib import Path

import pandas as pd
import yaml

BUDGET = "bench/budget.yaml"


class BudgetError(ValueError):
    """A budget file or run record that cannot be checked as it is."""


def read_budget(path=BUDGET) -> dict:
    try:
        budget = yaml.safe_load(Path(path).read_text())
        parts = [
            {"name": str(p["name"]), "minutes": float(p["minutes"]), "stages": list(p["stages"])}
            for p in budget["parts"]
        ]
        return {"total_minutes": float(budget["total_minutes"]), "parts": parts}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        raise BudgetError(
            f"{path}: not a budget file ({type(e).__name__}: {e}). Fix: give total_minutes and parts, "
            "each with name, minutes and stages (see bench/budget.yaml)"
        ) from None


def read_records(directory, extra=()) -> dict:
    """{stage: seconds} of every run record in `directory`, and of the `extra` record files that exist
    (the report's own record lives outside reports/runs, which the report stage reads)."""
    out = {}
    files = sorted(Path(directory).glob("*.json")) + [Path(f) for f in extra if Path(f).exists()]
    for file in files:
        try:
            record = json.loads(file.read_text())
            out[record["stage"]] = float(record["seconds"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise BudgetError(f"{file}: not a run record ({type(e).__name__}: {e}). Fix: rerun its stage") from None
    return out


def check(budget: dict, records: dict) -> tuple[pd.DataFrame, list[str]]:
    """(a row per part and the total: stages, minutes used, budget, over; problems found)."""
    problems, owner = [], {}
    for stage in records:
        parts = [p["name"] for p in budget["parts"] if any(fnmatch.fnmatchcase(stage, s) for s in p["stages"])]
        if len(parts) != 1:
            where = "no part" if not parts else "several parts (" + ", ".join(parts) + ")"
            problems.append(f"stage {stage} belongs to {where} of the budget. Fix: list it under one part")
        else:
            owner[stage] = parts[0]
    rows = []
    for part in budget["parts"]:
        stages = [s for s, p in owner.items() if p == part["name"]]
        used = sum(records[s] for s in stages) / 60
        rows.append({"part": part["name"], "stages": len(stages), "minutes": used, "budget": part["minutes"]})
    table = pd.DataFrame(rows)
    total = {
        "part": "whole study",
        "stages": len(records),
        "minutes": table.minutes.sum(),
        "budget": budget["total_minutes"],
    }
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["over"] = table.minutes > table.budget
    for row in table[table.over].itertuples():
        problems.append(f"{row.part}: {row.minutes:.1f} min against a budget of {row.budget:g} min")
    return table, problems


def markdown(table: pd.DataFrame) -> str:
    lines = ["| part | stages recorded | minutes | budget | |", "|---|---|---|---|---|"]
    for r in table.itertuples():
        verdict = "**over**" if r.over else ("no record yet" if r.stages == 0 else "within")
        lines.append(f"| {r.part} | {r.stages} | {r.minutes:.1f} | {r.budget:g} | {verdict} |")
    return "\n".join(lines) + "\n"
