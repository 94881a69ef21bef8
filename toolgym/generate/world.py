"""The seeded world: a lazily built knowledge base of fictional entities, the tools' data.

A :class:`World` creates entities only when a scenario needs them and draws each attribute on
first access, so a scenario costs a few dozen draws. All randomness comes from the numpy
``Generator`` given to it: it seeds the world's own ``random.Random``, which draws from Faker's
word lists (first and last names, city parts) and the lists here. Names are unique within a world, case-insensitively, and no
name contains another as whole words, so a sub-answer never hides inside another name.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import numpy as np
from faker.providers.address.en_US import Provider as _Address
from faker.providers.person.en_US import Provider as _Person

from toolgym.generate.domains import DOMAINS, Attribute
from toolgym.tools.builtin import format_number

__all__ = ["Entity", "World", "format_value", "words"]

_FIRST = tuple(n for n in _Person.first_names if n.isalpha())
_LAST = tuple(n for n in _Person.last_names if n.isalpha())
_CITY_PREFIX = tuple(_Address.city_prefixes)
_CITY_SUFFIX = tuple(_Address.city_suffixes)
_SYLLABLE_START = ("Val", "Mor", "Ost", "Kar", "Bel", "Tor", "Zan", "Ard", "Sel", "Vor", "Lun",
                   "Ester", "Nor", "Cal", "Tavr", "Quel", "Dras", "Ilm", "Pera", "Sund")
_SYLLABLE_MID = ("a", "e", "i", "o", "u", "", "an", "er")
_SYLLABLE_END = ("dia", "via", "land", "stan", "mark", "ria", "nesia", "gary", "thia", "vania",
                 "mor", "ica")
_COMPANY_SUFFIX = ("Dynamics", "Industries", "Systems", "Holdings", "Labs", "Group", "Partners",
                   "Works", "Ventures", "Collective", "Brothers", "Corporation")
_ADJECTIVES = ("Silent", "Golden", "Hidden", "Broken", "Crimson", "Distant", "Frozen", "Last",
               "Quiet", "Wandering", "Secret", "Burning", "Hollow", "Northern", "Velvet", "Iron",
               "Paper", "Glass", "Wild", "Lonely", "Bright", "Restless", "Painted", "Sunken")
_NOUNS = ("Harbor", "Garden", "River", "Mirror", "Orchard", "Lantern", "Compass", "Tide",
          "Meadow", "Tower", "Letter", "Bridge", "Island", "Forest", "Signal", "Winter",
          "Summer", "Voyage", "Engine", "Crown", "Shadow", "Feather", "Horizon", "Canyon")
_BRANDS = ("Nimbus", "Vega", "Orion", "Lumen", "Aero", "Pulse", "Zenith", "Nova", "Quartz",
           "Helix", "Atlas", "Cobalt", "Ember", "Fjord", "Kite", "Sable")
_MODELS = ("Pro", "Mini", "Air", "Max", "Lite", "Plus", "Go", "Studio", "Edge", "Prime")
_MASCOTS = ("Hawks", "Wolves", "Comets", "Rangers", "Falcons", "Giants", "Otters", "Pilots",
            "Foxes", "Stallions", "Ravens", "Tigers", "Mariners", "Bison")
_EVENT_KINDS = ("Festival", "Fair", "Gala", "Expo", "Week", "Carnival", "Summit", "Showcase")

_NON_WORD = re.compile(r"[^0-9a-z]+")


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
        self._names: list[str] = []

    def new(self, type_: str) -> Entity:
        """Creates an entity of ``type_`` with a fresh name and no attributes yet."""
        namer = getattr(self, f"_name_{type_}")
        for _ in range(50):
            name = namer()
            if self._is_fresh(name):
                break
        else:  # pragma: no cover - the name spaces are far larger than any scenario
            raise RuntimeError(f"could not find a fresh {type_} name")
        self._names.append(words(name))
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
        new = words(name)
        return all(new not in old and old not in new for old in self._names)

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

    def _pick(self, options: tuple[str, ...]) -> str:
        return options[self.random.randrange(len(options))]

    def _name_person(self) -> str:
        return f"{self._pick(_FIRST)} {self._pick(_LAST)}"

    def _name_city(self) -> str:
        form = self.random.randrange(4)
        if form == 0:
            return f"{self._pick(_CITY_PREFIX)} {self._pick(_FIRST)}{self._pick(_CITY_SUFFIX)}"
        if form == 1:
            return f"{self._pick(_CITY_PREFIX)} {self._pick(_LAST)}"
        return f"{self._pick(_LAST if form == 2 else _FIRST)}{self._pick(_CITY_SUFFIX)}"

    def _name_country(self) -> str:
        return self._pick(_SYLLABLE_START) + self._pick(_SYLLABLE_MID) + self._pick(_SYLLABLE_END)

    def _name_company(self) -> str:
        return f"{self._pick(_LAST)} {self._pick(_COMPANY_SUFFIX)}"

    def _name_product(self) -> str:
        return f"{self._pick(_BRANDS)} {self._pick(_NOUNS)} {self._pick(_MODELS)}"

    def _name_film(self) -> str:
        if self.random.random() < 0.5:
            return f"The {self._pick(_ADJECTIVES)} {self._pick(_NOUNS)}"
        return f"{self._pick(_NOUNS)} of the {self._pick(_ADJECTIVES)} {self._pick(_NOUNS)}"

    def _name_book(self) -> str:
        if self.random.random() < 0.5:
            return f"A {self._pick(_ADJECTIVES)} {self._pick(_NOUNS)}"
        return f"The {self._pick(_NOUNS)} and the {self._pick(_NOUNS)}"

    def _name_team(self) -> str:
        return f"{self._pick(_LAST)}{self._pick(_CITY_SUFFIX)} {self._pick(_MASCOTS)}"

    def _name_event(self) -> str:
        return f"{self._pick(_ADJECTIVES)} {self._pick(_NOUNS)} {self._pick(_EVENT_KINDS)}"
