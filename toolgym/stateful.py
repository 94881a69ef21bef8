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
replaying the gold actions on a fresh copy, and every required output was said (:func:`passes`;
under ``match="ftrl"`` only in assistant messages with tool calls, as FTRL's evaluation reads
them); else 0. The gold actions replay in a :class:`~toolgym.tools.sandbox.SandboxRuntime`, as the
codes are untrusted. An episode is a conversation with a simulated user (:mod:`toolgym.users`).
Generated worlds (:mod:`toolgym.generate.stateful`) carry their data inline and the gold hash
their builder computed (``StatefulTask.data``, ``target_hash``).

The hash is :func:`toolgym.state_hash.state_hash`; :func:`passes` computes it with a
:class:`~toolgym.state_hash.StateHasher` of the task's initial data, which serializes again only
the records that changed.

Domains and gold hashes are cached by the content of the domain directory (its
:func:`domain_fingerprint`), so a domain whose files change on disk is read and replayed anew.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolgym.error import InvalidScenario
from toolgym.matching import Match
from toolgym.rows import (
    extra_columns,
    keep_original,
    read_call,
    remember_originals,
    restore_originals,
    row_id,
    source_tools,
)
from toolgym.scenario import Scenario, StatefulTask, ToolCall
from toolgym.state_hash import StateHasher, state_hash

__all__ = [
    "STATEFUL_KEYS",
    "Domain",
    "domain_fingerprint",
    "fresh_state",
    "gold_hash",
    "is_stateful_row",
    "load_domain",
    "outputs_said",
    "replay",
    "scenario_from_stateful_row",
    "passes",
    "state_hash",
    "stateful_to_row",
]

TAU_BENCH_TURNS = 30
"""Turns per stateful episode: FTRL's default for tau-bench."""

STATEFUL_KEYS: tuple[str, ...] = ("instruction", "actions", "outputs", "data_source")
"""The columns of FTRL's stateful rows, in the order of its files."""

DATA_PARAM = "data"
"""The parameter through which domain functions receive the data dict; hidden from the agent."""

_NOT_DATA = frozenset({"tools.json", "codes.json"})


