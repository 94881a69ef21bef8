"""Tool-document styles: how lookup tools are named and described (the ``doc_style`` knob).

``plain`` keeps the drafted documents (``get_film_director``, one description per attribute).
``varied`` redraws, per scenario, each lookup tool's name from :data:`LOOKUP_NAMES` (or
:data:`MERGED_NAMES` for general tools) with a word for its entity type drawn from the type's
name and synonyms (``fetch_movie_director``, ``find_director_of_motion_picture``), and its
description from :data:`LOOKUP_DOCS` / :data:`MERGED_DOCS` with one of the attribute's
descriptions (``docs`` in the packs). Names stay unique within a scenario and valid function
names.
"""

from __future__ import annotations

import random

from toolgym.generate.documents import ToolSpec, key_noun
from toolgym.generate.domains import DOMAINS

__all__ = ["DOC_STYLES", "LOOKUP_DOCS", "LOOKUP_NAMES", "MERGED_DOCS", "MERGED_NAMES",
           "vary_documents"]

DOC_STYLES: tuple[str, ...] = ("varied", "plain")
"""Values of the ``doc_style`` knob."""

LOOKUP_NAMES: tuple[str, ...] = (
    "get_{e}_{a}", "{e}_{a}_lookup", "fetch_{e}_{a}", "find_{a}_of_{e}", "lookup_{e}_{a}",
    "query_{e}_{a}", "retrieve_{e}_{a}", "{e}_{a}", "get_{a}_of_{e}", "{a}_by_{e}_{k}",
    "search_{e}_{a}", "{e}_{a}_api",
)
"""Name templates of single-field lookup tools: ``{e}`` entity word, ``{a}`` attribute, ``{k}`` key."""

MERGED_NAMES: tuple[str, ...] = (
    "{e}_info", "get_{e}_details", "{e}_lookup", "query_{e}_records", "{e}_records", "{e}_profile",
    "describe_{e}", "fetch_{e}_data", "{e}_database", "search_{e}_registry",
)
"""Name templates of general lookup tools that return a chosen field."""

LOOKUP_DOCS: tuple[str, ...] = (
    "Returns {doc}, looked up by the {e}'s {key}. Fails with a hint when no {e} has that {key}.",
    "Looks up {doc}. Pass the {key} of the {e}; an unknown {key} gets a suggestion.",
    "Given the {key} of {a_e}, returns {doc}.",
    "Retrieves {doc} from the {e} registry, by {key}.",
    "Use this tool to find {doc}. Input: the exact {key} of the {e}.",
    "{Doc}, for the {e} with the given {key}. Unknown {key}s get a did-you-mean hint.",
)
"""Description templates of single-field lookup tools; ``{doc}`` is one of the attribute's docs."""

MERGED_DOCS: tuple[str, ...] = (
    "Looks up {a_e} by its {key} and returns one field of its record ({listing}). "
    "Fails with a hint when no {e} matches.",
    "Returns the field `{field}` of the {e} named by its {key}; fields: {listing}.",
    "Queries the {e} records: give the {key} of {a_e} and the field to return ({listing}).",
)
"""Description templates of general lookup tools; ``{listing}`` lists the fields."""

_MAX_NAME = 64
"""Longest function name OpenAI-style APIs accept."""


def _article(word: str) -> str:
    vowel = word[0] in "aeio" or (word[0] == "u" and not word.startswith(("uni", "use", "usu")))
    return f"{'an' if vowel else 'a'} {word}"


def _fresh(name: str, fallback: str, taken: set[str]) -> str:
    """Returns ``name`` if free and short enough, else ``fallback`` (numbered if need be)."""
    if len(name) <= _MAX_NAME and name not in taken:
        return name
    candidate, n = fallback, 2
    while candidate in taken:
        candidate, n = f"{fallback}_{n}", n + 1
    return candidate


def _restyle(spec: ToolSpec, taken: set[str], rand: random.Random) -> None:
    type_ = DOMAINS[spec.entity]
    word = rand.choice(type_.words)
    text = word.replace("_", " ")
    slots = {"e": text, "a_e": _article(text), "key": key_noun(spec.entity)}
    if spec.field_param is None:
        attr = type_.attr(spec.fields[0])
        key = "" if type_.key_param == word else type_.key_param  # not "city_by_hospital_hospital"
        name = rand.choice(LOOKUP_NAMES).format(e=word, a=attr.name, k=key).rstrip("_")
        doc = rand.choice(attr.docs)
        description = rand.choice(LOOKUP_DOCS).format(doc=doc, Doc=doc[:1].upper() + doc[1:], **slots)
    else:
        name = rand.choice(MERGED_NAMES).format(e=word)
        listing = "; ".join(f"{f}: {type_.attr(f).doc}" for f in spec.fields)
        description = rand.choice(MERGED_DOCS).format(listing=listing, field=spec.field_param, **slots)
    spec.name = _fresh(name, spec.name, taken)
    spec.description = description
    taken.add(spec.name)


def vary_documents(specs: list[ToolSpec], rand: random.Random) -> None:
    """Renames and redescribes the lookup tools of ``specs`` in place, in the varied style.

    Tools that are not lookups (calculator, comparison, date tools) keep their documents; their
    names are reserved first, so no lookup takes one.

    Args:
        specs: Every tool spec of the scenario (needed and distractors), in a fixed order.
        rand: The scenario's random source.
    """
    taken = {spec.name for spec in specs if spec.entity not in DOMAINS}
    for spec in specs:
        if spec.entity in DOMAINS:
            _restyle(spec, taken, rand)
