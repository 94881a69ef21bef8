"""FTRL's row format: lossless conversion to and from :class:`~toolgym.scenario.Scenario`.

An FTRL row (one line of the paper's JSONL files) holds ``messages`` (the opening chat), ``tools``
(a JSON string of OpenAI function schemas), ``codes`` (a JSON string: tool name -> Python source
defining that function), ``unsolved_set`` (a JSON string: tool name -> sub-answers its outputs must
contain), ``answer``, ``solve_rate``, ``data_source`` (``self/multi_hop``, ...) and ``split``.

Reading a row keeps everything: fields with no place in a scenario go to ``Scenario.meta``, and
when a field cannot be rebuilt exactly from the scenario (an odd tool schema, a sub-answer that is
not a string, a ``codes`` entry without a tool, a different key order) its original value is kept
under ``meta["ftrl_raw"]`` (see :mod:`toolgym.rows`), so
``scenario_to_ftrl(scenario_from_ftrl(row)) == row`` for every row.

FTRL's stateful rows (``instruction``, ``actions``, ``outputs``) are another format,
:mod:`toolgym.stateful`; :mod:`toolgym.suites` tells the two apart.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolgym.error import InvalidScenario
from toolgym.rows import (
    dumps,
    extra_columns,
    keep_original,
    remember_originals,
    restore_originals,
    row_id,
    source_tools,
)
from toolgym.scenario import SHAPES, Scenario, SourceImpl, SubTask

__all__ = [
    "FTRL_KEYS",
    "is_ftrl_row",
    "question_of",
    "scenario_from_ftrl",
    "scenario_to_ftrl",
]

FTRL_KEYS: tuple[str, ...] = (
    "messages", "tools", "codes", "unsolved_set", "solve_rate", "data_source", "split", "answer",
)
"""The columns of an FTRL row, in the order of the paper's files."""

_OWNED = frozenset({"messages", "tools", "codes", "unsolved_set", "answer"})
"""Row keys that a scenario holds in its own fields; the others go to ``meta``."""


def is_ftrl_row(row: Mapping[str, Any]) -> bool:
    """True for a row in FTRL's question format (it has ``codes`` or ``unsolved_set``)."""
    return "codes" in row or "unsolved_set" in row


def _decode(row: Mapping[str, Any], key: str, default: Any) -> Any:
    value = row.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidScenario(f"FTRL field {key!r} is not valid JSON: {exc}.") from None


def question_of(messages: Iterable[Mapping[str, Any]]) -> str:
    """The question: the last user message, after ``"Question: "`` when the prompt has one."""
    for message in reversed(list(messages)):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            content = message["content"]
            _, found, after = content.rpartition("Question: ")
            return after.strip() if found else content.strip()
    return ""


def _scenario_id(row: Mapping[str, Any]) -> str:
    """The id a ToolGym-written row carries in ``extra_info``, else a hash of the row's content."""
    extra = row.get("extra_info")
    if isinstance(extra, dict) and isinstance(extra.get("id"), str):
        return extra["id"]
    return row_id("ftrl", row.get("messages"), row.get("tools"), row.get("unsolved_set"))


def _subtasks(unsolved: Any) -> tuple[SubTask, ...]:
    if not isinstance(unsolved, dict):
        raise InvalidScenario(
            f"FTRL field 'unsolved_set' must hold a JSON object, got {type(unsolved).__name__}."
        )
    subtasks = []
    for tool, answers in unsolved.items():
        for answer in answers if isinstance(answers, list) else [answers]:
            text = answer if isinstance(answer, str) else dumps(answer)
            subtasks.append(SubTask(tool=tool, answer=text))
    return tuple(subtasks)


