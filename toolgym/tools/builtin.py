"""Runs generated tools (record lookups, the calculator, the comparison and date tools)
in-process, deterministically.

:func:`run_builtin` answers a call of a :class:`~toolgym.scenario.LookupImpl`,
:class:`~toolgym.scenario.CalculatorImpl`, :class:`~toolgym.scenario.ComparatorImpl` or
:class:`~toolgym.scenario.DateCalculatorImpl` tool; :func:`render_source` writes the same tool as
stand-alone Python source (FTRL's format, where tools are code). Both paths run the very same
helper functions below, whose source :func:`render_source` copies, so they cannot drift apart:
the helpers use only the standard library and raise ``ValueError`` for bad calls.

Outputs are short sentences (or JSON with ``format="json"``) that contain the answer verbatim,
numbers in the canonical form of :func:`format_number`.
"""

from __future__ import annotations

import difflib  # noqa: F401 - used by did_you_mean in rendered source
import inspect
import json
from typing import Any

from toolgym.error import ToolError, did_you_mean
from toolgym.scenario import CalculatorImpl, ComparatorImpl, DateCalculatorImpl, LookupImpl, Tool

__all__ = [
    "COMPARE_OPERATIONS",
    "DATE_OPERATIONS",
    "OPERATIONS",
    "SOURCE_NAMES",
    "calculate",
    "date_difference",
    "format_number",
    "lookup_record",
    "normalize_key",
    "rank_labels",
    "render_source",
    "resolve_arguments",
    "run_builtin",
    "run_calculator",
    "run_comparator",
    "run_date_calculator",
]

OPERATIONS: tuple[str, ...] = ("add", "subtract", "multiply", "divide")
"""Operations of the generated calculator, in its schema's order."""

COMPARE_OPERATIONS: tuple[str, ...] = ("max", "min", "ascending", "descending")
"""Operations of the generated comparison tool (:func:`rank_labels`)."""

DATE_OPERATIONS: tuple[str, ...] = ("days_between", "years_between")
"""Operations of the generated date tool (:func:`date_difference`)."""


