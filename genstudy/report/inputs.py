"""The report's view of the pipeline's outputs: read what exists, and name the stage behind what is missing."""

import json
from pathlib import Path

from genstudy.report.markdown import figure, missing

REPORT_DIR = Path("reports")  # figure paths in the report are relative to it


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
