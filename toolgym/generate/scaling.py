"""Stage 4, complexity scaling: functional generalization, parameter expansion, distractor tools.

- *Functional generalization*: a single-purpose lookup tool may become a general one that returns
  other fields of its entity too (never a field that another needed tool answers).
- *Parameter expansion and type generalization*: each tool gets optional parameters from
  :data:`OPTIONAL_PARAMS` (enums, booleans, numbers, arrays, objects, a ``date`` string). They change
  the output deterministically (``format="json"`` wraps it, enums and booleans are echoed as notes)
  but never hide the answer; see :func:`toolgym.tools.builtin.lookup_record`.
- *Toolset extension*: distractor tools, near-duplicates of the needed ones (other fields of the
  same entity type) and tools of unrelated domains, answering from the same world.
- *Required context parameters* (:func:`add_context_params`, after deployment): each lookup tool
  gets required arguments whose value the question or the tool document determines (a
  ``category`` that must be the entity type, the live ``dataset``, the ``api_version`` the
  description names, ...), as FTRL's expanded tools have; a wrong value gets an error that quotes
  the description (:func:`toolgym.tools.builtin.resolve_arguments`).
"""

from __future__ import annotations

import random
from collections import Counter
from functools import cache
from typing import Any

from toolgym.generate.documents import CALCULATOR, ToolSpec, lookup_spec
from toolgym.generate.domains import DOMAINS
from toolgym.generate.integration import FIELD_PARAM, generalize
from toolgym.scenario import LookupImpl, Scalar, SubTask, Tool, ToolCall

__all__ = ["CONTEXT_PARAMS", "OPTIONAL_PARAMS", "add_context_params", "add_distractors",
           "expand_parameters", "generalize_functions", "max_optional_params", "reserved_params"]

OPTIONAL_PARAMS: tuple[tuple[str, dict[str, Any], bool], ...] = (
    ("format", {"type": "string", "enum": ["text", "json"], "default": "text",
                "description": "Output format of the reply."}, True),
    ("include_source", {"type": "boolean", "default": False,
                        "description": "Whether to name the source of the record."}, True),
    ("units", {"type": "string", "enum": ["metric", "imperial"], "default": "metric",
               "description": "Unit system of the reply."}, True),
    ("verbose", {"type": "boolean", "default": False,
                 "description": "Whether to add processing notes to the reply."}, True),
    ("filters", {"type": "object", "description": "Restrictions on the records searched.",
                 "properties": {"region": {"type": "string"}, "verified_only": {"type": "boolean"}},
                 "additionalProperties": False}, True),
    ("fields", {"type": "array", "items": {"type": "string"}, "maxItems": 5,
                "description": "Extra metadata labels to attach to the reply."}, True),
    ("date", {"type": "string", "format": "date",
              "description": "Reference date of the query, YYYY-MM-DD."}, True),
    ("confidence_threshold", {"type": "number", "minimum": 0, "maximum": 1,
                              "description": "Minimum confidence of the records used."}, True),
    ("as_of_year", {"type": "integer", "minimum": 1900, "maximum": 2030,
                    "description": "Report the record as of this year."}, False),
    ("max_results", {"type": "integer", "minimum": 1, "maximum": 10,
                     "description": "Most records to consider."}, False),
    ("language", {"type": "string", "description": "ISO 639-1 code of the reply language."}, False),
    ("region", {"type": "string", "description": "Region whose registry to search."}, False),
    ("request_id", {"type": "string", "description": "Client identifier echoed in logs."}, False),
)
"""Optional parameters: name, JSON schema, whether the type counts as rich."""

_PRECISION = {"type": "integer", "minimum": 0, "maximum": 10, "default": 2,
              "description": "Decimal places of the result."}


def reserved_params() -> frozenset[str]:
    """Parameter names the builder adds to lookup tools, which no key parameter of a pack may take."""
    return frozenset([FIELD_PARAM, *(name for name, _, _ in OPTIONAL_PARAMS)])


def max_optional_params(rich_types: bool) -> int:
    """Returns how many optional parameters a tool can get."""
    return sum(1 for _, _, rich in OPTIONAL_PARAMS if rich_types or not rich)


