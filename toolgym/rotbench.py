"""RoTBench's row format and FTRL's grading of it: one ReAct reply against the gold replies.

RoTBench (Ye et al., 2024; public repository Junjie-Ye/RoTBench) asks a model for one ReAct reply
(``Thought: ...\\nAction: NAME\\nAction Input: {json}``) given a system prompt that lists the
tools, a user query and, in ``Third_Turn`` files, two earlier rounds of calls and results. Each
file (``Data/{First_Turn,Third_Turn}/{clean,slight,medium,heavy,union}.json``) is a JSON list of
items ``{"id", "scenario", "conversations": [{"from", "value"}, ...]}`` whose last assistant
``value`` is the list of acceptable gold replies.

FTRL's ``Code/evaluation/evaluation_rotbench.py`` reads rows ``{"messages", "answer",
"data_source"}`` instead (``answer`` being the same gold list) and scores one reply with
:func:`rotbench_metrics`. Both kinds of row read as a :class:`~toolgym.scenario.Scenario` with
:class:`~toolgym.scenario.ReplyGrading`, ``max_turns=1`` and no tool schemas: as in FTRL, the tools
exist only inside the system prompt.

How the ``conversations`` become chat messages is our choice, since FTRL's conversion is not
public: ``system``, ``user`` and (string) ``assistant`` turns keep their role, and a ``function``
turn becomes ``{"role": "tool", "name": ..., "content": ...}``, named after the ``Action`` of the
assistant turn before it (no ``name`` when that turn has none). The final gold list is the grading,
not a message. Reading only: nothing writes these rows back.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolgym.error import InvalidScenario
from toolgym.rows import dumps, row_id
from toolgym.scenario import ReplyGrading, Scenario

__all__ = [
    "is_ftrl_rotbench_row",
    "is_rotbench_item",
    "is_rotbench_row",
    "rotbench_metrics",
    "scenario_from_rotbench",
]

_ROLES = {"system": "system", "user": "user", "assistant": "assistant", "function": "tool"}
"""RoTBench's ``from`` -> the chat role of the message."""
_NOT_ROTBENCH = ("codes", "unsolved_set", "instruction")
"""Columns of FTRL's other row formats: a row with one of them is not a RoTBench row."""


def _react_call(text: str) -> tuple[str, Any]:
    """FTRL's reading of a ReAct reply (``str.split``, first occurrences); raises when it fails."""
    tool = text.split("Action: ")[1].split("Action Input: ")[0].strip()
    parameters = json.loads(text.split("Action Input: ")[1].strip())
    if type(parameters) is not dict:  # FTRL: assert type(parameters) == dict
        raise ValueError(f"parameters should be dict, but got {type(parameters)}")
    return tool, parameters


def _gold_calls(golds: Sequence[Any], where: str = "gold replies") -> list[tuple[str, Any]]:
    """Every gold reply read as FTRL reads it (where its script would crash, this raises)."""
    if isinstance(golds, str) or not isinstance(golds, Sequence) or not golds:
        raise InvalidScenario(f"{where} must be a non-empty list of strings, got {golds!r:.80}.")
    calls = []
    for i, gold in enumerate(golds):
        if not isinstance(gold, str) or "Action:" not in gold:
            raise InvalidScenario(
                f"{where}[{i}] must be a string 'Thought: ...\\nAction: NAME\\nAction Input: {{json}}', "
                f"got {gold!r:.80}."
            )
        try:
            calls.append(_react_call(gold))
        except (IndexError, ValueError) as exc:
            raise InvalidScenario(
                f"{where}[{i}] does not read as FTRL reads gold replies ('Action: ' and "
                f"'Action Input: ' then a JSON object): {exc}; got {gold!r:.80}."
            ) from None
    return calls


