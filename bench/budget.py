"""The study's time budget, checked on the recorded stage times.

    python bench/budget.py [--records reports/runs] [--budget bench/budget.yaml]

Prints each part of the study (bench/budget.yaml) with the minutes its stages took, from their
run records, against its budget, and the whole study against the total. Exits 1 when a part or the
whole is over its budget, or a recorded stage belongs to no part; 2 on a file it cannot read.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genstudy import budget  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", default="reports/runs", help="folder of run records (default: %(default)s)")
    parser.add_argument(
        "--report-record", default="reports/report_run.json", help="the report's own record (default: %(default)s)"
    )
    parser.add_argument("--budget", default=budget.BUDGET, help="budget file (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        table, problems = budget.check(
            budget.read_budget(args.budget), budget.read_records(args.records, [args.report_record])
        )
    except budget.BudgetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(budget.markdown(table), end="")
    for problem in problems:
        print(f"over budget: {problem}" if " min against " in problem else f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