def format_number(value: Any, precision: int = 2) -> str:
    """Returns the canonical text of a value: integers without separators, floats rounded.

    Example:
        >>> format_number(3.0), format_number(270.49000000000001), format_number(1234567)
        ('3', '270.49', '1234567')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        rounded = round(value, precision)
        if rounded == int(rounded):
            return str(int(rounded))
        return f"{rounded:.{precision}f}".rstrip("0").rstrip(".")
    return str(value)


def normalize_key(text: Any) -> str:
    """Returns a lookup key lowercased, with runs of spaces collapsed and outer quotes removed."""
    return " ".join(str(text).strip().strip("'\"").lower().split())


def field_label(field: str) -> str:
    """Returns a field name as words with its unit: ``price_usd`` -> ``price (USD)``."""
    units = {"musd": "million USD", "usd": "USD", "km2": "square km", "cm": "cm",
             "g": "grams", "min": "minutes", "m": "meters", "km": "km", "kg": "kg", "kmh": "km/h",
             "mb": "MB", "m3s": "cubic meters per second", "kcal": "kcal", "mg": "mg", "days": "days"}
    if field == "ceo":
        return "CEO"
    head, _, tail = field.rpartition("_")
    if head and tail in units:
        return f"{head.replace('_', ' ')} ({units[tail]})"
    return field.replace("_", " ")


def option_notes(options: dict[str, Any], echo: list[str]) -> list[str]:
    """Returns one note per optional argument: ``k=v`` for enums and booleans, else ``k applied``.

    Free-form values are never echoed, so an agent cannot make a tool repeat a guessed answer.
    """
    notes = []
    for name in sorted(options):
        value = options[name]
        if name == "format" or value is None:
            continue
        if name in echo:
            notes.append(f"{name}={str(value).lower() if isinstance(value, bool) else value}")
        else:
            notes.append(f"{name} applied")
    return notes


def lookup_record(spec: dict[str, Any], arguments: dict[str, Any]) -> str:
    """Answers one call of a record-lookup tool described by the plain dict ``spec``.

    Raises:
        ValueError: for a missing or unknown key or field, with a hint.
    """
    key_param, field_param, entity = spec["key_param"], spec["field_param"], spec["entity"]
    records = spec["records"]
    if key_param not in arguments:
        raise ValueError(f"Missing required argument {key_param!r}.")
    key = arguments[key_param]
    index = {normalize_key(name): name for name in records}
    name = index.get(normalize_key(key))
    if name is None:
        raise ValueError(f"No {entity} named {key!r}.{did_you_mean(key, list(records))}")
    field = arguments.get(field_param) if field_param else spec["field"]
    if field not in spec["fields"]:
        valid = ", ".join(repr(f) for f in spec["fields"])
        raise ValueError(f"Unknown field {field!r} for {entity}; valid fields: {valid}.")
    value = format_number(records[name][field])
    options = {k: v for k, v in arguments.items() if k not in (key_param, field_param)}
    notes = option_notes(options, spec["echo"])
    if options.get("format") == "json":
        reply = {"entity": entity, key_param: name, "field": field, "value": value}
        if notes:
            reply["options"] = notes
        return json.dumps(reply)
    suffix = f" [{'; '.join(notes)}]" if notes else ""
    return f"The {field_label(field)} of {name} is {value}.{suffix}"


def calculate(operation: str, numbers: list[Any]) -> int | float:
    """Applies ``operation`` to ``numbers`` left to right (``subtract``: first minus the rest).

    Raises:
        ValueError: for an unknown operation, no numbers, a non-number, a division by zero or a
            result too large to print.
    """
    operations = ("add", "subtract", "multiply", "divide")
    if operation not in operations:
        raise ValueError(f"Unknown operation {operation!r}; valid: {', '.join(operations)}."
                         + did_you_mean(operation, operations))
    if not numbers:
        raise ValueError("Give at least one number.")
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ValueError(f"Not a number: {number!r}.")
        if not abs(number) < 1e100:
            raise ValueError(f"Numbers must be finite and below 1e100 in size, got {number!r}.")
    result = numbers[0]
    for number in numbers[1:]:
        if operation == "add":
            result = result + number
        elif operation == "subtract":
            result = result - number
        elif operation == "multiply":
            result = result * number
        elif number == 0:
            raise ValueError("Cannot divide by zero.")
        else:
            result = result / number
        if not abs(result) < 1e100:  # also false for inf and nan
            raise ValueError("The result is too large; check the numbers.")
    return result


def run_calculator(spec: dict[str, Any], arguments: dict[str, Any]) -> str:
    """Answers one call of the calculator tool described by the plain dict ``spec``."""
    precision = arguments.get(spec["precision_param"], 2) if spec["precision_param"] else 2
    if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= 10:
        raise ValueError(f"Precision must be an integer from 0 to 10, got {precision!r}.")
    result = calculate(arguments.get(spec["operation_param"], ""),
                       list(arguments.get(spec["numbers_param"], [])))
    return f"The result is {format_number(result, precision)}."


def finish_reply(sentence: str, payload: dict[str, Any], options: dict[str, Any],
                 echo: list[str]) -> str:
    """Returns ``sentence`` with notes on the optional arguments, or ``payload`` as JSON when
    ``format="json"`` (the reply of the comparison and date tools)."""
    notes = option_notes(options, echo)
    if options.get("format") == "json":
        return json.dumps({**payload, "options": notes} if notes else payload)
    return sentence + (f" [{'; '.join(notes)}]" if notes else "")


def parse_date(text: Any) -> Any:
    """Returns the ``datetime.date`` of an ISO ``YYYY-MM-DD`` string.

    Raises:
        ValueError: for anything else, naming the value.
    """
    import datetime

    if isinstance(text, str) and len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return datetime.date(int(text[:4]), int(text[5:7]), int(text[8:]))
        except ValueError:
            pass
    raise ValueError(f"Not a date in YYYY-MM-DD form: {text!r}.")


def comparable(value: Any) -> Any:
    """Returns ``value`` as something to sort: a finite number, or the date of a ``YYYY-MM-DD``
    string (other strings must hold a number).

    Raises:
        ValueError: for booleans, non-finite numbers and strings that are neither.
    """
    if isinstance(value, str):
        if value.count("-") == 2 and not value.startswith("-"):
            return parse_date(value.strip())
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"Not a number or a YYYY-MM-DD date: {value!r}.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) < 1e100:
        raise ValueError(f"Not a finite number or a YYYY-MM-DD date: {value!r}.")
    return value


def rank_labels(operation: str, items: list[Any]) -> list[str]:
    """Returns the labels of ``items`` ordered by value as ``operation`` asks: ``max`` and ``min``
    the one label of the largest or smallest value (the latest or earliest date), ``ascending``
    and ``descending`` every label. Ties keep the order given.

    Example:
        >>> rank_labels("ascending", [{"label": "a", "value": 3}, {"label": "b", "value": 1}])
        ['b', 'a']

    Raises:
        ValueError: for an unknown operation, fewer than two items, an item without a label or a
            value, a repeated label, or dates mixed with numbers.
    """
    operations = ("max", "min", "ascending", "descending")
    if operation not in operations:
        raise ValueError(f"Unknown operation {operation!r}; valid: {', '.join(operations)}."
                         + did_you_mean(str(operation), operations))
    if len(items) < 2:
        raise ValueError("Give at least two items to compare.")
    labels, keys = [], []
    for item in items:
        if not isinstance(item, dict) or "label" not in item or "value" not in item:
            raise ValueError(f"Each item needs a 'label' and a 'value', got {item!r}.")
        label = str(item["label"]).strip()
        if label in labels:
            raise ValueError(f"Label {label!r} appears twice; give each item its own label.")
        labels.append(label)
        keys.append(comparable(item["value"]))
    if len({isinstance(key, (int, float)) for key in keys}) > 1:
        raise ValueError("Cannot compare dates with numbers; give only numbers or only dates.")
    descending = operation in ("max", "descending")
    order = sorted(range(len(keys)), key=lambda i: keys[i], reverse=descending)
    ranked = [labels[i] for i in order]
    return ranked[:1] if operation in ("max", "min") else ranked


def run_comparator(spec: dict[str, Any], arguments: dict[str, Any]) -> str:
    """Answers one call of the comparison tool described by the plain dict ``spec``."""
    operation = arguments.get(spec["operation_param"], "")
    items = arguments.get(spec["items_param"], [])
    if not isinstance(items, list):
        raise ValueError(f"{spec['items_param']!r} must be a list of items, got {items!r}.")
    result = ", ".join(rank_labels(operation, items))
    options = {k: v for k, v in arguments.items()
               if k not in (spec["operation_param"], spec["items_param"])}
    return finish_reply(f"Result ({operation}): {result}.",
                        {"operation": operation, "value": result}, options, spec["echo"])


def date_difference(operation: str, start: Any, end: Any) -> int:
    """Returns the whole days or whole years between two ``YYYY-MM-DD`` dates, in either order.

    Example:
        >>> date_difference("days_between", "2024-03-01", "2024-02-01")
        29
        >>> date_difference("years_between", "1990-06-15", "2024-06-14")
        33

    Raises:
        ValueError: for an unknown operation or a value that is not such a date.
    """
    operations = ("days_between", "years_between")
    if operation not in operations:
        raise ValueError(f"Unknown operation {operation!r}; valid: {', '.join(operations)}."
                         + did_you_mean(str(operation), operations))
    first, last = sorted((parse_date(start), parse_date(end)))
    if operation == "days_between":
        return (last - first).days
    return last.year - first.year - ((last.month, last.day) < (first.month, first.day))


def run_date_calculator(spec: dict[str, Any], arguments: dict[str, Any]) -> str:
    """Answers one call of the date tool described by the plain dict ``spec``."""
    names = (spec["operation_param"], spec["start_param"], spec["end_param"])
    operation, start, end = (arguments.get(name, "") for name in names)
    result = date_difference(operation, start, end)
    unit = ("day" if operation == "days_between" else "year") + ("" if result == 1 else "s")
    options = {k: v for k, v in arguments.items() if k not in names}
    return finish_reply(f"The result is {result} {unit}.",
                        {"operation": operation, "value": str(result), "unit": unit}, options,
                        spec["echo"])


def resolve_arguments(context: dict[str, Any], renamed: dict[str, str],
                      arguments: dict[str, Any]) -> dict[str, Any]:
    """Checks and drops the required context arguments, then gives the others the names the
    implementation uses.

    Args:
        context: Argument name -> ``[value it must have, its description]``.
        renamed: Argument name in the document -> the implementation's name.
        arguments: The call's arguments, named as in the document.

    Raises:
        ValueError: a context argument is missing or has another value; the message quotes the
            argument's description, which says which value to pass.
    """
    for name, (value, description) in context.items():
        given = arguments.get(name)
        if given != value or type(given) is not type(value):
            hint = description or f"It must be {value!r}."
            what = "Missing required argument" if given is None else f"Wrong value {given!r} for argument"
            raise ValueError(f"{what} {name!r}. Its description says: {hint}")
    return {renamed.get(name, name): value for name, value in arguments.items() if name not in context}


def _context(tool: Tool) -> dict[str, list[Any]]:
    """The tool's context arguments as :func:`resolve_arguments` takes them."""
    properties = tool.doc.parameters.get("properties", {})
    return {name: [value, properties.get(name, {}).get("description", "")]
            for name, value in tool.context.items()}


