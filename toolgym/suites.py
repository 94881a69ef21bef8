"""Suites of scenarios: files of rows, read and written as ToolGym scenarios or FTRL rows.

A suite file is JSONL (one JSON object a line) or Parquet (``.parquet``, one row a scenario). Each
row is recognized on its own, so one file may mix kinds:

* a ToolGym scenario (``Scenario.model_dump_json()``), or ``{"scenario": "<that JSON>", ...}`` as
  in Parquet suites and :func:`toolgym.ftrl.to_hf_dataset`;
* an FTRL row (it has ``codes`` or ``unsolved_set``; see :mod:`toolgym.ftrl`);
* an FTRL stateful row (``instruction`` and ``actions``; see :mod:`toolgym.stateful`), whose
  ``data_source`` names a domain directory relative to the suite file's directory.

Example:
    >>> save_suite(generate_suite(10, seed=0), "suite.jsonl")  # doctest: +SKIP
    >>> scenarios = load_suite("suite.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from toolgym.error import InvalidScenario, SuiteError, did_you_mean
from toolgym.ftrl import is_ftrl_row, scenario_from_ftrl, scenario_to_ftrl
from toolgym.scenario import Scenario
from toolgym.stateful import is_stateful_row, scenario_from_stateful_row

__all__ = ["FORMATS", "load_suite", "row_to_scenario", "save_suite", "scenario_to_row"]

FORMATS = ("toolgym", "ftrl")
"""Row formats :func:`save_suite` writes."""

Format = Literal["toolgym", "ftrl"]
_PARQUET_MAGIC = b"PAR1"


def row_to_scenario(row: Any, *, base_dir: str | Path | None = None) -> Scenario:
    """Reads one suite row of any kind (see the module docstring).

    Raises:
        InvalidScenario: the row is not an object, or not a valid row of its kind.
    """
    if not isinstance(row, Mapping):
        raise InvalidScenario(f"expected a JSON object, got {type(row).__name__}")
    if is_ftrl_row(row):
        return scenario_from_ftrl(row, base_dir=base_dir)
    if is_stateful_row(row):
        return scenario_from_stateful_row(row, base_dir=base_dir)
    try:
        if isinstance(row.get("scenario"), str):
            return Scenario.model_validate_json(row["scenario"])
        return Scenario.model_validate(dict(row))
    except ValidationError as exc:
        raise InvalidScenario(f"not a valid ToolGym scenario: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(row)"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"field {where!r}: {first['msg']}{more}"


def scenario_to_row(scenario: Scenario, format: Format = "toolgym") -> dict[str, Any]:
    """One scenario as a row of ``format``: the scenario's own fields, or an FTRL row."""
    if format == "ftrl":
        return scenario_to_ftrl(scenario)
    return scenario.model_dump(mode="json")


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    with path.open("rb") as f:
        return f.read(4) == _PARQUET_MAGIC


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                hint = " (a truncated line?)" if exc.pos >= len(line.rstrip()) else ""
                raise SuiteError(
                    f"{path}:{lineno}: not valid JSON{hint}: {exc.msg} at column {exc.colno}."
                ) from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise SuiteError(f"{path}: reading Parquet suites needs pyarrow: pip install pyarrow.") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise SuiteError(f"{path}: not a readable Parquet file: {exc}") from None
    yield from enumerate(table.to_pylist(), 1)


def load_suite(path: str | os.PathLike[str]) -> list[Scenario]:
    """Reads a suite file: JSONL or Parquet, of ToolGym scenarios, FTRL rows or both.

    Stateful rows find their domain directory relative to the file's directory.

    Raises:
        SuiteError: the file is missing or empty, or a row is broken; the message starts with
            ``file:line`` (the row number in Parquet files) and says what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"No suite file at {str(path)!r}. Make one with `toolgym generate -o FILE`.")
    rows = _parquet_rows(path) if _is_parquet(path) else _jsonl_rows(path)
    scenarios = []
    for lineno, row in rows:
        try:
            scenarios.append(row_to_scenario(row, base_dir=path.parent))
        except InvalidScenario as exc:
            raise SuiteError(f"{path}:{lineno}: {exc}") from None
    if not scenarios:
        raise SuiteError(f"{path}:1: the suite holds no scenario (the file is empty).")
    return scenarios


def _relative_domain(row: dict[str, Any], scenario: Scenario, out_dir: Path) -> dict[str, Any]:
    """Points a stateful row's ``data_source`` at its domain, relative to the file written."""
    domain = Path(scenario.task.domain)  # type: ignore[union-attr]
    if (out_dir / str(row.get("data_source", ""))).resolve() != domain.resolve():
        row["data_source"] = os.path.relpath(domain, out_dir)
    return row


def _rows(scenarios: Iterable[Scenario], format: Format, out_dir: Path) -> Iterator[dict[str, Any]]:
    for scenario in scenarios:
        row = scenario_to_row(scenario, format)
        if format == "ftrl" and scenario.task is not None:
            row = _relative_domain(row, scenario, out_dir)
        yield row


def save_suite(
    scenarios: Iterable[Scenario], path: str | os.PathLike[str], format: Format = "toolgym"
) -> int:
    """Writes scenarios, atomically (a temporary file, then a rename); returns the count.

    Args:
        scenarios: The scenarios, in order.
        path: The file; ``.parquet`` writes Parquet, any other suffix JSONL.
        format: ``"toolgym"`` (scenarios, lossless) or ``"ftrl"`` (FTRL's rows; generated tools
            become Python source, and sub-tasks keep only their sub-answers).

    Raises:
        SuiteError: unknown format, or Parquet without pyarrow.
    """
    if format not in FORMATS:
        raise SuiteError(f"Unknown suite format {format!r}; expected one of {FORMATS}." + did_you_mean(format, FORMATS))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    rows = _rows(scenarios, format, path.parent.resolve())
    try:
        count = _write_parquet(rows, tmp, format) if path.suffix.lower() == ".parquet" else _write_jsonl(rows, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return count


def _write_jsonl(rows: Iterable[dict[str, Any]], tmp: Path) -> int:
    count = 0
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def _write_parquet(rows: Iterable[dict[str, Any]], tmp: Path, format: Format) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SuiteError("Writing Parquet suites needs pyarrow: pip install pyarrow.") from None
    if format == "toolgym":
        # Scenarios differ in shape (tool kinds, meta), so each is one JSON cell.
        rows = ({"id": r["id"], "shape": r["shape"], "scenario": json.dumps(r, ensure_ascii=False)} for r in rows)
    table = pa.Table.from_pylist(list(rows))
    pq.write_table(table, tmp)
    return table.num_rows