def rotbench_metrics(reply: str, golds: Sequence[str]) -> dict[str, float]:
    """RoTBench's tool selection, parameter identification and content filling of one reply.

    Exactly FTRL's ``evaluation_rotbench.py``: the reply's tool is the text between the first
    ``"Action: "`` and the first ``"Action Input: "``; its parameters are everything after the
    first ``"Action Input: "``, which must be one JSON object and nothing else. The golds are read
    in order: a gold with the reply's tool sets tool selection; with the same parameter names too,
    parameter identification; with the same multiset of values too (``Counter``: which key holds
    which value is not checked), content filling, and the loop stops. Flags only rise, so they may
    come from different golds. A reply that does not read scores 0 on all three; an error in the
    loop (an unhashable value) keeps the flags set so far.

    Args:
        reply: The model's raw reply.
        golds: The acceptable gold replies, in order.

    Returns:
        ``{"tool_selection", "parameter_identification", "content_filling"}``, each 0.0 or 1.0.

    Raises:
        InvalidScenario: a gold reply does not read (FTRL's script crashes on it).

    Example:
        >>> gold = 'Thought:\\nAction: translate\\nAction Input: {"text": "hi", "lang": "ja"}'
        >>> rotbench_metrics('Action: translate\\nAction Input: {"text": "hi", "lang": "fr"}', [gold])
        {'tool_selection': 1.0, 'parameter_identification': 1.0, 'content_filling': 0.0}
    """
    answers = _gold_calls(golds)
    ts = pi = cf = 0.0
    try:
        tool, parameters = _react_call(reply)
        for gold_tool, gold_parameters in answers:
            if gold_tool == tool:
                ts = 1.0
                if not gold_parameters.keys() ^ parameters.keys():
                    pi = 1.0
                    if Counter(gold_parameters.values()) == Counter(parameters.values()):
                        cf = 1.0
                        break
    except Exception:  # FTRL's bare ``except: pass``: an unreadable reply, an unhashable value
        pass
    return {"tool_selection": ts, "parameter_identification": pi, "content_filling": cf}


def is_rotbench_item(row: Mapping[str, Any]) -> bool:
    """True for an item of RoTBench's own files (it has ``conversations``)."""
    return "conversations" in row


def is_ftrl_rotbench_row(row: Mapping[str, Any]) -> bool:
    """True for FTRL's RoTBench row: ``messages`` and an ``answer`` list of ReAct gold replies."""
    answer = row.get("answer")
    return (
        "messages" in row
        and isinstance(answer, list)
        and bool(answer)
        and all(isinstance(gold, str) and "Action:" in gold for gold in answer)
        and not any(key in row for key in _NOT_ROTBENCH)
    )


def is_rotbench_row(row: Mapping[str, Any]) -> bool:
    """True for either kind of RoTBench row (:func:`scenario_from_rotbench` reads both)."""
    return is_rotbench_item(row) or is_ftrl_rotbench_row(row)


def scenario_from_rotbench(
    row: Mapping[str, Any], *, base_dir: str | Path | None = None, path: str | Path | None = None
) -> Scenario:
    """Reads a RoTBench item, or FTRL's RoTBench row, as a one-turn scenario graded by its golds.

    Args:
        row: ``{"id", "scenario", "conversations"}`` (RoTBench) or ``{"messages", "answer",
            "data_source"?}`` (FTRL).
        base_dir: Unused (the rows name no files); every row reader takes it.
        path: The file the item comes from: its folder and stem name the scenario's shape,
            ``.../First_Turn/clean.json`` -> ``rotbench/first_turn/clean``. None: ``rotbench``.
            FTRL's rows take their shape from ``data_source`` instead.

    Raises:
        InvalidScenario: the row is malformed, or a gold reply does not read.

    Example:
        >>> item = {"id": "Turn 1: Hi?", "scenario": "TG", "conversations": [
        ...     {"from": "system", "value": "Use the tools."}, {"from": "user", "value": "Hi?"},
        ...     {"from": "assistant", "value": ["Thought:\\nAction: finish\\nAction Input: {}"]}]}
        >>> scenario = scenario_from_rotbench(item, path="Data/First_Turn/clean.json")
        >>> scenario.shape, scenario.question, len(scenario.messages), scenario.max_turns
        ('rotbench/first_turn/clean', 'Hi?', 2, 1)
    """
    if not isinstance(row, Mapping):
        raise InvalidScenario(f"A RoTBench row must be a JSON object, got {type(row).__name__}.")
    if is_rotbench_item(row):
        shape = _shape_of_file(path)
        messages, golds = _read_conversations(row["conversations"])
        ident = row_id("rotbench", row.get("id"), shape, row["conversations"])
        meta = {key: copy.deepcopy(value) for key, value in row.items() if key != "conversations"}
    elif is_ftrl_rotbench_row(row):
        shape = _shape_of_source(row.get("data_source"))
        messages, golds = _read_messages(row["messages"]), _gold_texts(row["answer"], "'answer'")
        ident = row_id("rotbench", row.get("data_source"), row["messages"], row["answer"])
        meta = {key: copy.deepcopy(v) for key, v in row.items() if key not in ("messages", "answer")}
    else:
        raise InvalidScenario(
            "A RoTBench row needs 'conversations' (RoTBench's items) or 'messages' and an 'answer' "
            "list of gold replies (FTRL's rows)."
        )
    try:
        return Scenario(
            id=ident, shape=shape, question=_last_user_text(messages), messages=messages, tools=(),
            match="ftrl", grading=ReplyGrading(golds=golds), max_turns=1, meta=meta,
        )
    except ValidationError as exc:
        raise InvalidScenario(f"The RoTBench row does not make a valid scenario: {exc}") from None