def _impl_properties(tool: Tool) -> dict[str, Any]:
    """The document's argument schemas under the implementation's names, context arguments left out."""
    properties = tool.doc.parameters.get("properties", {})
    if not tool.context and not tool.arguments_renamed:
        return properties
    return {tool.arguments_renamed.get(name, name): schema for name, schema in properties.items()
            if name not in tool.context}


def _spec(tool: Tool) -> dict[str, Any]:
    """Returns the plain-dict description of a tool that the helpers above take."""
    impl = tool.impl
    if isinstance(impl, CalculatorImpl):
        return impl.model_dump(exclude={"kind"})
    properties = _impl_properties(tool)
    echo = [name for name, schema in properties.items()
            if "enum" in schema or schema.get("type") == "boolean"]
    if isinstance(impl, (ComparatorImpl, DateCalculatorImpl)):
        return {**impl.model_dump(exclude={"kind"}), "echo": echo}
    if not isinstance(impl, LookupImpl):
        raise TypeError(f"run_builtin runs generated tools ({', '.join(_RUNNERS)}), "
                        f"not {impl.kind!r} tools.")
    if impl.field_param:
        fields = list(properties.get(impl.field_param, {}).get("enum", []))
    else:
        fields = [impl.field]
    return {"entity": impl.entity, "key_param": impl.key_param, "field_param": impl.field_param,
            "field": impl.field, "fields": fields, "echo": echo, "records": impl.records}


