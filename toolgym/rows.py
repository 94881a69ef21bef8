"""Helpers shared by the row formats (:mod:`toolgym.ftrl`, :mod:`toolgym.stateful`, ...).

A row format reads one row of some outside file as a :class:`~toolgym.scenario.Scenario` and
writes it back byte for byte. What it needs for that, and nothing format-specific, lives here:

* JSON as the outside files write it (:func:`dumps`) and stable ids for imported rows
  (:func:`row_id`);
* the bookkeeping that makes a round trip lossless: a value the writer would not rebuild exactly
  is kept in ``meta[RAW]`` (:func:`keep_original`), the columns the row lacked in
  ``meta[RAW][ABSENT]`` and the row's key order in ``meta[KEY_ORDER]``
  (:func:`remember_originals`); :func:`restore_originals` puts them back;
* tools whose code arrives as source text (:func:`source_tools`) and gold tool calls, read as
  an agent's calls are (:func:`read_call`).

The meta keys are part of the stored data: scenarios written today carry them, so their values
never change.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from toolgym.error import InvalidScenario
from toolgym.scenario import SourceImpl, Tool, ToolCall, ToolDoc

__all__ = [
    "ABSENT",
    "KEY_ORDER",
    "RAW",
    "dumps",
    "extra_columns",
    "keep_original",
    "read_call",
    "remember_originals",
    "reorder",
    "restore_originals",
    "row_id",
    "source_tools",
]

RAW = "ftrl_raw"
"""Meta key: the row's original values that the writer would not rebuild byte for byte."""
ABSENT = "absent"
"""Key inside ``meta[RAW]``: the format's columns that the row did not have."""
KEY_ORDER = "ftrl_key_order"
"""Meta key: the row's keys in their original order, when the writer would order them otherwise."""
_BOOKKEEPING = (RAW, KEY_ORDER)


def dumps(value: Any) -> str:
    """JSON as FTRL writes it (``ensure_ascii=False``): the paper's strings come back byte-equal."""
    return json.dumps(value, ensure_ascii=False)


def row_id(prefix: str, *parts: Any) -> str:
    """A stable scenario id for an imported row: ``prefix-`` and 12 hex digits of a content hash.

    Example:
        >>> row_id("ftrl", "a", [1, 2]) == row_id("ftrl", "a", [1, 2])
        True
    """
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8"))
    return f"{prefix}-{digest.hexdigest()[:12]}"


def keep_original(raw: dict[str, Any], key: str, original: Any, rebuilt: Any) -> None:
    """Stores ``original`` in ``raw`` when ``rebuilt`` differs from it (order of keys included)."""
    if dumps(original) != dumps(rebuilt):
        raw[key] = copy.deepcopy(original)


def remember_originals(
    meta: Mapping[str, Any],
    row: Mapping[str, Any],
    raw: Mapping[str, Any],
    *,
    columns: Iterable[str],
    written: Iterable[str],
) -> dict[str, Any]:
    """``meta`` plus what a writer needs to give back ``row`` exactly.

    Args:
        meta: The scenario's meta without bookkeeping.
        row: The row as read.
        raw: Original values kept by :func:`keep_original`.
        columns: The format's own columns; those missing from ``row`` are listed under ``ABSENT``.
        written: The keys in the order the writer puts them (keys not in ``row`` are skipped).

    Raises:
        InvalidScenario: ``row`` has a column named like a bookkeeping key.
    """
    reserved = [key for key in _BOOKKEEPING if key in row]
    if reserved:
        raise InvalidScenario(f"The column {reserved[0]!r} is reserved for ToolGym's bookkeeping.")
    raw = dict(raw)
    absent = [key for key in columns if key not in row]
    if absent:
        raw[ABSENT] = absent
    meta = dict(meta)
    if raw:
        meta[RAW] = raw
    if list(row) != [key for key in written if key in row]:
        meta[KEY_ORDER] = list(row)
    return meta


def extra_columns(meta: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``meta`` that are neither bookkeeping nor already columns of ``row``."""
    return {k: copy.deepcopy(v) for k, v in meta.items() if k not in (*_BOOKKEEPING, *row)}


def restore_originals(row: dict[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with the originals of ``meta[RAW]``, without absent columns, in the original order."""
    raw = meta.get(RAW, {})
    row.update({k: copy.deepcopy(v) for k, v in raw.items() if k != ABSENT and k in row})
    for key in raw.get(ABSENT, ()):
        row.pop(key, None)
    return reorder(row, meta.get(KEY_ORDER))


def reorder(row: dict[str, Any], order: list[str] | None) -> dict[str, Any]:
    """``row`` with the keys named in ``order`` first, in that order (``row`` itself if none)."""
    if not order:
        return row
    return {**{k: row[k] for k in order if k in row}, **{k: v for k, v in row.items() if k not in order}}


def read_call(item: Any, where: str) -> ToolCall:
    """Reads a gold tool call as an agent's call is read (:func:`toolgym.tools.parsing.parse_message`).

    Accepts ``{"function": {"name", "arguments"}}`` or ``{"name", "arguments"}``, the arguments an
    object or a JSON string of one (empty means none).

    Raises:
        InvalidScenario: the call does not read; the message starts with ``where``.
    """
    from toolgym.tools.parsing import parse_message

    (call,) = parse_message({"role": "assistant", "tool_calls": [item]}).calls
    if call.error is not None or call.name is None or call.arguments is None:
        raise InvalidScenario(f"{where} is not a tool call: {call.error}.")
    return ToolCall(name=call.name, arguments=call.arguments)


def source_tools(
    specs: Iterable[Any], codes: Mapping[str, Any], hide_params: Iterable[str] = (), *, where: str = "tools"
) -> tuple[Tool, ...]:
    """Tools whose code is source text: one per OpenAI spec, its code from ``codes`` by name.

    Args:
        specs: OpenAI function schemas, with or without the ``{"type": "function"}`` wrapper.
        codes: Tool name -> Python source defining that function (missing or not text: empty).
        hide_params: Parameters the code receives from the runtime, not from the agent: they are
            dropped from the schema the agent sees (``properties`` and ``required``).
        where: Where the specs come from, for errors (``tools[2] is not ...``).

    Raises:
        InvalidScenario: a spec is not a function schema with a name.
    """
    hidden = tuple(hide_params)
    tools = []
    for i, spec in enumerate(specs):
        fn = spec.get("function", spec) if isinstance(spec, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidScenario(f"{where}[{i}] is not an OpenAI function schema with a 'name'.")
        doc = _without_params(ToolDoc.from_openai(spec), hidden)
        code = codes.get(doc.name, "")
        tools.append(Tool(doc=doc, impl=SourceImpl(code=code if isinstance(code, str) else "")))
    return tuple(tools)


def _without_params(doc: ToolDoc, hidden: tuple[str, ...]) -> ToolDoc:
    props = doc.parameters.get("properties")
    if not isinstance(props, dict) or not any(name in props for name in hidden):
        return doc
    parameters = dict(doc.parameters)
    parameters["properties"] = {k: v for k, v in props.items() if k not in hidden}
    if isinstance(parameters.get("required"), list):
        parameters["required"] = [k for k in parameters["required"] if k not in hidden]
    return doc.model_copy(update={"parameters": parameters})