def expand_parameters(spec: ToolSpec, count: int, rich_types: bool, rand: random.Random) -> None:
    """Adds ``count`` optional parameters to ``spec`` (the calculator gets ``precision`` only)."""
    if count <= 0:
        return
    if spec.entity == CALCULATOR:
        spec.properties["precision"] = dict(_PRECISION)
        return
    pool = [(name, schema) for name, schema, rich in OPTIONAL_PARAMS if rich_types or not rich]
    for name, schema in sorted(rand.sample(pool, count), key=pool.index):
        spec.properties[name] = dict(schema)


def _exposed(specs: list[ToolSpec]) -> set[tuple[str, str]]:
    return {(spec.entity, f) for spec in specs for f in spec.fields}


def generalize_functions(specs: list[ToolSpec], prob: float, rand: random.Random) -> list[ToolSpec]:
    """With ``prob``, turns each single-field lookup tool into a general one with 1-2 more fields.

    Only the sole needed tool of its entity type generalizes, so tool names stay unique.
    """
    counts = Counter(spec.entity for spec in specs)
    taken = _exposed(specs)
    result: list[ToolSpec] = []
    for spec in specs:
        if (spec.entity in DOMAINS and spec.field_param is None and counts[spec.entity] == 1
                and rand.random() < prob):
            free = [a.name for a in DOMAINS[spec.entity].attributes
                    if (spec.entity, a.name) not in taken]
            extra = rand.sample(free, min(len(free), rand.randint(1, 2)))
            if extra:
                spec = generalize(spec, spec.fields + extra, rand)
        result.append(spec)
    return result