def scenario_from_ftrl(row: Mapping[str, Any], *, base_dir: str | Path | None = None) -> Scenario:
    """Reads one FTRL row as a scenario: source tools, sub-answers from ``unsolved_set``, FTRL matching.

    Args:
        row: The decoded JSON object of one line.
        base_dir: Unused (FTRL rows name no files); every row reader takes it, see
            :mod:`toolgym.suites`.

    Raises:
        InvalidScenario: a field has the wrong type or does not decode.

    Example:
        >>> row = {"messages": [{"role": "user", "content": "Question: Who?"}],
        ...        "tools": '[{"type": "function", "function": {"name": "f", "description": "",'
        ...                 ' "parameters": {"type": "object", "properties": {}}}}]',
        ...        "codes": '{"f": "def f():\\\\n    return \\'Ann\\'"}',
        ...        "unsolved_set": '{"f": ["Ann"]}', "answer": "Ann", "solve_rate": 0.0,
        ...        "data_source": "self/single_hop", "split": "test"}
        >>> scenario = scenario_from_ftrl(row)
        >>> scenario.question, scenario.shape, scenario.sub_answers()
        ('Who?', 'self/single_hop', {'f': ['Ann']})
        >>> scenario_to_ftrl(scenario) == row
        True
    """
    if not isinstance(row, Mapping):
        raise InvalidScenario(f"An FTRL row must be a JSON object, got {type(row).__name__}.")
    messages = row.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise InvalidScenario("FTRL field 'messages' must be a list of message objects.")
    codes, specs = _decode(row, "codes", {}), _decode(row, "tools", [])
    if not isinstance(codes, dict):
        raise InvalidScenario(f"FTRL field 'codes' must hold a JSON object, got {type(codes).__name__}.")
    if not isinstance(specs, list):
        raise InvalidScenario(f"FTRL field 'tools' must hold a JSON list, got {type(specs).__name__}.")
    answer, data_source = row.get("answer", ""), row.get("data_source", "self")
    meta = {key: copy.deepcopy(value) for key, value in row.items() if key not in _OWNED}
    meta.setdefault("data_source", data_source)  # marks the scenario as imported (see scenario_to_ftrl)
    try:
        scenario = Scenario(
            id=_scenario_id(row),
            shape=data_source if isinstance(data_source, str) else dumps(data_source),
            question=question_of(messages),
            messages=tuple(copy.deepcopy(messages)),
            tools=source_tools(specs, codes),
            subtasks=_subtasks(_decode(row, "unsolved_set", {})),
            answer=answer if isinstance(answer, str) else "" if answer is None else dumps(answer),
            match="ftrl",
            meta=meta,
        )
    except ValidationError as exc:
        raise InvalidScenario(f"FTRL row does not make a valid scenario: {exc}") from None
    return _with_originals(scenario, row)


def _with_originals(scenario: Scenario, row: Mapping[str, Any]) -> Scenario:
    """Keeps in ``meta`` whatever :func:`scenario_to_ftrl` would not rebuild byte for byte."""
    rebuilt = scenario_to_ftrl(scenario)
    raw: dict[str, Any] = {}
    for key in ("tools", "codes", "unsolved_set", "answer"):
        if key in row:
            keep_original(raw, key, row[key], rebuilt[key])
    meta = remember_originals(scenario.meta, row, raw, columns=FTRL_KEYS, written=rebuilt)
    return scenario.model_copy(update={"meta": meta})


def _codes(scenario: Scenario) -> dict[str, str]:
    codes = {}
    for tool in scenario.tools:
        if isinstance(tool.impl, SourceImpl):
            codes[tool.name] = tool.impl.code
        else:
            from toolgym.tools.builtin import render_source

            codes[tool.name] = render_source(tool)
    return codes


def _data_source(scenario: Scenario) -> str:
    if "data_source" in scenario.meta:
        return scenario.meta["data_source"]
    return f"toolgym/{scenario.shape}" if scenario.shape in SHAPES else scenario.shape


def scenario_to_ftrl(scenario: Scenario, *, base_dir: str | Path | None = None) -> dict[str, Any]:
    """Writes a scenario as an FTRL row.

    Generated tools become Python source (:func:`toolgym.tools.builtin.render_source`),
    ``unsolved_set`` comes from :meth:`Scenario.sub_answers`, ``data_source`` is
    ``toolgym/<shape>``, ``split`` ``"train"`` and ``solve_rate`` 0.0 unless ``meta`` says otherwise,
    and an ``extra_info`` column holds the id and the rest of ``meta`` (seed, knobs, ...). Sub-task
    questions and gold calls have no FTRL column: they are not written.

    Args:
        scenario: A scenario without a stateful task.
        base_dir: Unused (FTRL rows name no files); every row writer takes it.

    Raises:
        InvalidScenario: the scenario is a stateful task; write it with
            ``toolgym.suites.scenario_to_row(scenario, "ftrl")``.
    """
    if scenario.task is not None:
        raise InvalidScenario(
            f"Scenario {scenario.id!r} is a stateful task, which FTRL writes as a stateful row: "
            "use toolgym.suites.scenario_to_row(scenario, 'ftrl')."
        )
    row: dict[str, Any] = {
        "messages": [copy.deepcopy(dict(m)) for m in scenario.messages],
        "tools": dumps(scenario.tool_docs),
        "codes": dumps(_codes(scenario)),
        "unsolved_set": dumps(scenario.sub_answers()),
        "solve_rate": scenario.meta.get("solve_rate", 0.0),
        "data_source": _data_source(scenario),
        "split": scenario.meta.get("split", "train"),
        "answer": scenario.answer,
    }
    extras = extra_columns(scenario.meta, row)
    if "data_source" in scenario.meta:  # an imported row: its other columns come back as they were
        row.update(extras)
    else:  # a native scenario: its id and provenance in one column, as verl's ``extra_info``
        row["extra_info"] = {"id": scenario.id, **extras}
    return restore_originals(row, scenario.meta)