@dataclass(frozen=True)
class Domain:
    """A domain directory, read once per content: its tools, their code, its policy and data files."""

    path: Path
    tools: tuple[dict[str, Any], ...]
    codes: dict[str, str]
    wiki: str
    data_files: tuple[Path, ...]
    fingerprint: str
    """The :func:`domain_fingerprint` of the directory when it was read."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidScenario(f"The domain directory {str(path.parent)!r} has no {path.name}.") from None
    except json.JSONDecodeError as exc:
        raise InvalidScenario(f"{path}: not valid JSON: {exc}.") from None


def domain_fingerprint(path: str | Path) -> str:
    """A sha256 of the domain directory's files: their names and the sha256 of their bytes.

    It changes whenever a file of the directory is added, removed, renamed or edited, and only
    then, so caches keyed by it never serve stale data.
    """
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).iterdir() if p.is_file()):
        digest.update(file.name.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _read_domain(path: str, fingerprint: str) -> Domain:
    root = Path(path)
    tools, codes = _read_json(root / "tools.json"), _read_json(root / "codes.json")
    if not isinstance(tools, list) or not isinstance(codes, dict):
        raise InvalidScenario(
            f"In {path!r}, tools.json must hold a list of function schemas and codes.json an "
            "object of tool name -> source."
        )
    wiki = root / "wiki.md"
    data_files = tuple(sorted(p for p in root.glob("*.json") if p.name not in _NOT_DATA))
    return Domain(root, tuple(tools), codes, wiki.read_text(encoding="utf-8") if wiki.is_file() else "",
                  data_files, fingerprint)


def load_domain(path: str | Path) -> Domain:
    """Reads a domain directory (cached per absolute path and :func:`domain_fingerprint`).

    Raises:
        InvalidScenario: the directory, ``tools.json`` or ``codes.json`` is missing or malformed.
    """
    root = Path(path).resolve()
    if not root.is_dir():
        raise InvalidScenario(
            f"No domain directory at {str(root)!r}: a stateful row's data_source names a "
            "directory (tools.json, codes.json, wiki.md and data files), relative to the suite file."
        )
    return _read_domain(str(root), domain_fingerprint(root))


def fresh_state(task: StatefulTask) -> dict[str, Any]:
    """The task's initial data as a new dict: inline, or read from the domain's files
    (``{file stem: content}``)."""
    if task.data is not None:
        return json.loads(_inline_memo(task)["json"])
    return {path.stem: _read_json(path) for path in load_domain(task.domain).data_files}


_INLINE: dict[int, dict[str, Any]] = {}
"""id(task) -> memo of an inline task (its data's JSON, its StateHasher), dropped with the task."""


def _inline_memo(task: StatefulTask) -> dict[str, Any]:
    memo = _INLINE.get(id(task))
    if memo is None:
        memo = _INLINE[id(task)] = {"json": json.dumps(task.data)}
        weakref.finalize(task, _INLINE.pop, id(task), None)
    return memo




def _hasher(task: StatefulTask) -> StateHasher:
    """The :class:`StateHasher` of a task's initial data (one per domain content, or inline task)."""
    if task.data is not None:
        memo = _inline_memo(task)
        if "hasher" not in memo:
            memo["hasher"] = StateHasher(task.data)
        return memo["hasher"]
    domain = load_domain(task.domain)
    return _domain_hasher(str(domain.path), domain.fingerprint)


@functools.lru_cache(maxsize=16)
def _domain_hasher(path: str, fingerprint: str) -> StateHasher:
    # ``fingerprint`` is only part of the cache key: a changed domain is read anew.
    return StateHasher({p.stem: _read_json(p) for p in load_domain(path).data_files})


def replay(task: StatefulTask, calls: Sequence[ToolCall], *, codes: Mapping[str, str] | None = None,
           **sandbox: Any) -> dict[str, Any]:
    """Runs ``calls`` on a fresh copy of the task's data in a sandbox; returns the final data.

    Args:
        task: The task (its data: inline or the domain directory's files).
        calls: The calls to run, in order.
        codes: Tool name -> source (default: the domain directory's ``codes.json``; a task with
            inline data needs them: its scenario's tools).
        **sandbox: Options of :class:`~toolgym.tools.sandbox.SandboxRuntime`.
    """
    from toolgym.tools.sandbox import SandboxRuntime

    if codes is None and task.data is not None:
        raise InvalidScenario("A task with inline data keeps its code in its scenario's tools: "
                              "replay(task, calls, codes={tool.name: tool.impl.code for tool in scenario.tools}).")
    codes = dict(codes if codes is not None else load_domain(task.domain).codes)
    runtime = SandboxRuntime(codes, **sandbox)
    try:
        runtime.reset(codes, state=fresh_state(task))
        for call in calls:
            runtime.call(call.name, dict(call.arguments))
        return runtime.get_state()
    finally:
        runtime.close()


@functools.lru_cache(maxsize=4096)
def _gold_hash(task_json: str, fingerprint: str) -> str:
    # ``fingerprint`` is only part of the cache key: a changed domain is replayed anew.
    task = StatefulTask.model_validate_json(task_json)
    return state_hash(replay(task, task.actions))


def gold_hash(task: StatefulTask) -> str:
    """The hash of the data after the gold actions: the builder's ``target_hash`` for inline data,
    else replayed once per task and domain content."""
    if task.target_hash is not None:
        return task.target_hash
    return _gold_hash(task.model_dump_json(), load_domain(task.domain).fingerprint)


def _clean(text: str) -> str:
    return " ".join(str(text).lower().replace(",", "").split())


def outputs_said(outputs: Sequence[str], messages: Sequence[Mapping[str, Any]], match: Match = "strict") -> bool:
    """True when every required output was said to the user.

    Strict: in some assistant message (both lowercased, commas deleted, spacing folded). FTRL's
    rule (``match="ftrl"``, its ``evaluation_taubench.py``): ``output.lower()`` is a substring of
    the lowercased, comma-stripped content of an assistant message that carries tool calls (a
    plain reply does not count).

    Example:
        >>> said = [{"role": "assistant", "content": "You paid $1,000."}]
        >>> outputs_said(["1000"], said), outputs_said(["1000"], said, match="ftrl")
        (True, False)
    """
    assistant = [m for m in messages if m.get("role") == "assistant"]
    if match == "ftrl":
        said = [str(m.get("content") or "").lower().replace(",", "") for m in assistant if m.get("tool_calls")]
        return all(any(str(output).lower() in text for text in said) for output in outputs)
    said = [_clean(m.get("content") or "") for m in assistant]
    return all(any(_clean(output) in text for text in said) for output in outputs)


def passes(
    task: StatefulTask,
    final_state: Mapping[str, Any] | None,
    messages: Sequence[Mapping[str, Any]],
    match: Match = "strict",
) -> bool:
    """tau-bench's rule: the final data hashes as the gold actions' data does, and every required
    output was said (:func:`outputs_said`). :class:`toolgym.reward.StatefulScorer` scores a
    stateful episode with it.

    Args:
        task: The task, with its gold actions and required outputs.
        final_state: The data after the episode (None when no tool ran: the fresh data).
        messages: The whole chat; the outputs are looked for in its assistant messages.
        match: ``"strict"`` or ``"ftrl"`` (which messages count for the outputs).
    """
    state = fresh_state(task) if final_state is None else final_state
    return _hasher(task).hexdigest(state) == gold_hash(task) and outputs_said(task.outputs, messages, match)


def is_stateful_row(row: Mapping[str, Any]) -> bool:
    """True for one of FTRL's stateful rows (``instruction`` and ``actions``)."""
    return "instruction" in row and "actions" in row


def _action_rows(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [
        {"id": str(i), "type": "function",
         "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}
        for i, call in enumerate(calls)
    ]


def _check_fields(row: Mapping[str, Any]) -> None:
    if not isinstance(row.get("instruction"), str) or not isinstance(row.get("actions"), list):
        raise InvalidScenario("A stateful row needs 'instruction' (a string) and 'actions' (a list).")
    source = row.get("data_source")
    if not isinstance(source, str) or not source:
        raise InvalidScenario("A stateful row needs 'data_source': the domain directory, e.g. 'shop/orders'.")
    outputs = row.get("outputs", [])
    if not isinstance(outputs, list):
        raise InvalidScenario(f"'outputs' must be a list of strings, got {type(outputs).__name__}.")


def _meta(row: Mapping[str, Any], calls: Sequence[ToolCall]) -> dict[str, Any]:
    """The row's other columns, and what :func:`stateful_to_row` needs to give the row back."""
    outputs = row.get("outputs", [])
    raw: dict[str, Any] = {}
    keep_original(raw, "actions", row["actions"], _action_rows(calls))
    keep_original(raw, "outputs", outputs, [str(o) for o in outputs])
    meta = {k: copy.deepcopy(v) for k, v in row.items() if k not in STATEFUL_KEYS[:3]}
    written = dict.fromkeys((*STATEFUL_KEYS, *meta))
    return remember_originals(meta, row, raw, columns=STATEFUL_KEYS, written=written)


def scenario_from_stateful_row(row: Mapping[str, Any], *, base_dir: str | Path | None = None) -> Scenario:
    """Reads one of FTRL's stateful rows as a scenario.

    The chat opens with the domain's ``wiki.md`` as the system message and the instruction as the
    user's (an env replaces the user's message with its simulated user's first one: the scripted
    user's is the instruction); the tools come from ``tools.json`` and ``codes.json`` (the
    ``data`` parameter hidden).

    Args:
        row: ``{"instruction", "actions", "outputs", "data_source", ...}``.
        base_dir: The directory ``data_source`` is relative to (the suite file's); default: cwd.

    Raises:
        InvalidScenario: a field has the wrong type, or the domain directory is missing.
    """
    if not isinstance(row, Mapping):
        raise InvalidScenario(f"A stateful row must be a JSON object, got {type(row).__name__}.")
    _check_fields(row)
    instruction, source = row["instruction"], row["data_source"]
    domain = load_domain(Path(base_dir or ".") / source)
    calls = tuple(read_call(action, f"actions[{i}]") for i, action in enumerate(row["actions"]))
    try:
        outputs = tuple(str(o) for o in row.get("outputs", []))
        return Scenario(
            id=row_id("stateful", source, instruction, row["actions"]),
            shape=source,
            question=instruction,
            messages=({"role": "system", "content": domain.wiki}, {"role": "user", "content": instruction}),
            tools=source_tools(domain.tools, domain.codes, hide_params=(DATA_PARAM,),
                               where=str(domain.path / "tools.json")),
            match="ftrl",
            task=StatefulTask(domain=str(domain.path), actions=calls, outputs=outputs),
            max_turns=max(TAU_BENCH_TURNS, len(calls) + 1),  # the replay agent must fit too
            meta=_meta(row, calls),
        )
    except ValidationError as exc:
        raise InvalidScenario(f"The stateful row does not make a valid scenario: {exc}") from None


def stateful_to_row(scenario: Scenario, *, base_dir: str | Path | None = None) -> dict[str, Any]:
    """Writes a stateful scenario as FTRL's stateful row (inverse of :func:`scenario_from_stateful_row`).

    Args:
        scenario: A scenario with a stateful task.
        base_dir: The directory of the file the row goes to: ``data_source`` is made relative to it
            unless it already names the task's domain from there. None: ``data_source`` as read.

    Raises:
        InvalidScenario: the scenario has no stateful task.
    """
    task = scenario.task
    if task is None:
        raise InvalidScenario(f"Scenario {scenario.id!r} is not a stateful task.")
    row: dict[str, Any] = {
        "instruction": scenario.question,
        "actions": _action_rows(task.actions),
        "outputs": list(task.outputs),
        "data_source": _data_source(scenario.meta.get("data_source", task.domain), task, base_dir),
    }
    row.update(extra_columns(scenario.meta, row))
    return restore_originals(row, scenario.meta)


def _data_source(source: Any, task: StatefulTask, base_dir: str | Path | None) -> Any:
    """``source``, or the task's domain relative to ``base_dir`` when ``source`` does not name it."""
    if base_dir is None:
        return source
    domain = Path(task.domain).resolve()
    if (Path(base_dir) / str(source)).resolve() == domain:
        return source
    return os.path.relpath(domain, Path(base_dir).resolve())
