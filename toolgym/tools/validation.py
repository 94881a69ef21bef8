"""Argument validation against each tool's JSON schema, with compiled validators."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from toolgym.error import did_you_mean
from toolgym.scenario import ToolDoc

__all__ = ["ArgumentValidator"]


@functools.lru_cache(maxsize=8192)
def _compile(schema_json: str) -> tuple[Any, frozenset[str], bool]:
    """Returns (validator or None for an invalid schema, property names, closed?)."""
    schema = json.loads(schema_json)
    # No check_schema(): it costs milliseconds per tool. A schema that turns out invalid raises
    # when used, and then checks nothing (see ArgumentValidator.check).
    try:
        cls = validator_for(schema, default=jsonschema.Draft202012Validator)
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    except Exception:
        validator = None
    props = schema.get("properties") if isinstance(schema, dict) else None
    names = frozenset(props) if isinstance(props, dict) else frozenset()
    closed = isinstance(props, dict) and schema.get("additionalProperties", False) is not True
    return validator, names, closed


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path)


class ArgumentValidator:
    """Checks call arguments against the tools' schemas; validators are compiled once.

    A schema that is itself invalid (it happens in imported data) checks nothing but unknown
    argument names, rather than rejecting every call.

    Example:
        >>> doc = ToolDoc(name="f", description="", parameters={
        ...     "type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]})
        >>> ArgumentValidator([doc]).check("f", {"x": "one"})
        "Invalid arguments for f: field 'x': 'one' is not of type 'integer'."
    """

    def __init__(self, docs: Iterable[ToolDoc]) -> None:
        self._schemas = {doc.name: doc.parameters for doc in docs}
        self._cache: dict[str, tuple[Any, frozenset[str], bool]] = {}

    def _compiled(self, name: str) -> tuple[Any, frozenset[str], bool]:
        # Compiled on first call of a tool (most tools of an episode are never called), and
        # shared across envs and episodes through the schema-keyed cache.
        compiled = self._cache.get(name)
        if compiled is None:
            compiled = _compile(json.dumps(self._schemas.get(name, {}), sort_keys=True))
            self._cache[name] = compiled
        return compiled

    def check(self, name: str, arguments: dict[str, Any]) -> str | None:
        """Returns a message naming the bad field and why, or None when the arguments are valid."""
        validator, names, closed = self._compiled(name)
        if closed:
            extra = sorted(set(arguments) - names)
            if extra:
                hint = did_you_mean(extra[0], names)
                return (
                    f"Invalid arguments for {name}: unexpected argument {extra[0]!r}.{hint} "
                    f"Valid arguments: {', '.join(sorted(names)) or '(none)'}."
                )
        try:
            if validator is None or validator.is_valid(arguments):
                return None
            error = best_match(validator.iter_errors(arguments))
        except Exception:  # an invalid schema in imported data: accept rather than block every call
            return None
        if error is None:
            return None
        where = _path(error)
        field = f"field {where!r}: " if where else ""
        message = error.message if len(error.message) < 300 else error.message[:300] + "..."
        return f"Invalid arguments for {name}: {field}{message}."
