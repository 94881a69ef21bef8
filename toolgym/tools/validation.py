"""Argument validation against each tool's JSON schema, with compiled validators."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from toolgym.error import InvalidScenario, did_you_mean
from toolgym.scenario import ToolDoc

__all__ = ["ArgumentValidator"]


@functools.lru_cache(maxsize=8192)
def _compile(schema_json: str, check: bool) -> tuple[Any, frozenset[str], bool]:
    """Returns (validator, or the schema's problem as text, property names, closed?).

    ``check_schema`` costs about 10 ms per schema, so it runs only when ``check`` (schemas that
    come with imported data), once per distinct schema, and only for tools that get called.
    """
    schema = json.loads(schema_json)
    try:
        cls = validator_for(schema, default=jsonschema.Draft202012Validator)
        if check:
            cls.check_schema(schema)
        validator: Any = cls(schema, format_checker=cls.FORMAT_CHECKER)
    except jsonschema.SchemaError as exc:
        validator = f"{exc.message} (at {'/'.join(map(str, exc.absolute_path)) or 'the top level'})"
    except Exception as exc:  # validator_for on a non-dict schema, ...
        validator = f"{type(exc).__name__}: {exc}"
    props = schema.get("properties") if isinstance(schema, dict) else None
    names = frozenset(props) if isinstance(props, dict) else frozenset()
    closed = isinstance(props, dict) and schema.get("additionalProperties", False) is not True
    return validator, names, closed


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path)


class ArgumentValidator:
    """Checks call arguments against the tools' schemas; validators are compiled once.

    A schema that is itself invalid is a fault of the scenario, not of the agent: checking a call
    of that tool raises :class:`~toolgym.error.InvalidScenario` naming the tool and the problem.
    Schemas of the tools named in ``checked`` (imported data) are checked against the JSON Schema
    meta-schema on first use; the others (generated, valid by construction) raise only when
    validation itself fails on them.

    Args:
        docs: The tool documents.
        checked: Names of the tools whose schemas to check (default: all).

    Example:
        >>> doc = ToolDoc(name="f", description="", parameters={
        ...     "type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]})
        >>> ArgumentValidator([doc]).check("f", {"x": "one"})
        "Invalid arguments for f: field 'x': 'one' is not of type 'integer'."
    """

    def __init__(self, docs: Iterable[ToolDoc], checked: Iterable[str] | None = None) -> None:
        self._schemas = {doc.name: doc.parameters for doc in docs}
        self._checked = set(self._schemas if checked is None else checked)
        self._cache: dict[str, tuple[Any, frozenset[str], bool]] = {}

    def _compiled(self, name: str) -> tuple[Any, frozenset[str], bool]:
        # Compiled on first call of a tool (most tools of an episode are never called), and
        # shared across envs and episodes through the schema-keyed cache.
        compiled = self._cache.get(name)
        if compiled is None:
            schema_json = json.dumps(self._schemas.get(name, {}), sort_keys=True)
            compiled = _compile(schema_json, name in self._checked)
            self._cache[name] = compiled
        return compiled

    def check(self, name: str, arguments: dict[str, Any]) -> str | None:
        """Returns a message naming the bad field and why, or None when the arguments are valid."""
        validator, names, closed = self._compiled(name)
        if isinstance(validator, str):
            raise InvalidScenario(
                f"The parameters schema of tool {name!r} is not a valid JSON Schema: {validator}. "
                "Fix the tool document of the scenario."
            )
        if closed:
            extra = sorted(set(arguments) - names)
            if extra:
                hint = did_you_mean(extra[0], names)
                return (
                    f"Invalid arguments for {name}: unexpected argument {extra[0]!r}.{hint} "
                    f"Valid arguments: {', '.join(sorted(names)) or '(none)'}."
                )
        try:
            if validator.is_valid(arguments):
                return None
            error = best_match(validator.iter_errors(arguments))
        except jsonschema.exceptions._WrappedReferencingError as exc:
            raise InvalidScenario(f"The parameters schema of tool {name!r} cannot be used: {exc}.") from None
        except (jsonschema.SchemaError, jsonschema.exceptions.UnknownType, TypeError) as exc:
            raise InvalidScenario(f"The parameters schema of tool {name!r} is not a valid JSON Schema: {exc}.") from None
        if error is None:
            return None
        where = _path(error)
        field = f"field {where!r}: " if where else ""
        message = error.message if len(error.message) < 300 else error.message[:300] + "..."
        return f"Invalid arguments for {name}: {field}{message}."
