"""ToolHop's row format and FTRL's way of grading it (``Code/evaluation/evaluation_toolhop.py``).

A ToolHop row is one multi-hop question with its own tools: ``question``, ``answer`` (the gold
string), ``tools`` (sub-question -> OpenAI function schema without the ``{"type": "function"}``
wrapper; the function's name is ``spec["name"]``) and ``functions`` (the Python source of the
tools). FTRL's copy of the data (``Data/jsonl/raw/ToolHop.jsonl``) has ``functions`` as a dict
tool name -> source; the original ToolHop release has a list of sources, which this module maps to
tool names by the top-level ``def`` each source holds. Rows may also carry ``id``, ``sub_task``
(sub-question -> sub-answer), ``messages`` (used instead of the prompt, as FTRL does),
``data_source`` and ``gold_calls`` (the calls that solve the chain, in hop order; ToolGym's own
column, kept in ``Scenario.meta["gold_calls"]`` for agents that replay them).

FTRL plays each question in three modes, each with its own prompt (:data:`PROMPTS`): ``direct``
(no tools, one reply), ``mandatory`` (tools; the prompt says to call one at every step) and
``free`` (tools). :func:`scenarios_from_toolhop` makes one scenario per mode. The episode is
graded by the final answer only (:func:`toolhop_correct`, FTRL's ``_answer_correct``): the
scenarios carry no sub-tasks, so Solve-P/R/F1 do not apply.

Example:
    >>> row = {"question": "What is 2 + 3?", "answer": "5",
    ...        "tools": {"What is 2 + 3?": {"name": "add", "description": "Adds.",
    ...                  "parameters": {"type": "object", "properties": {}}}},
    ...        "functions": {"add": "def add(a, b):\\n    return a + b"}}
    >>> [(s.shape, len(s.tools), s.max_turns) for s in scenarios_from_toolhop(row)]
    [('toolhop/direct', 0, 1), ('toolhop/mandatory', 1, 9), ('toolhop/free', 1, 9)]
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolgym.error import InvalidScenario, did_you_mean
from toolgym.matching import contains_answer
from toolgym.rows import read_call, row_id, source_tools
from toolgym.scenario import AnswerGrading, Scenario, Tool

__all__ = [
    "DEFAULT_MODE",
    "MAX_TURNS",
    "MODES",
    "PROMPTS",
    "answer_verify",
    "is_toolhop_row",
    "read_toolhop_row",
    "scenario_from_toolhop",
    "scenarios_from_toolhop",
    "toolhop_correct",
]

MODES: tuple[str, ...] = ("direct", "mandatory", "free")
"""FTRL's ToolHop scenarios (``--scenario Direct|Mandatory|Free``), lowercased."""

DEFAULT_MODE = "free"
"""The mode :func:`scenario_from_toolhop` reads a row in when neither the caller nor the row names
one. FTRL's command line defaults to Direct, which offers no tools; Free is the mode that offers
the tools and imposes nothing, what a tool-use environment is expected to be."""

MAX_TURNS: dict[str, int] = {"direct": 1, "mandatory": 9, "free": 9}
"""Model replies per episode, as FTRL runs each mode: Direct asks once, the others loop
``--max_turns`` (default 9) times."""

_OPENING = "You will be asked a question with some tools, and should provide a short final answer.\n"
_MANDATORY = (
    "Please note that you must call the tool at every step, you must not use your own knowledge. "
    "Your final answer must also be returned from the tool.\n"
)
_RULES = (
    "If the final answer is a date, format is as follows: YYYY-MM-DD (ISO standard)\n"
    "If the final nswer is a name, format it as follows: Firstname Lastname\n"
    "If the final answer contains any number, format it as a number, not a word, and only "
    "output that number. Do not include leading 0s.\n\n"
    "Please provide the final answer in the following format: <answer>final answer here</answer>\n"
    "Answer as short as possible.\n"
    "Question: {question}"
)
"""FTRL's Mandatory and Free prompts share their opening and rules (its typo "nswer" kept)."""

