"""Suites of scenarios: files of rows in any known row format, read and written as scenarios.

A suite file is JSONL (one JSON object a line), JSON (``.json`` holding a list of rows, as
RoTBench's files do) or Parquet (``.parquet``, one row a scenario); a suite folder is every such
file in it and in its subfolders one level down, in sorted order (RoTBench's ``Data`` folder with
``First_Turn/`` and ``Third_Turn/``). Each row is recognized on its own, so one file may mix
formats. The formats, in the order they are tried (:data:`ROW_FORMATS`):

* ``rotbench``: a RoTBench item (``conversations``) or FTRL's RoTBench row (``messages`` and an
  ``answer`` list of ReAct gold replies; :mod:`toolgym.rotbench`), read only; first, as RoTBench's
  items have a ``scenario`` column of their own (a category such as ``"TG"``);
* ``toolgym``: ``{"scenario": "<Scenario.model_dump_json()>", ...}``, as in Parquet suites and
  :func:`to_hf_dataset` (whose other columns, ``unsolved_set`` among them, are views of it);
* ``ftrl``: an FTRL row (it has ``codes`` or ``unsolved_set``; :mod:`toolgym.ftrl`);
* ``ftrl``: an FTRL stateful row (``instruction`` and ``actions``; :mod:`toolgym.stateful`),
  whose ``data_source`` names a domain directory relative to the suite file's directory;
* ``toolgym``: a ToolGym scenario (``Scenario.model_dump_json()``); this one takes every row no
  other format recognizes.

This module is the only dispatcher: the format modules know nothing of each other, and share
their helpers through :mod:`toolgym.rows`. Adding a format (RoTBench, ToolHop, ...) is one module
and one line:

1. ``toolgym/<format>.py`` with a recognizer ``is_<format>_row(row) -> bool``, a reader
   ``scenario_from_<format>(row, *, base_dir=None, path=None) -> Scenario`` (raising
   :class:`~toolgym.error.InvalidScenario` for a bad row; ``path`` is the file the row comes
   from, and a reader without that keyword is called without it) and, if the format can be
   written, a writer ``scenario_to_<format>(scenario, *, base_dir=None) -> dict``;
2. a :class:`RowFormat` line in :data:`ROW_FORMATS`, above the last (``toolgym``) line.

Example:
    >>> save_suite(generate_suite(10, seed=0), "suite.jsonl")  # doctest: +SKIP
    >>> scenarios = load_suite("suite.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from pydantic import ValidationError

from toolgym import ftrl, rotbench, stateful, toolhop
from toolgym.error import InvalidScenario, SuiteError, did_you_mean
from toolgym.rows import dumps
from toolgym.scenario import Scenario

__all__ = [
    "FORMATS",
    "ROW_FORMATS",
    "Reader",
    "RowFormat",
    "Writer",
    "load_suite",
    "row_format",
    "row_to_scenario",
    "save_suite",
    "scenario_to_row",
    "to_hf_dataset",
]

_PARQUET_MAGIC = b"PAR1"


class Reader(Protocol):
    """Reads one row as a scenario (or a list of them, for a row that holds several); relative
    paths in the row are relative to ``base_dir``.

    ``path`` is the file the row comes from (None when not read from a file). A reader that has
    no ``path`` keyword (nor ``**kwargs``) is called without it.
    """

    def __call__(
        self,
        row: Mapping[str, Any],
        *,
        base_dir: str | Path | None = None,
        path: str | Path | None = None,
    ) -> Scenario | list[Scenario]: ...


class Writer(Protocol):
    """Writes a scenario as one row of a file in ``base_dir`` (None: paths as read)."""

    def __call__(self, scenario: Scenario, *, base_dir: str | Path | None = None) -> dict[str, Any]: ...


def _every_scenario(scenario: Scenario) -> bool:
    return True


class RowFormat(NamedTuple):
    """One kind of row: how to recognize it, read it and (optionally) write it."""

    name: str
    """The name ``save_suite(format=...)`` takes; kinds of rows of one format share it."""
    recognizes: Callable[[Mapping[str, Any]], bool]
    """True for a row of this kind (the first entry of :data:`ROW_FORMATS` that says so reads it)."""
    read: Reader
    """Row -> scenario."""
    write: Writer | None = None
    """Scenario -> row, or None for a format that is only read."""
    writes: Callable[[Scenario], bool] = _every_scenario
    """True for the scenarios ``write`` handles (the first entry of the format that says so)."""


def _is_stateful(scenario: Scenario) -> bool:
    return scenario.task is not None


def _is_stateless(scenario: Scenario) -> bool:
    return scenario.task is None


def _any_row(row: Mapping[str, Any]) -> bool:
    return True


def _holds_scenario_json(row: Mapping[str, Any]) -> bool:
    return isinstance(row.get("scenario"), str)


def _read_scenario_json(row: Mapping[str, Any], *, base_dir: str | Path | None = None) -> Scenario:
    """A ToolGym scenario as JSON in a ``scenario`` column (other columns are views of it)."""
    try:
        return Scenario.model_validate_json(row["scenario"])
    except ValidationError as exc:
        raise InvalidScenario(f"not a valid ToolGym scenario: {_first_error(exc)}") from None


def _read_toolgym(row: Mapping[str, Any], *, base_dir: str | Path | None = None) -> Scenario:
    """A ToolGym scenario: its own fields."""
    try:
        return Scenario.model_validate(dict(row))
    except ValidationError as exc:
        raise InvalidScenario(f"not a valid ToolGym scenario: {_first_error(exc)}") from None


def _write_toolgym(scenario: Scenario, *, base_dir: str | Path | None = None) -> dict[str, Any]:
    return scenario.model_dump(mode="json")


ROW_FORMATS: tuple[RowFormat, ...] = (
    # first: a RoTBench item's "scenario" column is a category ("TG"), not a ToolGym scenario
    RowFormat("rotbench", rotbench.is_rotbench_row, rotbench.scenario_from_rotbench),
    RowFormat("toolgym", _holds_scenario_json, _read_scenario_json),  # first: its views look like FTRL
    RowFormat("ftrl", ftrl.is_ftrl_row, ftrl.scenario_from_ftrl, ftrl.scenario_to_ftrl, _is_stateless),
    RowFormat("toolhop", toolhop.is_toolhop_row, toolhop.read_toolhop_row),  # one scenario per mode
    RowFormat("ftrl", stateful.is_stateful_row, stateful.scenario_from_stateful_row,
              stateful.stateful_to_row, _is_stateful),
    RowFormat("toolgym", _any_row, _read_toolgym, _write_toolgym),  # last: takes any other row
)
"""The row formats, in the order rows are recognized; add a format here (see the module docstring)."""

FORMATS: tuple[str, ...] = tuple(dict.fromkeys(f.name for f in ROW_FORMATS if f.write is not None))
"""Row formats :func:`save_suite` writes."""


def row_format(row: Mapping[str, Any]) -> RowFormat:
    """The entry of :data:`ROW_FORMATS` that reads ``row``: the first that recognizes it."""
    return next(fmt for fmt in ROW_FORMATS if fmt.recognizes(row))


def row_to_scenario(
    row: Any, *, base_dir: str | Path | None = None, path: str | Path | None = None
) -> Scenario | list[Scenario]:
    """Reads one suite row of any format (see the module docstring): its scenario, or its list of
    scenarios for a format whose row holds several (a ToolHop row, one per mode).

    Args:
        row: The decoded JSON object of one line (or one Parquet row, or one item of a JSON list).
        base_dir: The directory relative paths in the row start from (the suite file's).
        path: The file the row comes from, for formats that take facts from it (RoTBench's folder
            and noise level); None: not from a file.

    Raises:
        InvalidScenario: the row is not an object, or not a valid row of its format.
    """
    if not isinstance(row, Mapping):
        raise InvalidScenario(f"expected a JSON object, got {type(row).__name__}")
    read = row_format(row).read
    if _takes_path(read):
        return read(row, base_dir=base_dir, path=path)
    return read(row, base_dir=base_dir)


def _takes_path(read: Callable[..., Any]) -> bool:
    """True when ``read`` accepts a ``path`` keyword (readers written before it existed do not)."""
    try:
        parameters = inspect.signature(read).parameters.values()
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return False
    return any(p.name == "path" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(row)"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"field {where!r}: {first['msg']}{more}"


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise SuiteError(f"Unknown suite format {format!r}; expected one of {FORMATS}." + did_you_mean(format, FORMATS))


def scenario_to_row(
    scenario: Scenario, format: str = "toolgym", *, base_dir: str | Path | None = None
) -> dict[str, Any]:
    """One scenario as a row of ``format`` (one of :data:`FORMATS`).

    Args:
        scenario: The scenario.
        format: ``"toolgym"`` (the scenario's own fields) or ``"ftrl"`` (an FTRL row, or FTRL's
            stateful row for a stateful task).
        base_dir: The directory of the file the row goes to; paths in the row (a stateful row's
            domain) are made relative to it. None: as read.

    Raises:
        SuiteError: unknown format, or one that cannot write this scenario.
    """
    _check_format(format)
    for fmt in ROW_FORMATS:
        if fmt.name == format and fmt.write is not None and fmt.writes(scenario):
            return fmt.write(scenario, base_dir=base_dir)
    raise SuiteError(f"The {format!r} format cannot write scenario {scenario.id!r}.")


_SUITE_SUFFIXES = (".jsonl", ".json", ".parquet", ".pq")
"""The files a suite folder is made of."""


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    with path.open("rb") as f:
        return f.read(4) == _PARQUET_MAGIC


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield str(lineno), json.loads(line)
            except json.JSONDecodeError as exc:
                hint = " (a truncated line?)" if exc.pos >= len(line.rstrip()) else ""
                raise SuiteError(
                    f"{path}:{lineno}: not valid JSON{hint}: {exc.msg} at column {exc.colno}."
                ) from None


def _json_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """A ``.json`` file: a list of rows (``item N``, from 0), one row, or JSONL under that name."""
    text = path.read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.lstrip().startswith("["):
            yield from _jsonl_rows(path)  # JSON Lines in a file named .json
            return
        where = f"{path}:{exc.lineno}"
        raise SuiteError(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}.") from None
    if isinstance(value, list):
        yield from ((f"item {i}", row) for i, row in enumerate(value))
    else:
        yield "1", value


def _parquet_rows(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise SuiteError(f"{path}: reading Parquet suites needs pyarrow: pip install pyarrow.") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise SuiteError(f"{path}: not a readable Parquet file: {exc}") from None
    yield from ((str(i), row) for i, row in enumerate(table.to_pylist(), 1))


def _suite_files(folder: Path) -> list[Path]:
    """The suite files of a folder and of its subfolders (one level), hidden ones left out."""
    found = {
        file for pattern in ("*", "*/*") for file in folder.glob(pattern)
        if file.suffix.lower() in _SUITE_SUFFIXES and file.is_file()
        and not any(part.startswith(".") for part in file.relative_to(folder).parts)
    }
    return sorted(found, key=lambda file: file.relative_to(folder).parts)


def load_suite(path: str | os.PathLike[str]) -> list[Scenario]:
    """Reads a suite: a JSONL, JSON or Parquet file, or a folder of them (see the module docstring).

    The files hold ToolGym scenarios, FTRL rows, RoTBench items or a mix. Stateful rows find their
    domain directory relative to their file's directory.

    Raises:
        SuiteError: the path is missing, a file or the folder is empty, or a row is broken; the
            message starts with ``file:line`` (the row number in Parquet files, ``file:item N``
            in a JSON list) and says what is wrong.
    """
    path = Path(path)
    if path.is_dir():
        files = _suite_files(path)
        if not files:
            raise SuiteError(
                f"The folder {str(path)!r} holds no suite file ({', '.join(_SUITE_SUFFIXES)}, "
                "in it or one level down)."
            )
        return [scenario for file in files for scenario in _load_file(file)]
    if not path.is_file():
        raise SuiteError(f"No suite file at {str(path)!r}. Make one with `toolgym generate -o FILE`.")
    return _load_file(path)


def _load_file(path: Path) -> list[Scenario]:
    if _is_parquet(path):
        rows = _parquet_rows(path)
    else:
        rows = _json_rows(path) if path.suffix.lower() == ".json" else _jsonl_rows(path)
    scenarios = []
    for where, row in rows:
        try:
            read = row_to_scenario(row, base_dir=path.parent, path=path)
            scenarios.extend(read if isinstance(read, list) else [read])
        except InvalidScenario as exc:
            raise SuiteError(f"{path}:{where}: {exc}") from None
    if not scenarios:
        raise SuiteError(f"{path}:1: the suite holds no scenario (the file is empty).")
    return scenarios


def _rows(scenarios: Iterable[Scenario], format: str, out_dir: Path) -> Iterator[dict[str, Any]]:
    for scenario in scenarios:
        yield scenario_to_row(scenario, format, base_dir=out_dir)


def save_suite(
    scenarios: Iterable[Scenario], path: str | os.PathLike[str], format: str = "toolgym"
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
    _check_format(format)
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


def _write_parquet(rows: Iterable[dict[str, Any]], tmp: Path, format: str) -> int:
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


def to_hf_dataset(scenarios: Iterable[Scenario]) -> Any:
    """A :class:`datasets.Dataset` of scenarios, in TRL's conversational format.

    Columns: ``prompt`` (the opening messages, ``role`` and ``content``), ``tools`` (the OpenAI
    schemas as a JSON string: Arrow would merge every schema's properties into one struct),
    ``scenario`` (the whole scenario as JSON, what reward functions need), ``id``, ``shape``,
    ``question``, ``answer`` and ``unsolved_set`` (JSON). Requires the ``datasets`` package.
    :func:`load_suite` reads such rows back (``ds.to_parquet(path)``, then ``load_suite(path)``).

    Example:
        >>> ds = to_hf_dataset(scenarios)  # doctest: +SKIP
        >>> Scenario.model_validate_json(ds[0]["scenario"]).id  # doctest: +SKIP
    """
    import datasets

    rows = []
    for scenario in scenarios:
        rows.append({
            "prompt": [_plain_message(m) for m in scenario.messages],
            "tools": dumps(scenario.tool_docs),
            "scenario": scenario.model_dump_json(),
            "id": scenario.id,
            "shape": scenario.shape,
            "question": scenario.question,
            "answer": scenario.answer,
            "unsolved_set": dumps(scenario.sub_answers()),
        })
    return datasets.Dataset.from_list(rows)


def _plain_message(message: Mapping[str, Any]) -> dict[str, str]:
    """``{"role", "content"}`` only: Arrow needs one column type for every prompt message."""
    content = message.get("content")
    text = content if isinstance(content, str) else "" if content is None else dumps(content)
    return {"role": str(message.get("role", "")), "content": text}
