"""FTRL's row format: lossless conversion to and from :class:`~toolgym.scenario.Scenario`.

An FTRL row (one line of the paper's JSONL files) holds ``messages`` (the opening chat), ``tools``
(a JSON string of OpenAI function schemas), ``codes`` (a JSON string: tool name -> Python source
defining that function), ``unsolved_set`` (a JSON string: tool name -> sub-answers its outputs must
contain), ``answer``, ``solve_rate``, ``data_source`` (``self/multi_hop``, ...) and ``split``.

Reading a row keeps everything: fields with no place in a scenario go to ``Scenario.meta``, and
when a field cannot be rebuilt exactly from the scenario (an odd tool schema, a sub-answer that is
not a string, a ``codes`` entry without a tool, a different key order) its original value is kept
under ``meta["ftrl_raw"]``, so ``scenario_to_ftrl(scenario_from_ftrl(row)) == row`` for every row.

Rows of stateful tasks (``instruction``, ``actions``, ``outputs``) live in :mod:`toolgym.stateful`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolgym.error import InvalidScenario
from toolgym.scenario import SHAPES, Scenario, SourceImpl, SubTask, Tool, ToolDoc

__all__ = [
    "FTRL_KEYS",
    "dumps",
    "is_ftrl_row",
    "keep_original",
    "question_of",
    "reorder",
    "row_id",
    "scenario_from_ftrl",
    "scenario_to_ftrl",
    "to_hf_dataset",
]

FTRL_KEYS: tuple[str, ...] = (
    "messages", "tools", "codes", "unsolved_set", "solve_rate", "data_source", "split", "answer",
)
"""The columns of an FTRL row, in the order of the paper's files."""

_OWNED = frozenset({"messages", "tools", "codes", "unsolved_set", "answer"})
"""Row keys that a scenario holds in its own fields; the others go to ``meta``."""
_RAW = "ftrl_raw"
_ABSENT = "absent"
_KEY_ORDER = "ftrl_key_order"


def dumps(value: Any) -> str:
    """JSON as FTRL writes it (``ensure_ascii=False``): the paper's strings come back byte-equal."""
    return json.dumps(value, ensure_ascii=False)


def row_id(prefix: str, *parts: Any) -> str:
    """A stable scenario id for an imported row: ``prefix-`` and 12 hex digits of a content hash."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8"))
    return f"{prefix}-{digest.hexdigest()[:12]}"


def is_ftrl_row(row: Mapping[str, Any]) -> bool:
    """True for a row in FTRL's question format (it has ``codes`` or ``unsolved_set``)."""
    return "codes" in row or "unsolved_set" in row


def keep_original(raw: dict[str, Any], key: str, original: Any, rebuilt: Any) -> None:
    """Stores ``original`` in ``raw`` when ``rebuilt`` differs from it (order of keys included)."""
    if dumps(original) != dumps(rebuilt):
        raw[key] = original


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


def _tools(specs: Any, codes: Mapping[str, Any]) -> tuple[Tool, ...]:
    if not isinstance(specs, list):
        raise InvalidScenario(f"FTRL field 'tools' must hold a JSON list, got {type(specs).__name__}.")
    tools = []
    for i, spec in enumerate(specs):
        fn = spec.get("function", spec) if isinstance(spec, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidScenario(f"tools[{i}] is not an OpenAI function schema with a 'name'.")
        code = codes.get(fn["name"], "")
        doc = ToolDoc.from_openai(spec)
        tools.append(Tool(doc=doc, impl=SourceImpl(code=code if isinstance(code, str) else "")))
    return tuple(tools)


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
        row: The decoded JSON object of one line. Rows of stateful tasks (``instruction`` and
            ``actions``) are passed on to :func:`toolgym.stateful.scenario_from_stateful_row`.
        base_dir: Directory that a stateful row's ``data_source`` is relative to.

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
    if "instruction" in row and "actions" in row and not is_ftrl_row(row):
        from toolgym.stateful import scenario_from_stateful_row

        return scenario_from_stateful_row(row, base_dir=base_dir)
    messages = row.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise InvalidScenario("FTRL field 'messages' must be a list of message objects.")
    codes = _decode(row, "codes", {})
    if not isinstance(codes, dict):
        raise InvalidScenario(f"FTRL field 'codes' must hold a JSON object, got {type(codes).__name__}.")
    answer = row.get("answer", "")
    data_source = row.get("data_source", "self")
    meta = {key: copy.deepcopy(value) for key, value in row.items() if key not in _OWNED}
    meta.setdefault("data_source", data_source)  # marks the scenario as imported (see _ABSENT)
    try:
        scenario = Scenario(
            id=_scenario_id(row),
            shape=data_source if isinstance(data_source, str) else dumps(data_source),
            question=question_of(messages),
            messages=tuple(copy.deepcopy(messages)),
            tools=_tools(_decode(row, "tools", []), codes),
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
        if key in row and dumps(row[key]) != dumps(rebuilt[key]):
            raw[key] = copy.deepcopy(row[key])
    absent = [key for key in FTRL_KEYS if key not in row]
    if absent:
        raw[_ABSENT] = absent
    meta = dict(scenario.meta)
    if raw:
        meta[_RAW] = raw
    if list(row) != [key for key in rebuilt if key in row]:
        meta[_KEY_ORDER] = list(row)
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


def scenario_to_ftrl(scenario: Scenario) -> dict[str, Any]:
    """Writes a scenario as an FTRL row (stateful tasks as FTRL's stateful rows).

    Generated tools become Python source (:func:`toolgym.tools.builtin.render_source`),
    ``unsolved_set`` comes from :meth:`Scenario.sub_answers`, ``data_source`` is
    ``toolgym/<shape>``, ``split`` ``"train"`` and ``solve_rate`` 0.0 unless ``meta`` says otherwise,
    and an ``extra_info`` column holds the id and the rest of ``meta`` (seed, knobs, ...). Sub-task
    questions and gold calls have no FTRL column: they are not written.
    """
    if scenario.task is not None:
        from toolgym.stateful import stateful_to_row

        return stateful_to_row(scenario)
    raw = scenario.meta.get(_RAW, {})
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
    row.update({key: copy.deepcopy(value) for key, value in raw.items() if key in row})
    extras = {k: copy.deepcopy(v) for k, v in scenario.meta.items() if k not in (_RAW, _KEY_ORDER, *row)}
    if "data_source" in scenario.meta:  # an imported row: its other columns come back as they were
        row.update(extras)
    else:  # a native scenario: its id and provenance in one column, as verl's ``extra_info``
        row["extra_info"] = {"id": scenario.id, **extras}
    for key in raw.get(_ABSENT, ()):
        row.pop(key, None)
    return reorder(row, scenario.meta.get(_KEY_ORDER))


def reorder(row: dict[str, Any], order: list[str] | None) -> dict[str, Any]:
    """``row`` with the keys named in ``order`` first, in that order (``row`` itself if none)."""
    if not order:
        return row
    return {**{k: row[k] for k in order if k in row}, **{k: v for k, v in row.items() if k not in order}}


def to_hf_dataset(scenarios: Iterable[Scenario]) -> Any:
    """A :class:`datasets.Dataset` of scenarios, in TRL's conversational format.

    Columns: ``prompt`` (the opening messages, ``role`` and ``content``), ``tools`` (the OpenAI
    schemas as a JSON string: Arrow would merge every schema's properties into one struct),
    ``scenario`` (the whole scenario as JSON, what reward functions need), ``id``, ``shape``,
    ``question``, ``answer`` and ``unsolved_set`` (JSON). Requires the ``datasets`` package.

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