def _shape_of_file(path: str | Path | None) -> str:
    if path is None:
        return "rotbench"
    file = Path(path).absolute()
    parts = [part for part in (file.parent.name, file.stem) if part]
    return "/".join(["rotbench", *parts]).lower()


def _shape_of_source(source: Any) -> str:
    if source is None:
        return "rotbench"
    if not isinstance(source, str) or not source:
        raise InvalidScenario(
            f"FTRL's RoTBench field 'data_source' must be a string, got {source!r:.80}."
        )
    shape = source.lower()
    return shape if shape == "rotbench" or shape.startswith("rotbench/") else f"rotbench/{shape}"


def _gold_texts(golds: Any, where: str) -> tuple[str, ...]:
    _gold_calls(golds, where)
    return tuple(golds)


def _read_conversations(conversations: Any) -> tuple[tuple[dict[str, Any], ...], tuple[str, ...]]:
    """The chat before the final assistant turn, and that turn's gold replies."""
    if not isinstance(conversations, list) or not conversations:
        raise InvalidScenario(
            "RoTBench field 'conversations' must be a non-empty list of {'from', 'value'} objects."
        )
    for i, turn in enumerate(conversations):
        if not isinstance(turn, dict) or not isinstance(turn.get("from"), str) or turn["from"] not in _ROLES:
            raise InvalidScenario(
                f"conversations[{i}] must be an object whose 'from' is one of {sorted(_ROLES)}, "
                f"got {turn!r:.80}."
            )
    *history, last = conversations
    if last["from"] != "assistant" or not isinstance(last.get("value"), list):
        raise InvalidScenario(
            "The last of the 'conversations' must be the assistant turn whose 'value' is the list of "
            f"gold replies, got {last!r:.80}."
        )
    golds = _gold_texts(last["value"], f"conversations[{len(conversations) - 1}].value")
    messages = []
    action: str | None = None  # the Action of the last assistant turn: a function turn's name
    for i, turn in enumerate(history):
        content = turn.get("value")
        if not isinstance(content, str):
            raise InvalidScenario(f"conversations[{i}].value must be a string, got {content!r:.80}.")
        role = _ROLES[turn["from"]]
        if role == "tool":
            messages.append({"role": role, **({"name": action} if action else {}), "content": content})
            continue
        if role == "assistant":
            action = _action_of(content)
        messages.append({"role": role, "content": content})
    return tuple(messages), golds


def _action_of(text: str) -> str | None:
    """The tool an assistant turn names, read as FTRL reads replies; None when it names none."""
    if "Action: " not in text:
        return None
    return text.split("Action: ")[1].split("Action Input: ")[0].strip() or None


def _read_messages(messages: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise InvalidScenario("FTRL's RoTBench field 'messages' must be a list of message objects.")
    return tuple(copy.deepcopy(messages))


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            return content.strip() if isinstance(content, str) else dumps(content)
    return ""