PROMPTS: dict[str, str] = {
    "direct": (
        "You will be asked a question, and should provide a short answer.\n"
        "If the answer is a date, format is as follows: YYYY-MM-DD (ISO standard)\n"
        "If the answer is a name, format it as follows: Firstname Lastname\n"
        "If the answer contains any number, format it as a number, not a word, and only output "
        "that number. Do not include leading 0s.\n\n"
        "Please provide the answer in the following format: <answer>your answer here</answer>\n"
        "Answer as short as possible.\n"
        "Question: {question}"
    ),
    "mandatory": _OPENING + _MANDATORY + _RULES,
    "free": _OPENING + _RULES,
}
"""FTRL's user prompt per mode, byte for byte, with ``{question}`` where the question goes
(``PROMPTS[mode].format(question=...)``). "If the final nswer is a name" is FTRL's typo, kept
on purpose (Mandatory and Free have it, Direct does not): models were evaluated on these bytes."""

_REQUIRED = ("question", "answer", "tools", "functions")
_OWNED = frozenset({*_REQUIRED, "messages"})
"""Row keys that a scenario holds in its own fields; the others go to ``meta``."""
_DEF = re.compile(r"^(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)


def answer_verify(predict: Any, golden: str) -> bool:
    """FTRL's ``answer_verify``: every ``", "``-separated piece of ``golden`` is in ``predict``.

    Both sides are lowercased, stripped and rid of commas; a dict or list prediction is JSON first
    (``ensure_ascii=False``), anything else ``str()``. A substring test, not an exact match: a
    reply that lists many candidates passes.

    Example:
        >>> answer_verify("The answer is Stanley Park, Blackpool.", "Stanley Park, Blackpool")
        True
        >>> answer_verify({"count": 1024}, "1,024")
        True
        >>> answer_verify("Stanley Park", "Stanley Park, Blackpool")
        False
    """
    if type(predict) in (dict, list):  # FTRL's exact type test: subclasses go through str()
        predict = json.dumps(predict, ensure_ascii=False)
    elif type(predict) is not str:
        predict = str(predict)
    return contains_answer(predict, golden, match="ftrl")  # FTRL's one substring rule


def toolhop_correct(messages: Sequence[Mapping[str, Any]], answer: str) -> bool:
    """FTRL's ``_answer_correct``: whether a finished ToolHop chat gives the gold ``answer``.

    The last message must be an assistant message with non-empty content. It is correct when
    :func:`answer_verify` accepts that content, or else when the message before it is a tool
    message whose content :func:`answer_verify` accepts. A chat that ends on a tool message (the
    turns ran out) or on an empty reply is wrong, whatever the tools returned. The whole content
    is searched: no ``<answer>`` extraction, thinking text included.

    Example:
        >>> chat = [{"role": "user", "content": "How many letters ...?"},
        ...         {"role": "tool", "content": '{"letter_count": 4}'},
        ...         {"role": "assistant", "content": "<answer>four</answer>"}]
        >>> toolhop_correct(chat, "4")  # the tool output right before the reply has it
        True
        >>> toolhop_correct(chat[:2] + [{"role": "assistant", "content": ""}], "4")
        False
    """
    if not messages or messages[-1].get("role") != "assistant":
        return False
    content = messages[-1].get("content")
    if not content:
        return False
    if answer_verify(content, answer):
        return True
    previous = messages[-2] if len(messages) >= 2 else {}
    return previous.get("role") == "tool" and answer_verify(previous.get("content"), answer)


def is_toolhop_row(row: Mapping[str, Any]) -> bool:
    """True for a ToolHop row: ``question``, ``answer``, ``tools`` (an object) and ``functions``
    (an object or a list)."""
    return (
        "question" in row
        and "answer" in row
        and isinstance(row.get("tools"), dict)
        and isinstance(row.get("functions"), (dict, list))
    )


def scenarios_from_toolhop(
    row: Mapping[str, Any],
    *,
    base_dir: str | Path | None = None,
    path: str | Path | None = None,
    modes: Iterable[str] = MODES,
) -> list[Scenario]:
    """Reads one ToolHop row as one scenario per mode.

    Each scenario has id ``toolhop-<hash of question, answer, tools>/<mode>``, shape
    ``toolhop/<mode>``, one user message (the mode's prompt, or the row's own ``messages``), the
    row's tools (none in ``direct``), the gold ``answer``, :class:`~toolgym.scenario.AnswerGrading`,
    FTRL matching and the mode's :data:`MAX_TURNS`. ``meta`` holds ``data_source`` (the row's, else
    ``ToolHop/<Mode>`` as FTRL writes it), ``mode`` and the row's other columns (``id``,
    ``sub_task``, ``gold_calls``, ...).

    Tool code: ``functions`` is a dict tool name -> source (FTRL's copy) or a list of sources (the
    original release), each source then going to the tool named by its top-level ``def`` (the
    first source wins; a source that names no tool is left out). A tool without source gets an
    empty one: calling it gives the agent an error, as a missing function does in FTRL. A name
    repeated in ``tools`` is offered once, with its first schema.

    Args:
        row: The decoded JSON object of one row.
        base_dir: Unused (ToolHop rows name no files); every row reader takes it.
        path: The file the row comes from, named in errors.
        modes: Modes to make, among :data:`MODES` (FTRL's capitalized names are accepted).

    Raises:
        InvalidScenario: a field is missing or has the wrong type (the message names it), or a
            mode is unknown.
    """
    where = f"ToolHop row in {path}" if path is not None else "ToolHop row"
    checked = [_check_mode(mode) for mode in modes]
    fields = _read_fields(row, where)
    return [_scenario(row, fields, mode, where) for mode in checked]


def scenario_from_toolhop(
    row: Mapping[str, Any],
    *,
    mode: str | None = None,
    base_dir: str | Path | None = None,
    path: str | Path | None = None,
) -> Scenario:
    """Reads one ToolHop row as the scenario of one mode (see :func:`scenarios_from_toolhop`).

    Args:
        row: The decoded JSON object of one row.
        mode: One of :data:`MODES`. None: the row's ``mode`` column, else the mode its
            ``data_source`` names (``"ToolHop/Free"``), else :data:`DEFAULT_MODE`.
        base_dir: Unused (ToolHop rows name no files); every row reader takes it.
        path: The file the row comes from, named in errors.

    Raises:
        InvalidScenario: a field is missing or has the wrong type, or the mode is unknown.
    """
    if mode is None:
        mode = _mode_of(row)
    (scenario,) = scenarios_from_toolhop(row, base_dir=base_dir, path=path, modes=(mode,))
    return scenario


def _check_mode(mode: Any) -> str:
    if isinstance(mode, str) and mode.lower() in MODES:
        return mode.lower()
    raise InvalidScenario(
        f"Unknown ToolHop mode {mode!r}; expected one of {MODES}."
        + did_you_mean(str(mode).lower(), MODES)
    )


def read_toolhop_row(
    row: Mapping[str, Any], *, base_dir: str | Path | None = None, path: str | Path | None = None
) -> list[Scenario]:
    """A suite row's scenarios: the mode the row names (``mode`` or ``data_source``), else all three
    modes, so one ``toolgym eval`` reports Direct, Mandatory and Free side by side."""
    names = isinstance(row, Mapping) and (
        row.get("mode") is not None or str(row.get("data_source", "")).lower().startswith("toolhop/")
    )
    modes = (_mode_of(row),) if names else MODES
    return scenarios_from_toolhop(row, base_dir=base_dir, path=path, modes=modes)


def _mode_of(row: Mapping[str, Any]) -> str:
    """The mode a row names (``mode``, or ``data_source`` ``"ToolHop/<Mode>"``), else the default."""
    if isinstance(row, Mapping) and row.get("mode") is not None:
        return row["mode"]
    source = row.get("data_source") if isinstance(row, Mapping) else None
    if isinstance(source, str) and source.lower().startswith("toolhop/"):
        named = source.split("/", 1)[1].lower()
        if named in MODES:
            return named
    return DEFAULT_MODE


def _read_fields(row: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The checked fields the scenarios are made of: question, answer, specs, codes, messages."""
    if not isinstance(row, Mapping):
        raise InvalidScenario(f"A {where} must be a JSON object, got {type(row).__name__}.")
    missing = [key for key in _REQUIRED if key not in row]
    if missing:
        needs = ", ".join(_REQUIRED)
        raise InvalidScenario(f"{where} lacks the field {missing[0]!r} (needs {needs}).")
    for key in ("question", "answer"):
        if not isinstance(row[key], str):
            got = type(row[key]).__name__
            raise InvalidScenario(f"{where}: field {key!r} must be a string, got {got}.")
    specs = _specs(row["tools"], where)
    messages = row.get("messages")
    if messages and not (isinstance(messages, list) and all(isinstance(m, dict) for m in messages)):
        raise InvalidScenario(f"{where}: field 'messages' must be a list of message objects.")
    return {
        "specs": specs,
        "codes": _codes(row["functions"], [spec["name"] for spec in specs], where),
        "messages": messages or None,
        "gold_calls": _gold_calls(row.get("gold_calls"), where),
    }


def _specs(tools: Any, where: str) -> list[dict[str, Any]]:
    """The function schemas of ``tools`` (sub-question -> schema), each name once, in row order."""
    if not isinstance(tools, dict):
        raise InvalidScenario(
            f"{where}: field 'tools' must be an object (sub-question -> function schema), "
            f"got {type(tools).__name__}."
        )
    specs: dict[str, dict[str, Any]] = {}
    for key, spec in tools.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            raise InvalidScenario(
                f"{where}: field 'tools' entry {key!r} is not a function schema with a 'name'."
            )
        specs.setdefault(spec["name"], spec)
    return list(specs.values())


def _codes(functions: Any, names: Sequence[str], where: str) -> dict[str, str]:
    """Tool name -> source, from FTRL's dict or the original release's list of sources."""
    if isinstance(functions, dict):
        for name, code in functions.items():
            if not isinstance(code, str):
                raise InvalidScenario(
                    f"{where}: field 'functions' entry {name!r} must be source text, "
                    f"got {type(code).__name__}."
                )
        return dict(functions)
    if not isinstance(functions, list):
        raise InvalidScenario(
            f"{where}: field 'functions' must be an object (name -> source) or a list of sources, "
            f"got {type(functions).__name__}."
        )
    codes: dict[str, str] = {}
    for i, code in enumerate(functions):
        if not isinstance(code, str):
            raise InvalidScenario(
                f"{where}: field 'functions' item {i} must be source text, got {type(code).__name__}."
            )
        for name in _defined_functions(code):
            if name in names:
                codes.setdefault(name, code)
    return codes


def _defined_functions(code: str) -> list[str]:
    """Names of the top-level functions of ``code``; a regex finds them when it does not parse,
    so the tool still gets its source and the agent sees the syntax error when calling it."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return _DEF.findall(code)
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _gold_calls(calls: Any, where: str) -> list[dict[str, Any]] | None:
    """The row's ``gold_calls`` as ``{"name", "arguments"}`` objects, or None when it has none."""
    if calls is None:
        return None
    if not isinstance(calls, list):
        raise InvalidScenario(
            f"{where}: field 'gold_calls' must be a list of tool calls, got {type(calls).__name__}."
        )
    return [
        read_call(call, f"{where}: field 'gold_calls' item {i}").model_dump()
        for i, call in enumerate(calls)
    ]


def _scenario(row: Mapping[str, Any], fields: dict[str, Any], mode: str, where: str) -> Scenario:
    question = row["question"]
    prompt = {"role": "user", "content": PROMPTS[mode].format(question=question)}
    messages = fields["messages"] or [prompt]
    tools: tuple[Tool, ...] = ()
    if mode != "direct":
        tools = source_tools(fields["specs"], fields["codes"])
    meta = {key: copy.deepcopy(value) for key, value in row.items() if key not in _OWNED}
    if fields["gold_calls"] is not None:
        meta["gold_calls"] = fields["gold_calls"]
    meta["data_source"] = row.get("data_source", f"ToolHop/{mode.capitalize()}")
    meta["mode"] = mode
    try:
        return Scenario(
            id=row_id("toolhop", question, row["answer"], row["tools"]) + f"/{mode}",
            shape=f"toolhop/{mode}",
            question=question,
            messages=tuple(copy.deepcopy(messages)),
            tools=tools,
            answer=row["answer"],
            match="ftrl",
            grading=AnswerGrading(),
            max_turns=MAX_TURNS[mode],
            meta=meta,
        )
    except ValidationError as exc:
        raise InvalidScenario(f"{where} does not make a valid scenario: {exc}") from None
