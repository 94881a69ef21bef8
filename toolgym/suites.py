"""Suites of scenarios: JSONL files of :class:`~toolgym.scenario.Scenario`, one per line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from toolgym.error import SuiteError
from toolgym.scenario import Scenario

__all__ = ["load_suite", "save_suite"]


def save_suite(scenarios: Iterable[Scenario], path: str | Path) -> int:
    """Writes scenarios as JSONL (atomically: a temporary file then a rename); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as f:
        for scenario in scenarios:
            f.write(scenario.model_dump_json() + "\n")
            count += 1
    tmp.replace(path)
    return count


def load_suite(path: str | Path) -> list[Scenario]:
    """Reads a JSONL suite of scenarios.

    Raises:
        SuiteError: the file is missing, or a line is not a valid scenario (with its line number).
    """
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"No suite file at {str(path)!r}. Make one with `toolgym generate -o FILE`.")
    scenarios = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                scenarios.append(Scenario.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise SuiteError(f"{path}:{lineno}: not a valid scenario: {exc}") from exc
    return scenarios
