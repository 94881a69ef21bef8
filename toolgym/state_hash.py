"""The canonical hash of a stateful task's data (tau-bench's rule), full and incremental.

:func:`state_hash` is the definition: sha256 of the data's JSON with sorted keys and no spaces.
:class:`StateHasher` gives the same hash for states that differ a little from a base state (an
episode's final data against its initial data) without serializing everything again: it keeps
the canonical JSON of every record of the base and serializes only the records that changed.

A record counts as unchanged only when its ``marshal`` bytes equal the base record's, which
tells ``1``, ``1.0`` and ``True`` apart as JSON does (Python's ``==`` does not). Records are
checked a chunk at a time, so an unchanged table costs one ``marshal`` pass, in C.
"""

from __future__ import annotations

import hashlib
import json
import marshal
from collections.abc import Mapping
from typing import Any

__all__ = ["StateHasher", "canonical_json", "state_hash"]

_CHUNK = 32
"""Records per chunk compared at once."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


def canonical_json(value: Any) -> str:
    """The canonical JSON of a value: sorted keys, no spaces (sets sorted, other objects by repr)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)


def state_hash(state: Mapping[str, Any] | None) -> str:
    """The canonical hash of a data dict: sha256 of its JSON with sorted keys and no spaces."""
    return hashlib.sha256(canonical_json(state).encode("utf-8")).hexdigest()


def _bytes(value: Any) -> bytes | None:
    try:
        return marshal.dumps(value)
    except ValueError:  # not marshallable (an arbitrary object): always serialized anew
        return None


class _Table:
    """One table of the base state: its canonical text, whole, per record and per chunk."""

    def __init__(self, table: Any) -> None:
        self.text = canonical_json(table)
        self.keys: list[str] | None = None
        if isinstance(table, dict) and all(isinstance(key, str) for key in table):
            self.keys, values = list(table), list(table.values())
        elif isinstance(table, list):
            values = list(table)
        else:
            self.values: list[Any] = []
            return
        self.values = values
        self.records = [canonical_json(value) for value in values]
        self.record_bytes = [_bytes(value) for value in values]
        self.chunks = [_bytes(values[i:i + _CHUNK]) for i in range(0, len(values), _CHUNK)]
        self.prefixes = [""] * len(values)
        self.order: list[int] | None = None  # None: the base order is the sorted order
        if self.keys is not None:
            self.prefixes = [f"{json.dumps(key)}:" for key in self.keys]
            order = sorted(range(len(self.keys)), key=self.keys.__getitem__)
            self.order = None if order == list(range(len(order))) else order
            self.index = {key: i for i, key in enumerate(self.keys)}
        self.items = [prefix + record for prefix, record in zip(self.prefixes, self.records, strict=True)]

    def same(self, i: int, value: Any) -> bool:
        """Whether ``value`` serializes as base record ``i`` does."""
        old = self.record_bytes[i]
        return old is not None and _bytes(value) == old

    def text_of(self, values: list[Any]) -> str:
        """The canonical text of a table with the base's keys (or length) and ``values``."""
        items: list[str] | None = None
        for start in range(0, len(values), _CHUNK):
            chunk = values[start:start + _CHUNK]
            if self.chunks[start // _CHUNK] is not None and _bytes(chunk) == self.chunks[start // _CHUNK]:
                continue
            items = items if items is not None else list(self.items)
            for i, value in enumerate(chunk, start):
                if not self.same(i, value):
                    items[i] = self.prefixes[i] + canonical_json(value)
        if items is None:
            return self.text
        ordered = items if self.order is None else [items[i] for i in self.order]
        return ("{%s}" if self.keys is not None else "[%s]") % ",".join(ordered)


class StateHasher:
    """:func:`state_hash`, serializing again only what changed since a base state.

    Example:
        >>> base = {"orders": {"1": {"status": "pending"}, "2": {"status": "delivered"}}}
        >>> hasher = StateHasher(base)
        >>> later = {"orders": {"1": {"status": "cancelled"}, "2": {"status": "delivered"}}}
        >>> hasher.hexdigest(later) == state_hash(later)
        True
    """

    def __init__(self, base: Mapping[str, Any]) -> None:
        copy = json.loads(json.dumps(dict(base), default=_jsonable))  # callers may change theirs
        self._tables = {name: _Table(table) for name, table in copy.items()}

    def hexdigest(self, state: Mapping[str, Any] | None) -> str:
        """The :func:`state_hash` of ``state``."""
        if not isinstance(state, dict) or not all(isinstance(name, str) for name in state):
            return state_hash(state)
        parts = [f"{json.dumps(name)}:{self._table_text(name, table)}" for name, table in sorted(state.items())]
        return hashlib.sha256(("{" + ",".join(parts) + "}").encode("utf-8")).hexdigest()

    def _table_text(self, name: str, table: Any) -> str:
        base = self._tables.get(name)
        if base is None or not base.values:
            return canonical_json(table)
        if isinstance(table, list) and base.keys is None:
            return base.text_of(table) if len(table) == len(base.values) else self._list_text(base, table)
        if isinstance(table, dict) and base.keys is not None:
            return base.text_of(list(table.values())) if list(table) == base.keys else self._dict_text(base, table)
        return canonical_json(table)

    @staticmethod
    def _dict_text(base: _Table, table: dict[Any, Any]) -> str:
        """A dict table whose keys changed: each record reused when it is the base's."""
        if not all(isinstance(key, str) for key in table):
            return canonical_json(table)
        parts = []
        for key in sorted(table):
            i, value = base.index.get(key), table[key]
            text = base.records[i] if i is not None and base.same(i, value) else canonical_json(value)
            parts.append(f"{json.dumps(key)}:{text}")
        return "{" + ",".join(parts) + "}"

    @staticmethod
    def _list_text(base: _Table, table: list[Any]) -> str:
        """A list table of another length: the records at the base's positions reused when equal."""
        texts = [base.records[i] if i < len(base.values) and base.same(i, v) else canonical_json(v)
                 for i, v in enumerate(table)]
        return "[" + ",".join(texts) + "]"
