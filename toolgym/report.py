"""The paper's results table from ``toolgym eval --out`` files: a row per run, a column per benchmark.

Each benchmark contributes its headline figure, computed by :func:`toolgym.summary.summarize`
over the run's episodes of that benchmark: FTRL's own test set Solve-F1, ToolHop answer
correctness, tau-bench pass^1, RoTBench content filling (and generated ToolGym suites' Solve-F1);
``average`` is the mean of the headline figures a run has.

Example:
    >>> runs = {"base": [{"benchmark": "toolhop", "answer_correct": True, "stateful": False}]}
    >>> print(format_report(build_report(runs), "markdown"))
    | run | ToolHop | average |
    |---|---|---|
    | base | 100.0 | 100.0 |
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolgym.error import InvalidKnob, SuiteError, did_you_mean
from toolgym.summary import summarize

__all__ = ["HEADLINES", "REPORT_FORMATS", "build_report", "format_report", "read_runs"]

HEADLINES: dict[str, tuple[str, str]] = {
    "ftrl": ("solve_f1", "FTRL test Solve-F1"),
    "toolhop": ("answer_accuracy", "ToolHop"),
    "tau-bench": ("pass_rate", "tau-bench pass^1"),
    "rotbench": ("content_filling", "RoTBench CF"),
    "toolgym": ("solve_f1", "ToolGym Solve-F1"),
}
"""Benchmark -> (the figure of :func:`~toolgym.summary.summarize` it reports, column title)."""

REPORT_FORMATS = ("text", "markdown", "json")


def read_runs(paths: Sequence[str | Path]) -> dict[str, list[dict[str, Any]]]:
    """Reads episode files (JSONL, one record a line), named by file stem (parent/stem if stems clash).

    Raises:
        SuiteError: a file is missing or a line is not a JSON episode record.
    """
    stems = [Path(p).stem for p in paths]
    runs: dict[str, list[dict[str, Any]]] = {}
    for path, stem in zip(map(Path, paths), stems, strict=True):
        name = stem if stems.count(stem) == 1 else f"{path.parent.name}/{stem}"
        if not path.is_file():
            raise SuiteError(f"No episode file at {str(path)!r}; write one with `toolgym eval ... --out FILE`.")
        records = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SuiteError(f"{path}:{lineno}: not valid JSON: {exc.msg}.") from None
            if not isinstance(record, dict) or "benchmark" not in record:
                raise SuiteError(f"{path}:{lineno}: not an episode record of `toolgym eval --out` (no 'benchmark').")
            records.append(record)
        runs[name] = records
    return runs


def build_report(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, dict[str, float | None]]:
    """Run -> {column title: headline figure in [0, 1] (None where the run has no episode), average}."""
    present = [b for b in HEADLINES if any(r.get("benchmark") == b for records in runs.values() for r in records)]
    table = {}
    for name, records in runs.items():
        row: dict[str, float | None] = {}
        for benchmark in present:
            figure, title = HEADLINES[benchmark]
            episodes = [r for r in records if r.get("benchmark") == benchmark]
            row[title] = summarize(episodes)[figure] if episodes else None
        values = [v for v in row.values() if v is not None]
        row["average"] = sum(values) / len(values) if values else None
        table[name] = row
    return table


def format_report(report: Mapping[str, Mapping[str, float | None]], fmt: str = "text") -> str:
    """The report as an aligned text table, a markdown table (percent) or JSON (fractions)."""
    if fmt not in REPORT_FORMATS:
        raise InvalidKnob(f"Unknown report format {fmt!r}; expected one of {REPORT_FORMATS}." + did_you_mean(fmt, REPORT_FORMATS))
    if fmt == "json":
        return json.dumps(report, indent=2)
    columns = list(next(iter(report.values()), {}))
    cells = [[name, *("-" if row[c] is None else f"{100 * row[c]:.1f}" for c in columns)] for name, row in report.items()]
    header = ["run", *columns]
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in cells)])
    widths = [max(len(str(x)) for x in column) for column in zip(header, *cells, strict=True)]
    def line(row: Sequence[str]) -> str:
        return "  ".join(f"{x:<{w}}" if i == 0 else f"{x:>{w}}" for i, (x, w) in enumerate(zip(row, widths, strict=True)))
    return "\n".join([line(header), "-" * len(line(header)), *map(line, cells)])