@cache
def _attribute_pairs(types: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Every (entity type, attribute) of ``types``, in order (a loaded type never changes)."""
    return tuple((type_, attr.name) for type_ in types for attr in DOMAINS[type_].attributes)


def add_distractors(specs: list[ToolSpec], count: int, types: tuple[str, ...],
                    rand: random.Random) -> list[ToolSpec]:
    """Returns ``count`` distractor specs (fewer if the domains run out), near ones first.

    No distractor returns a field that a needed tool returns, so each sub-answer has one tool.
    """
    taken = _exposed(specs)
    needed_types = {spec.entity for spec in specs if spec.entity in DOMAINS}
    pairs = [pair for pair in _attribute_pairs(types) if pair not in taken]
    near = [pair for pair in pairs if pair[0] in needed_types]
    far = [pair for pair in pairs if pair[0] not in needed_types]
    rand.shuffle(near)
    far = rand.sample(far, min(count, len(far)))  # only as many as may be used: there are hundreds
    chosen = (near[: (count + 1) // 2] + far)[:count]
    chosen += [pair for pair in near if pair not in chosen][: count - len(chosen)]
    return [lookup_spec(type_, attr, distractor=True) for type_, attr in chosen]


ContextParam = tuple[dict[str, Any], Scalar]
"""A context parameter's JSON schema and the value a call must pass."""

_KINDS = ("person", "place", "organization", "event", "product", "document")
_SUFFIXES = ("records", "archive", "staging", "legacy", "mirror", "snapshot")


def _category(entity: str, entities: list[str], rand: random.Random) -> ContextParam:
    options = sorted({entity, *entities, *rand.sample(_KINDS, 2)})
    description = rand.choice((
        f"Category of the records searched. This tool keeps {entity} records: pass '{entity}'.",
        "Type of the record looked up; it must name the kind of thing the question asks about "
        f"(one of {', '.join(options)}).",
    ))
    return {"type": "string", "enum": options, "description": description}, entity


def _dataset(entity: str, entities: list[str], rand: random.Random) -> ContextParam:
    options = [f"{entity.replace(' ', '_')}_{suffix}" for suffix in rand.sample(_SUFFIXES, 3)]
    live, others = options[0], " and ".join(f"'{o}'" for o in sorted(options[1:]))
    description = rand.choice((
        f"Dataset to query. '{live}' holds the current {entity} records; {others} hold stale copies.",
        f"Which dataset to read: use '{live}'; {others} are archives kept for audits.",
    ))
    return {"type": "string", "enum": sorted(options), "description": description}, live


def _api_version(entity: str, entities: list[str], rand: random.Random) -> ContextParam:
    value = rand.choice(("v1", "v2", "v3", "2023-06-01", "2024-01-15", "2025-03-01"))
    description = rand.choice((
        f"API version to call; this endpoint serves only version '{value}'.",
        f"Version of the service contract. Requests must name '{value}'; other versions were retired.",
    ))
    return {"type": "string", "description": description}, value


def _source(entity: str, entities: list[str], rand: random.Random) -> ContextParam:
    options = ["primary", "replica", "cache", "backup"]
    live = rand.choice(options)
    description = f"Copy of the {entity} data to read; only '{live}' is up to date and answers queries."
    return {"type": "string", "enum": options, "description": description}, live


def _locale(entity: str, entities: list[str], rand: random.Random) -> ContextParam:
    value = rand.choice(("en-US", "en-GB", "en-CA", "en-AU"))
    description = f"Locale of the request, as a BCP 47 tag; this service answers '{value}' requests only."
    return {"type": "string", "description": description}, value


CONTEXT_PARAMS = {"category": _category, "dataset": _dataset, "api_version": _api_version,
                  "source": _source, "locale": _locale}
"""Required context parameters: name -> maker of its schema and value (entity, entity types, rand)."""


def _with_context(tool: Tool, count: int, entities: list[str],
                  rand: random.Random) -> tuple[Tool, dict[str, Scalar]]:
    """Adds ``count`` context parameters to a lookup tool, right after its required ones."""
    parameters = tool.doc.parameters
    properties, required = parameters["properties"], list(parameters.get("required", []))
    free = [name for name in CONTEXT_PARAMS if name not in properties]
    chosen = sorted(rand.sample(free, min(count, len(free))), key=free.index)
    entity = tool.impl.entity if isinstance(tool.impl, LookupImpl) else "record"
    added = {name: CONTEXT_PARAMS[name](entity, entities, rand) for name in chosen}
    values = {name: value for name, (_, value) in added.items()}
    ordered = {name: properties[name] for name in properties if name in required}
    ordered.update({name: schema for name, (schema, _) in added.items()})
    ordered.update({name: schema for name, schema in properties.items() if name not in ordered})
    doc = tool.doc.model_copy(update={"parameters": {
        **parameters, "properties": ordered, "required": required + chosen}})
    return tool.model_copy(update={"doc": doc, "context": {**tool.context, **values}}), values


def add_context_params(tools: tuple[Tool, ...], subtasks: tuple[SubTask, ...], rate: float,
                       rand: random.Random) -> tuple[tuple[Tool, ...], tuple[SubTask, ...]]:
    """Adds required context parameters to every lookup tool and their values to the gold calls.

    Args:
        tools: The deployed tools; lookup tools (:class:`~toolgym.scenario.LookupImpl`) get
            parameters, the others stay as they are.
        subtasks: The sub-tasks, whose gold calls get the values.
        rate: Parameters per lookup tool: the integer part on every one, one more with the
            fraction as probability. 0 draws nothing.
        rand: The scenario's random source.
    """
    if rate <= 0:
        return tools, subtasks
    whole, fraction = int(rate), rate - int(rate)
    entities = sorted({t.impl.entity for t in tools if isinstance(t.impl, LookupImpl)})
    result, values = [], {}
    for tool in tools:
        if isinstance(tool.impl, LookupImpl):
            count = whole + int(fraction > 0 and rand.random() < fraction)
            if count:
                tool, values[tool.name] = _with_context(tool, count, entities, rand)
        result.append(tool)
    return tuple(result), tuple(_with_values(sub, values.get(sub.tool, {})) for sub in subtasks)


def _with_values(sub: SubTask, values: dict[str, Scalar]) -> SubTask:
    if not values or sub.call is None:
        return sub
    call = ToolCall(name=sub.call.name, arguments={**sub.call.arguments, **values})
    return sub.model_copy(update={"call": call})
