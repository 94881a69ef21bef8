"""Stateful tasks: tools that change a database, scored by the hash of the final data.

FTRL's stateful rows (from tau-bench) hold an ``instruction``, the gold ``actions`` (OpenAI-style
tool calls), the ``outputs`` the agent must say and a ``data_source`` naming a domain directory,
relative to the suite file's directory. The domain directory holds:

* ``tools.json``: the OpenAI function schemas;
* ``codes.json``: tool name -> Python source; every function takes the domain's data dict through a
  parameter named ``data`` and may change it;
* ``wiki.md``: the system prompt (the domain's policy);
* the data files, every other ``*.json``, loaded into the data dict by file stem
  (``orders.json`` -> ``data["orders"]``).

The reward is tau-bench's: 1 when the canonical hash of the final data equals the hash after
replaying the gold actions on a fresh copy, and every required output was said; else 0. The gold
actions replay in a :class:`~toolgym.tools.sandbox.SandboxRuntime`, as the codes are untrusted.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolgym.error import InvalidScenario
from toolgym.ftrl import keep_original, reorder, row_id
from toolgym.reward import TurnScore
from toolgym.scenario import Scenario, SourceImpl, StatefulTask, Tool, ToolCall, ToolDoc

__all__ = [
    "STATEFUL_KEYS",
    "Domain",
    "fresh_state",
    "gold_hash",
    "is_stateful_row",
    "load_domain",
    "outputs_said",
    "replay",
    "scenario_from_stateful_row",
    "score_stateful",
    "state_hash",
    "stateful_to_row",
]

STATEFUL_KEYS: tuple[str, ...] = ("instruction", "actions", "outputs", "data_source")
"""The columns of FTRL's stateful rows, in the order of its files."""

DATA_PARAM = "data"
"""The parameter through which domain functions receive the data dict; hidden from the agent."""

_NOT_DATA = frozenset({"tools.json", "codes.json"})


@dataclass(frozen=True)
class Domain:
    """A domain directory, read once: its tools, their code, its policy and its data files."""

    path: Path
    tools: tuple[dict[str, Any], ...]
    codes: dict[str, str]
    wiki: str
    data_files: tuple[Path, ...]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidScenario(f"The domain directory {str(path.parent)!r} has no {path.name}.") from None
    except json.JSONDecodeError as exc:
        raise InvalidScenario(f"{path}: not valid JSON: {exc}.") from None


@functools.lru_cache(maxsize=64)
def _load_domain(path: str) -> Domain:
    root = Path(path)
    if not root.is_dir():
        raise InvalidScenario(
            f"No domain directory at {path!r}: a stateful row's data_source names a directory "
            "(tools.json, codes.json, wiki.md and data files), relative to the suite file."
        )
    tools, codes = _read_json(root / "tools.json"), _read_json(root / "codes.json")
    if not isinstance(tools, list) or not isinstance(codes, dict):
        raise InvalidScenario(
            f"In {path!r}, tools.json must hold a list of function schemas and codes.json an "
            "object of tool name -> source."
        )
    wiki = root / "wiki.md"
    data_files = tuple(sorted(p for p in root.glob("*.json") if p.name not in _NOT_DATA))
    return Domain(root, tuple(tools), codes, wiki.read_text(encoding="utf-8") if wiki.is_file() else "",
                  data_files)


def load_domain(path: str | Path) -> Domain:
    """Reads a domain directory (cached per absolute path).

    Raises:
        InvalidScenario: the directory, ``tools.json`` or ``codes.json`` is missing or malformed.
    """
    return _load_domain(str(Path(path).resolve()))


def fresh_state(task: StatefulTask) -> dict[str, Any]:
    """The domain's data as a new dict, read from its files: ``{file stem: content}``."""
    return {path.stem: _read_json(path) for path in load_domain(task.domain).data_files}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


def state_hash(state: Mapping[str, Any] | None) -> str:
    """The canonical hash of a data dict: sha256 of its JSON with sorted keys and no spaces."""
    text = json.dumps(state, sort_keys=True, separators=(",", ":"), default=_jsonable)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def replay(task: StatefulTask, calls: Sequence[ToolCall], **sandbox: Any) -> dict[str, Any]:
    """Runs ``calls`` on a fresh copy of the task's data in a sandbox; returns the final data."""
    from toolgym.tools.sandbox import SandboxRuntime

    codes = dict(load_domain(task.domain).codes)
    runtime = SandboxRuntime(codes, **sandbox)
    try:
        runtime.reset(codes, state=fresh_state(task))
        for call in calls:
            runtime.call(call.name, dict(call.arguments))
        return runtime.get_state()
    finally:
        runtime.close()


@functools.lru_cache(maxsize=4096)
def _gold_hash(task_json: str) -> str:
    task = StatefulTask.model_validate_json(task_json)
    return state_hash(replay(task, task.actions))


def gold_hash(task: StatefulTask) -> str:
    """The hash of the data after the gold actions (computed once per task, then cached)."""
    return _gold_hash(task.model_dump_json())


def _clean(text: str) -> str:
    return " ".join(str(text).lower().replace(",", "").split())


def outputs_said(outputs: Sequence[str], messages: Sequence[Mapping[str, Any]]) -> bool:
    """True when every output appears in some assistant message (lowercased, commas deleted)."""
    said = [_clean(m.get("content") or "") for m in messages if m.get("role") == "assistant"]
    return all(any(_clean(output) in text for text in said) for output in outputs)


