"""Stage 2, document generation: one tool document per sub-question.

A :class:`ToolSpec` is a tool under construction: its OpenAI function schema in parts plus what
the later stages need (entity type, fields, records to hold). :func:`draft` writes one spec per
distinct sub-question kind (``get_film_director``); :meth:`ToolSpec.doc` renders the
:class:`~toolgym.scenario.ToolDoc`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from toolgym.generate.decomposition import Decomposition
from toolgym.generate.domains import DOMAINS
from toolgym.scenario import ToolDoc
from toolgym.tools.builtin import COMPARE_OPERATIONS, DATE_OPERATIONS, OPERATIONS

__all__ = ["CALCULATOR", "COMPARATOR", "DATE_CALCULATOR", "ToolSpec", "calculator_spec",
           "combiner_spec", "comparator_spec", "date_calculator_spec", "draft", "key_noun",
           "lookup_spec"]

CALCULATOR = "calculator"
"""Name of the calculator tool of the parallel shapes (and its spec's ``entity``)."""
COMPARATOR = "comparator"
"""``entity`` of the comparison tool's spec (the tool is named ``compare_values``)."""
DATE_CALCULATOR = "date_calculator"
"""Name of the date tool (and its spec's ``entity``)."""


@dataclass
class ToolSpec:
    """A tool under construction; later stages extend its parameters and fields."""

    name: str
    entity: str
    """Entity type looked up, or ``calculator``."""
    description: str
    properties: dict[str, Any]
    required: list[str]
    fields: list[str] = field(default_factory=list)
    """Attributes the tool can return (one unless merged or generalized)."""
    field_param: str | None = None
    """Argument that selects the field (merged tools)."""
    distractor: bool = False

    def doc(self) -> ToolDoc:
        """Renders the OpenAI function schema."""
        parameters = {"type": "object", "properties": self.properties, "required": self.required,
                      "additionalProperties": False}
        return ToolDoc(name=self.name, description=self.description, parameters=parameters)

    @property
    def key_param(self) -> str:
        """Argument that names the record (lookups)."""
        return DOMAINS[self.entity].key_param


def key_noun(entity: str) -> str:
    """Returns what the key argument holds, in words: ``title`` or ``name``."""
    return "title" if DOMAINS[entity].key_param == "title" else "name"


def lookup_spec(entity: str, attr: str, distractor: bool = False) -> ToolSpec:
    """Returns the single-purpose lookup tool ``get_<entity>_<attr>``."""
    type_ = DOMAINS[entity]
    doc = type_.attr(attr).doc
    key = key_noun(entity)
    description = (f"Returns {doc}, looked up by the {entity}'s {key}. "
                   f"Fails with a hint when no {entity} has that {key}.")
    properties = {type_.key_param: {"type": "string", "description": type_.key_doc}}
    return ToolSpec(f"get_{entity}_{attr}", entity, description, properties,
                    [type_.key_param], [attr], distractor=distractor)


def calculator_spec() -> ToolSpec:
    """Returns the calculator tool: one operation over a list of numbers."""
    properties = {
        "operation": {"type": "string", "enum": list(OPERATIONS),
                      "description": "The operation to apply, left to right."},
        "numbers": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                    "description": "The numbers to combine, in order."},
    }
    description = ("Applies an arithmetic operation to a list of numbers, left to right: "
                   "add sums them, subtract takes the first minus the rest, multiply multiplies "
                   "them, divide divides the first by the rest.")
    return ToolSpec(CALCULATOR, CALCULATOR, description, properties, ["operation", "numbers"])


def comparator_spec() -> ToolSpec:
    """Returns the comparison tool: ranks labeled numbers or dates."""
    item = {"type": "object", "additionalProperties": False, "required": ["label", "value"],
            "properties": {
                "label": {"type": "string", "description": "A short name for the item, e.g. a."},
                "value": {"type": ["number", "string"],
                          "description": "The item's number, or its date as YYYY-MM-DD."}}}
    properties = {
        "operation": {"type": "string", "enum": list(COMPARE_OPERATIONS),
                      "description": "max or min: the label of the largest or smallest value; "
                                     "ascending or descending: every label, in that order."},
        "items": {"type": "array", "items": item, "minItems": 2,
                  "description": "The labeled values to compare: all numbers or all dates."},
    }
    description = ("Compares labeled values, numbers or dates (a later date counts as larger), "
                   "and returns the label of the largest or smallest one, or all labels sorted.")
    return ToolSpec("compare_values", COMPARATOR, description, properties, ["operation", "items"])


def date_calculator_spec() -> ToolSpec:
    """Returns the date tool: whole days or whole years between two dates."""
    date = {"type": "string", "format": "date"}
    properties = {
        "operation": {"type": "string", "enum": list(DATE_OPERATIONS),
                      "description": "days_between: whole days; years_between: full years."},
        "start_date": {**date, "description": "One date, YYYY-MM-DD."},
        "end_date": {**date, "description": "The other date, YYYY-MM-DD."},
    }
    description = ("Returns how many whole days or full years lie between two dates "
                   "(YYYY-MM-DD), whichever comes first.")
    return ToolSpec(DATE_CALCULATOR, DATE_CALCULATOR, description, properties,
                    ["operation", "start_date", "end_date"])


def combiner_spec(combiner: str) -> ToolSpec:
    """Returns the spec of a combining tool, by :attr:`~toolgym.generate.decomposition.Step.combiner`."""
    specs = {"calculator": calculator_spec, "comparator": comparator_spec,
             "date_calculator": date_calculator_spec}
    return specs[combiner]()


def draft(decomposition: Decomposition) -> list[ToolSpec]:
    """Returns one tool spec per distinct sub-question kind of ``decomposition``, in step order."""
    specs: dict[str, ToolSpec] = {}
    for step in decomposition.steps:
        if step.combiner is not None:
            spec = combiner_spec(step.combiner)
        elif step.subject is not None and step.attr is not None:
            spec = lookup_spec(step.subject.type, step.attr.name)
        else:
            raise ValueError(f"step {step.question!r} is neither a lookup nor a combining step")
        specs.setdefault(spec.name, spec)
    return list(specs.values())
