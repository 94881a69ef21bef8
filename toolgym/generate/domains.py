"""The registry of the seeded world's entity types: every type of the loaded domain packs.

The types live in YAML packs (``toolgym/generate/packs/*.yaml``; the schema is
:mod:`toolgym.generate.pack_schema`, the loader :mod:`toolgym.generate.packs`). Importing this
module loads the bundled packs; user packs join the registry when the ``domains`` knob names them
(``gym.make("ToolGym/Scenario-v0", domains="my_pack.yaml")``; see ``docs/domain_packs.md``).

Example:
    >>> attribute("film", "director").target
    'person'
    >>> "core" in PACKS and len(DOMAIN_NAMES) >= 30
    True
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from toolgym.generate.pack_schema import NUMERIC_KINDS, Attribute, EntityType, NamePattern, Pack
from toolgym.generate.packs import DOMAINS, PACK_DIR, PACKS, WORD_LISTS, load_bundled

__all__ = [
    "Attribute", "DOMAINS", "DOMAIN_NAMES", "EntityType", "NUMERIC_KINDS", "NamePattern", "PACKS",
    "Pack", "WORD_LISTS", "areas", "attribute", "bundled_pack_dir",
]

DOMAIN_NAMES: tuple[str, ...] = load_bundled()
"""Names of every bundled entity type, the default of the ``domains`` knob."""


def attribute(entity: str, name: str) -> Attribute:
    """Returns attribute ``name`` of entity type ``entity``."""
    return DOMAINS[entity].attr(name)


@cache
def areas() -> tuple[str, ...]:
    """Returns the areas of the bundled entity types, in order of first appearance."""
    return tuple(dict.fromkeys(DOMAINS[name].area for name in DOMAIN_NAMES))


def bundled_pack_dir() -> Path:
    """Returns the folder of the bundled pack files."""
    return PACK_DIR
