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
from toolgym.tools.builtin import OPERATIONS

__all__ = ["CALCULATOR", "ToolSpec", "calculator_spec", "draft", "key_noun", "lookup_spec"]

CALCULATOR = "calculator"
"""Name of the calculator tool of the parallel shapes."""


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


def draft(decomposition: Decomposition) -> list[ToolSpec]:
    """Returns one tool spec per distinct sub-question kind of ``decomposition``, in step order."""
    specs: dict[str, ToolSpec] = {}
    for step in decomposition.steps:
        if step.attr is None or step.subject is None:
            spec = calculator_spec()
        else:
            spec = lookup_spec(step.subject.type, step.attr.name)
        specs.setdefault(spec.name, spec)
    return list(specs.values())