def score_stateful(
    task: StatefulTask, final_state: Mapping[str, Any] | None, messages: Sequence[Mapping[str, Any]]
) -> TurnScore:
    """Scores a finished stateful episode: 1 when the data and the outputs are right, else 0.

    Args:
        task: The task, with its gold actions and required outputs.
        final_state: The data after the episode (None when no tool ran: the fresh data).
        messages: The whole chat; the outputs are looked for in its assistant messages.
    """
    state = fresh_state(task) if final_state is None else final_state
    passed = state_hash(state) == gold_hash(task) and outputs_said(task.outputs, messages)
    return TurnScore(1.0 if passed else 0.0, "correct" if passed else "wrong", answer_correct=passed)


def is_stateful_row(row: Mapping[str, Any]) -> bool:
    """True for one of FTRL's stateful rows (``instruction`` and ``actions``)."""
    return "instruction" in row and "actions" in row


def _hide_data(spec: Mapping[str, Any]) -> ToolDoc:
    doc = ToolDoc.from_openai(dict(spec))
    props = doc.parameters.get("properties")
    if not isinstance(props, dict) or DATA_PARAM not in props:
        return doc
    parameters = dict(doc.parameters)
    parameters["properties"] = {k: v for k, v in props.items() if k != DATA_PARAM}
    if isinstance(parameters.get("required"), list):
        parameters["required"] = [k for k in parameters["required"] if k != DATA_PARAM]
    return doc.model_copy(update={"parameters": parameters})


def _tools(domain: Domain) -> tuple[Tool, ...]:
    tools = []
    for spec in domain.tools:
        doc = _hide_data(spec)
        code = domain.codes.get(doc.name, "")
        tools.append(Tool(doc=doc, impl=SourceImpl(code=code if isinstance(code, str) else "")))
    return tuple(tools)


def _read_action(i: int, action: Any) -> ToolCall:
    fn = action.get("function", action) if isinstance(action, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise InvalidScenario(f"actions[{i}] is not a tool call with a function name.")
    arguments = fn.get("arguments") or {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidScenario(f"actions[{i}]: the arguments are not valid JSON: {exc}.") from None
    if not isinstance(arguments, dict):
        raise InvalidScenario(f"actions[{i}]: the arguments must be a JSON object.")
    return ToolCall(name=fn["name"], arguments=arguments)


def _action_rows(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [
        {"id": str(i), "type": "function",
         "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}
        for i, call in enumerate(calls)
    ]


def scenario_from_stateful_row(row: Mapping[str, Any], *, base_dir: str | Path | None = None) -> Scenario:
    """Reads one of FTRL's stateful rows as a scenario.

    The chat opens with the domain's ``wiki.md`` as the system message and the instruction as the
    user's; the tools come from ``tools.json`` and ``codes.json`` (the ``data`` parameter hidden).

    Args:
        row: ``{"instruction", "actions", "outputs", "data_source", ...}``.
        base_dir: The directory ``data_source`` is relative to (the suite file's); default: cwd.

    Raises:
        InvalidScenario: a field has the wrong type, or the domain directory is missing.
    """
    instruction, actions = row.get("instruction"), row.get("actions")
    outputs, source = row.get("outputs", []), row.get("data_source")
    if not isinstance(instruction, str) or not isinstance(actions, list):
        raise InvalidScenario("A stateful row needs 'instruction' (a string) and 'actions' (a list).")
    if not isinstance(source, str) or not source:
        raise InvalidScenario("A stateful row needs 'data_source': the domain directory, e.g. 'shop/orders'.")
    if not isinstance(outputs, list):
        raise InvalidScenario(f"'outputs' must be a list of strings, got {type(outputs).__name__}.")
    domain = load_domain(Path(base_dir or ".") / source)
    calls = tuple(_read_action(i, action) for i, action in enumerate(actions))
    meta = {k: copy.deepcopy(v) for k, v in row.items() if k not in STATEFUL_KEYS[:3]}
    raw: dict[str, Any] = {}
    keep_original(raw, "actions", actions, _action_rows(calls))
    keep_original(raw, "outputs", outputs, [str(o) for o in outputs])
    if "outputs" not in row:
        raw["absent"] = ["outputs"]
    if raw:
        meta["ftrl_raw"] = raw
    if list(row) != [k for k in dict.fromkeys((*STATEFUL_KEYS, *meta)) if k in row]:
        meta["ftrl_key_order"] = list(row)
    try:
        task = StatefulTask(domain=str(domain.path), actions=calls, outputs=tuple(str(o) for o in outputs))
        return Scenario(
            id=row_id("stateful", source, instruction, actions),
            shape=source,
            question=instruction,
            messages=({"role": "system", "content": domain.wiki}, {"role": "user", "content": instruction}),
            tools=_tools(domain),
            match="ftrl",
            task=task,
            meta=meta,
        )
    except ValidationError as exc:
        raise InvalidScenario(f"The stateful row does not make a valid scenario: {exc}") from None


def stateful_to_row(scenario: Scenario) -> dict[str, Any]:
    """Writes a stateful scenario as FTRL's stateful row (inverse of :func:`scenario_from_stateful_row`)."""
    task = scenario.task
    if task is None:
        raise InvalidScenario(f"Scenario {scenario.id!r} is not a stateful task.")
    raw = scenario.meta.get("ftrl_raw", {})
    row: dict[str, Any] = {
        "instruction": scenario.question,
        "actions": copy.deepcopy(raw.get("actions", _action_rows(task.actions))),
        "outputs": copy.deepcopy(raw.get("outputs", list(task.outputs))),
        "data_source": scenario.meta.get("data_source", task.domain),
    }
    for key, value in scenario.meta.items():
        if key not in ("ftrl_raw", "ftrl_key_order", *row):
            row[key] = copy.deepcopy(value)
    for key in raw.get("absent", ()):
        row.pop(key, None)
    return reorder(row, scenario.meta.get("ftrl_key_order"))

