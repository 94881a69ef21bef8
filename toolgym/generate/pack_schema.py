"""The schema of domain packs: entity types, their attributes and how to phrase them.

The world's entity types live in YAML *packs* (``toolgym/generate/packs/*.yaml``), validated on
load by the frozen pydantic models below. A user extends them with their own pack files
(``gym.make("ToolGym/Scenario-v0", domains="my_pack.yaml")``); see ``docs/domain_packs.md``.

Schema of a pack file (every key but ``entity_types`` is optional)::

    description: Musicians and their albums.   # free text
    word_lists:                                # word lists for name patterns, by slot name
      album_word: [Echo, Velvet, Neon]
    entity_types:
      - name: album                 # snake_case, unique among all packs
        area: music                 # topic area (geography, film, music ...)
        synonyms: [record]          # snake_case words naming the type in tool names and docs
        key_param: title            # argument name of the lookup key
        key_doc: Title of the album.
        quoted: true                # names are titles, quoted in questions
        names:                      # name patterns: text with {slot}s drawn from word lists
          - "{album_word} {last_name}"
          - {pattern: "The {album_word} Sessions", weight: 2}
        attributes:
          - name: artist            # snake_case, unique within the type
            kind: entity            # int, float, date (ISO YYYY-MM-DD), enum or entity
            target: musician        # entity: the type of the value (any loaded pack)
            inverse: null           # entity: attribute of the target set to point back
            questions: ["Who recorded {x}?", "Which artist made {x}?", "Who is the artist of {x}?"]
            nouns: ["the artist of {x}", "the musician behind {x}"]
            docs: ["the musician who recorded the album", "the album's recording artist"]
          - name: length_min
            kind: int
            low: 25                 # int/float: value range; date: range of years
            high: 80
            unit: minutes           # optional unit of numbers, in words
            questions: [...]
          - name: label_kind
            kind: enum
            choices: [major, independent]

Rules, checked on load (an error names the file and the field, e.g. ``packs/music.yaml:
entity_types[2].attributes[0].questions: at least 3 phrasings needed, got 2``):

- ``questions``: at least 3, each with the one slot ``{x}`` (the subject), a ``?``, not starting
  with ``{x}``; ``nouns``: at least 1, each with the one slot ``{x}``; ``docs``: at least 1, plain
  text without slots.
- ``key_param`` is not a parameter the builder adds to tools (``format``, ``date``, ``field`` ...).
- ``entity`` attributes need a ``target`` that some loaded pack defines; an ``inverse`` must be
  an ``entity`` attribute of the target that points back; ``enum`` needs ``choices``; numbers and
  dates need ``low <= high`` (whole years for dates).
- Name slots are word lists of some pack or Faker's: ``first_name``, ``last_name``,
  ``city_prefix``, ``city_suffix``, ``street_suffix``, ``catch_phrase_adjective``,
  ``catch_phrase_noun``, ``color``.

Relations chain (film.director -> person, person.birth_city -> city, city.country -> country),
which is what multi-hop questions walk. :mod:`toolgym.generate.packs` loads and checks pack files;
:mod:`toolgym.generate.domains` is the registry of the loaded types.
"""

from __future__ import annotations

import string
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = ["Attribute", "EntityType", "NUMERIC_KINDS", "NamePattern", "Pack"]

NUMERIC_KINDS: tuple[str, ...] = ("int", "float")
"""Attribute kinds whose values a calculator can combine."""

_FORMATTER = string.Formatter()


def _slots(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in _FORMATTER.parse(template) if name is not None]
    except ValueError as err:  # an unmatched brace
        raise ValueError(f"{template!r} is not a valid template: {err}") from None


def _identifier(value: str) -> str:
    if not value.isascii() or not value.replace("_", "a").isalnum() or not value[:1].islower():
        raise ValueError(f"{value!r} must be a snake_case identifier such as 'release_year'")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]


