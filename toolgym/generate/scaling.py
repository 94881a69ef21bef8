"""Stage 4, complexity scaling: functional generalization, parameter expansion, distractor tools.

- *Functional generalization*: a single-purpose lookup tool may become a general one that returns
  other fields of its entity too (never a field that another needed tool answers).
- *Parameter expansion and type generalization*: each tool gets optional parameters from
  :data:`OPTIONAL_PARAMS` (enums, booleans, numbers, arrays, objects, a ``date`` string). They change
  the output deterministically (``format="json"`` wraps it, enums and booleans are echoed as notes)
  but never hide the answer; see :func:`toolgym.tools.builtin.lookup_record`.
- *Toolset extension*: distractor tools, near-duplicates of the needed ones (other fields of the
  same entity type) and tools of unrelated domains, answering from the same world.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from toolgym.generate.documents import CALCULATOR, ToolSpec, lookup_spec
from toolgym.generate.domains import DOMAINS
from toolgym.generate.integration import generalize

__all__ = ["OPTIONAL_PARAMS", "add_distractors", "expand_parameters", "generalize_functions",
           "max_optional_params"]

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


def add_distractors(specs: list[ToolSpec], count: int, types: tuple[str, ...],
                    rand: random.Random) -> list[ToolSpec]:
    """Returns ``count`` distractor specs (fewer if the domains run out), near ones first.

    No distractor returns a field that a needed tool returns, so each sub-answer has one tool.
    """
    taken = _exposed(specs)
    needed_types = [spec.entity for spec in specs if spec.entity in DOMAINS]
    near, far = [], []
    for type_ in types:
        for attr in DOMAINS[type_].attributes:
            if (type_, attr.name) not in taken:
                (near if type_ in needed_types else far).append((type_, attr.name))
    rand.shuffle(near)
    rand.shuffle(far)
    chosen = (near[: (count + 1) // 2] + far)[:count]
    chosen += [pair for pair in near if pair not in chosen][: count - len(chosen)]
    return [lookup_spec(type_, attr, distractor=True) for type_, attr in chosen]
