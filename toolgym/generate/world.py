"""The seeded world: a lazily built knowledge base of fictional entities, the tools' data.

A :class:`World` creates entities only when a scenario needs them and draws each attribute on
first access, so a scenario costs a few dozen draws. All randomness comes from the numpy
``Generator`` given to it: it seeds the world's own ``random.Random``, which fills each entity
type's name patterns (:class:`~toolgym.generate.domains.NamePattern`) from Faker's word lists
(first and last names, city parts) and the packs' own. Names are unique within a world,
case-insensitively, and no name contains another as whole words, so a sub-answer never hides
inside another name.
"""

from __future__ import annotations

import random
import re
import string
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cache, lru_cache
from itertools import accumulate

import numpy as np

from toolgym.generate.domains import DOMAINS, WORD_LISTS, Attribute
from toolgym.tools.builtin import format_number

__all__ = ["Entity", "World", "format_value", "words"]

_Parts = tuple[tuple[str, tuple[str, ...] | None], ...]
"""A compiled name pattern: (literal text, word list to draw from next or None), in order."""


@cache
def _namer(type_: str) -> tuple[tuple[float, ...] | None, tuple[_Parts, ...]]:
    """Compiles the name patterns of ``type_``: cumulative weights (None: uniform) and parts.

    Entity types never change once registered, so the cache by name is safe.
    """
    patterns = DOMAINS[type_].names
    compiled = tuple(
        tuple((literal, WORD_LISTS[slot] if slot is not None else None)
              for literal, slot, _, _ in _FORMATTER.parse(p.pattern))
        for p in patterns)
    if all(p.weight is None for p in patterns):
        return None, compiled
    return tuple(accumulate(p.weight or 1.0 for p in patterns)), compiled


_NON_WORD = re.compile(r"[^0-9a-z]+")
_FORMATTER = string.Formatter()


@lru_cache(maxsize=1 << 16)
def words(text: str) -> str:
    """Returns ``text`` lowercased with every run of non-alphanumerics as one space, padded.

    ``words(a) in words(b)`` tells whether ``a`` occurs in ``b`` as whole words.
    """
    return f" {_NON_WORD.sub(' ', text.lower()).strip()} "


def format_value(value: object) -> str:
    """Returns the canonical string of a record value: an entity's name, or
    :func:`~toolgym.tools.builtin.format_number` of a scalar (the tools print the same)."""
    return value.name if isinstance(value, Entity) else format_number(value)


@dataclass(eq=False)
class Entity:
    """One entity of the world: its type, unique name and the attributes drawn so far."""

    type: str
    name: str
    attrs: dict[str, object] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Entity({self.type!r}, {self.name!r})"


class World:
    """A lazily built, seeded knowledge base.

    Args:
        rng: The source of all randomness; the world draws one integer from it to seed Faker.

    Example:
        >>> world = World(np.random.default_rng(0))
        >>> film = world.new("film")
        >>> director = world.value(film, "director")
        >>> director.type
        'person'
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        # The world's own generator, seeded as Faker's ``seed_instance`` seeds one, so a world
        # never shares random state with another world, thread or Faker instance.
        self.random = random.Random(int(rng.integers(0, 2**31 - 1)))
        self.entities: dict[str, list[Entity]] = {name: [] for name in DOMAINS}
        self._names: dict[str, list[str]] = {}  # words() of every name so far, by its first word
        self._joined = ""  # the same, concatenated: a name occurs in one of them iff it occurs here

    def new(self, type_: str) -> Entity:
        """Creates an entity of ``type_`` with a fresh name and no attributes yet."""
        for _ in range(50):
            name = self._name(type_)
            if self._is_fresh(name):
                break
        else:  # pragma: no cover - the name spaces are far larger than any scenario
            raise RuntimeError(f"could not find a fresh {type_} name")
        self._names.setdefault(words(name).split()[0], []).append(words(name))
        self._joined += words(name)
        entity = Entity(type_, name)
        self.entities[type_].append(entity)
        return entity

    def value(self, entity: Entity, attr: str) -> object:
        """Returns attribute ``attr`` of ``entity``, drawing it on first access."""
        if attr not in entity.attrs:
            entity.attrs[attr] = self._draw(entity, DOMAINS[entity.type].attr(attr))
        return entity.attrs[attr]

    def text(self, entity: Entity, attr: str) -> str:
        """Returns attribute ``attr`` of ``entity`` as its canonical string."""
        return format_value(self.value(entity, attr))

    def record_value(self, entity: Entity, attr: str) -> str | int | float:
        """Returns attribute ``attr`` as stored in tool records: entities by name."""
        value = self.value(entity, attr)
        return value.name if isinstance(value, Entity) else value  # type: ignore[return-value]

    def _is_fresh(self, name: str) -> bool:
        """Whether no earlier name contains ``name`` as whole words, or is contained in it."""
        new = words(name)
        if new in self._joined:  # padded with spaces, so no match spans two names
            return False
        # An earlier name inside this one starts at one of this name's words.
        return not any(old in new for word in set(new.split()) for old in self._names.get(word, ()))

    def _draw(self, entity: Entity, attr: Attribute) -> object:
        if attr.kind == "entity":
            target = self.new(attr.target or "")
            if attr.inverse:  # keep the world consistent: the capital of K lies in K
                target.attrs[attr.inverse] = entity
            return target
        if attr.kind == "enum":
            return self.random.choice(attr.choices)
        if attr.kind == "int":
            return self.random.randint(int(attr.low), int(attr.high))
        if attr.kind == "float":
            return round(self.random.uniform(attr.low, attr.high), 1 if attr.high > 100 else 2)
        year = self.random.randint(int(attr.low), int(attr.high))
        return f"{year}-{self.random.randint(1, 12):02d}-{self.random.randint(1, 28):02d}"

    def _name(self, type_: str) -> str:
        """Draws a name of ``type_``: a pattern (by weight, else uniformly), then each slot's word."""
        weights, patterns = _namer(type_)
        if len(patterns) == 1:
            parts = patterns[0]
        elif weights is None:
            parts = patterns[self.random.randrange(len(patterns))]
        else:
            parts = patterns[bisect_right(weights, self.random.random() * weights[-1])]
        pieces = []
        for literal, options in parts:
            pieces.append(literal)
            if options is not None:
                pieces.append(options[self.random.randrange(len(options))])
        return "".join(pieces)
