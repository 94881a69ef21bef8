"""Argument validation against each tool's JSON schema, with compiled validators."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from toolgym.error import did_you_mean
from toolgym.scenario import ToolDoc

__all__ = ["ArgumentValidator"]


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
        self._validators: dict[str, Any] = {}
        self._properties: dict[str, tuple[set[str], bool]] = {}
        for doc in docs:
            schema = doc.parameters
            cls = validator_for(schema, default=jsonschema.Draft202012Validator)
            try:
                cls.check_schema(schema)
                self._validators[doc.name] = cls(schema, format_checker=cls.FORMAT_CHECKER)
            except jsonschema.SchemaError:
                self._validators[doc.name] = None
            props = schema.get("properties") if isinstance(schema, dict) else None
            names = set(props) if isinstance(props, dict) else set()
            closed = isinstance(props, dict) and schema.get("additionalProperties", False) is not True
            self._properties[doc.name] = (names, closed)

    def check(self, name: str, arguments: dict[str, Any]) -> str | None:
        """Returns a message naming the bad field and why, or None when the arguments are valid."""
        names, closed = self._properties.get(name, (set(), False))
        if closed:
            extra = sorted(set(arguments) - names)
            if extra:
                hint = did_you_mean(extra[0], names)
                return (
                    f"Invalid arguments for {name}: unexpected argument {extra[0]!r}.{hint} "
                    f"Valid arguments: {', '.join(sorted(names)) or '(none)'}."
                )
        validator = self._validators.get(name)
        if validator is None:
            return None
        error = best_match(validator.iter_errors(arguments))
        if error is None:
            return None
        where = _path(error)
        field = f"field {where!r}: " if where else ""
        message = error.message if len(error.message) < 300 else error.message[:300] + "..."
        return f"Invalid arguments for {name}: {field}{message}."