def run_builtin(tool: Tool, arguments: dict[str, Any]) -> str:
    """Runs a generated tool on arguments that already passed its JSON schema.

    Args:
        tool: A tool with a :class:`LookupImpl`, :class:`CalculatorImpl`, :class:`ComparatorImpl`
            or :class:`DateCalculatorImpl`.
        arguments: The call's arguments.

    Context arguments (:attr:`~toolgym.scenario.Tool.context`) are checked and dropped and
    renamed ones (:attr:`~toolgym.scenario.Tool.arguments_renamed`) translated first, whatever
    the implementation.

    Returns:
        The tool's output: a short sentence, or JSON when ``format="json"``.

    Raises:
        ToolError: for a semantically bad call (unknown key or field, division by zero, ...).
        TypeError: for a tool whose implementation is not built in.
    """
    spec = _spec(tool)
    try:
        if tool.context or tool.arguments_renamed:
            arguments = resolve_arguments(_context(tool), tool.arguments_renamed, arguments)
        return _RUNNERS[tool.impl.kind](spec, arguments)
    except ValueError as exc:
        raise ToolError(str(exc)) from None


_HELPERS = (did_you_mean, format_number, normalize_key, field_label, option_notes, lookup_record,
            calculate, run_calculator, finish_reply, parse_date, comparable, rank_labels,
            run_comparator, date_difference, run_date_calculator)

_RUNNERS = {"lookup": lookup_record, "calculator": run_calculator, "comparator": run_comparator,
            "date_calculator": run_date_calculator}
"""Implementation kind -> the helper that answers its calls."""


def render_source(tool: Tool) -> str:
    """Returns Python source defining a function ``tool.name`` that behaves as :func:`run_builtin`.

    The source needs only the standard library; bad calls raise ``ValueError``.
    """
    spec = _spec(tool)
    properties = tool.doc.parameters.get("properties", {})
    required = [name for name in properties if name in tool.doc.parameters.get("required", [])]
    optional = [name for name in properties if name not in required]
    signature = ", ".join(required + [f"{name}=None" for name in optional])
    pairs = ", ".join(f"({name!r}, {name})" for name in properties)
    runner = _RUNNERS[tool.impl.kind].__name__
    lines = ["from __future__ import annotations", "", "import difflib", "import json", "", ""]
    lines += [inspect.getsource(helper) + "\n" for helper in _HELPERS]
    renaming = bool(tool.context or tool.arguments_renamed)
    if renaming:  # only then, so the source of a plain tool stays as it was
        lines += [inspect.getsource(resolve_arguments) + "\n",
                  f"_CONTEXT = {_context(tool)!r}", f"_RENAMED = {tool.arguments_renamed!r}"]
    lines += [
        f"_SPEC = {spec!r}",
        "",
        "",
        f"def {tool.name}({signature}):",
        f"    {json.dumps(tool.doc.description)}",
        f"    arguments = {{k: v for k, v in ({pairs},) if v is not None}}",
    ]
    if renaming:
        lines.append("    arguments = resolve_arguments(_CONTEXT, _RENAMED, arguments)")
    lines += [f"    return {runner}(_SPEC, arguments)", ""]
    return "\n".join(lines)


SOURCE_NAMES: frozenset[str] = frozenset(
    [helper.__name__ for helper in (*_HELPERS, resolve_arguments)]
    + ["annotations", "arguments", "difflib", "json", "_CONTEXT", "_RENAMED", "_SPEC"])
"""Names that :func:`render_source` defines or uses: a tool or argument named so would shadow one."""