def _phrasings(values: tuple[str, ...], least: int, question: bool) -> tuple[str, ...]:
    if len(values) < least:
        raise ValueError(f"at least {least} phrasing{'s' * (least > 1)} needed, got {len(values)}")
    for template in values:
        if _slots(template) != ["x"]:
            raise ValueError(f"{template!r} must contain the slot {{x}} exactly once and no other slot")
        if question and (template.startswith("{x}") or "?" not in template):
            raise ValueError(f"{template!r} must be a question with '?' that does not start with {{x}}")
    return values


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Attribute(_Frozen):
    """One attribute of an entity type, with its value range and phrasings."""

    name: Identifier
    """Field name in records and tool names (``director``, ``release_year``)."""
    kind: Literal["int", "float", "date", "enum", "entity"]
    """``int``, ``float``, ``date`` (ISO ``YYYY-MM-DD``), ``enum`` or ``entity``."""
    questions: tuple[str, ...]
    """Question templates about subject ``{x}``; never start with ``{x}``."""
    nouns: tuple[str, ...]
    """Noun-phrase templates naming the value, e.g. ``"the director of {x}"``."""
    docs: tuple[str, ...]
    """What the tool returns, for tool descriptions; the first is the plain style's."""
    target: str | None = Field(None, validate_default=True)
    """Entity type of the value, for relations."""
    low: float | None = Field(None, validate_default=True)
    high: float | None = Field(None, validate_default=True)
    """Value range of numbers (dates: years)."""
    choices: tuple[str, ...] = Field((), validate_default=True)
    """Values of enums."""
    inverse: str | None = Field(None, validate_default=True)
    """Attribute of the target set to point back (a capital's ``country`` is the country)."""
    unit: str | None = None
    """Unit of numeric values in words (``kilometers``), when they have one."""

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _phrasings(value, 3, question=True)

    @field_validator("nouns")
    @classmethod
    def _nouns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _phrasings(value, 1, question=False)

    @field_validator("docs")
    @classmethod
    def _docs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least 1 description needed, got 0")
        for text in value:
            if _slots(text):
                raise ValueError(f"{text!r} must be plain text without {{slots}}")
        return value

    @field_validator("target", "inverse")
    @classmethod
    def _relation(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "entity" and value is None and info.field_name == "target":
            raise ValueError("kind 'entity' needs a target entity type")
        if kind not in (None, "entity") and value is not None:
            raise ValueError(f"kind {kind!r} takes no {info.field_name}")
        return value

    @field_validator("choices")
    @classmethod
    def _choices(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        kind = info.data.get("kind")
        if kind == "enum" and not value:
            raise ValueError("kind 'enum' needs a non-empty list of choices")
        if kind not in (None, "enum") and value:
            raise ValueError(f"kind {kind!r} takes no choices")
        if len(set(value)) != len(value):
            raise ValueError(f"choices repeat a value: {list(value)}")
        return value

    @field_validator("low", "high")
    @classmethod
    def _bound(cls, value: float | None, info: ValidationInfo) -> float | None:
        kind, name = info.data.get("kind"), info.field_name
        if kind in ("enum", "entity") and value is not None:
            raise ValueError(f"kind {kind!r} takes no {name}")
        if kind in ("int", "float", "date"):
            if value is None:
                raise ValueError(f"kind {kind!r} needs {name}")
            if kind != "float" and not value.is_integer():
                raise ValueError(f"kind {kind!r} needs a whole number, got {value}")
            if kind == "date" and not 1 <= value <= 9999:
                raise ValueError(f"dates need a year from 1 to 9999, got {value:g}")
        low = info.data.get("low")
        if name == "high" and value is not None and low is not None and low > value:
            raise ValueError(f"low ({low:g}) exceeds high ({value:g})")
        return value

    @property
    def doc(self) -> str:
        """What the tool returns, in the plain style."""
        return self.docs[0]

    @property
    def numeric(self) -> bool:
        """True when the value is a number."""
        return self.kind in NUMERIC_KINDS


class NamePattern(_Frozen):
    """A template of word-list slots (``"{first_name} {last_name}"``) and its relative weight."""

    pattern: str
    weight: float | None = None
    """Relative weight; when any pattern of a type sets one, names are drawn by weight (unset
    weights count 1), else uniformly."""

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"pattern": value} if isinstance(value, str) else value

    @field_validator("pattern")
    @classmethod
    def _has_slots(cls, value: str) -> str:
        if not _slots(value):
            raise ValueError(f"{value!r} needs at least one {{slot}} naming a word list")
        for slot in _slots(value):
            _identifier(slot)
        return value

    @field_validator("weight")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError(f"weight must be positive, got {value}")
        return value

    @property
    def slots(self) -> list[str]:
        """The word lists the pattern draws from, in order."""
        return _slots(self.pattern)


class EntityType(_Frozen):
    """A kind of entity (``film``), its key parameter, name patterns and attributes."""

    name: Identifier
    area: Identifier
    """Topic area (``geography``, ``film`` ...)."""
    key_param: Identifier
    """Argument name of the lookup key (``title``, ``name``, ``city``)."""
    key_doc: str
    """Description of the key argument."""
    quoted: bool = False
    """True when names are titles, written in quotes in questions."""
    synonyms: tuple[Identifier, ...] = ()
    """Other words for the type (``movie``), for tool names and descriptions."""
    names: tuple[NamePattern, ...]
    """Patterns of entity names."""
    attributes: tuple[Attribute, ...]

    @field_validator("names", "attributes")
    @classmethod
    def _not_empty(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if not value:
            raise ValueError("at least 1 needed, got 0")
        return value

    @field_validator("attributes")
    @classmethod
    def _unique(cls, value: tuple[Attribute, ...]) -> tuple[Attribute, ...]:
        names = [a.name for a in value]
        if len(set(names)) != len(names):
            raise ValueError(f"attribute names repeat: {names}")
        return value

    def attr(self, name: str) -> Attribute:
        """Returns the attribute called ``name``."""
        for candidate in self.attributes:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    @property
    def words(self) -> tuple[str, ...]:
        """The type's name and synonyms, the words that name it in tool documents."""
        return (self.name, *self.synonyms)


class Pack(_Frozen):
    """One pack file: word lists and entity types."""

    description: str = ""
    word_lists: dict[Identifier, tuple[str, ...]] = {}
    entity_types: tuple[EntityType, ...]

    @field_validator("word_lists")
    @classmethod
    def _lists_not_empty(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, items in value.items():
            if not any(item.strip() for item in items):
                raise ValueError(f"word list {name!r} needs at least 1 non-empty word")
        return value

    @field_validator("entity_types")
    @classmethod
    def _unique_types(cls, value: tuple[EntityType, ...]) -> tuple[EntityType, ...]:
        names = [t.name for t in value]
        if len(set(names)) != len(names):
            raise ValueError(f"entity type names repeat: {names}")
        return value
