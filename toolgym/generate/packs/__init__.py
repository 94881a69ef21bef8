"""The bundled domain packs (the YAML files beside this module) and the loader of pack files.

:func:`load_bundled` fills the registry here (:data:`DOMAINS`, :data:`PACKS`, :data:`WORD_LISTS`,
re-exported by :mod:`toolgym.generate.domains`, whose import loads them):
``core.yaml`` first (the nine original entity types), then the other packs by file name.
:func:`resolve_domains` turns the ``domains`` knob (entity type names, bundled pack names, paths
of user packs) into entity type names, loading and checking each user pack once per process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from toolgym.error import InvalidKnob, InvalidPack, did_you_mean
from toolgym.generate.pack_schema import EntityType, Pack

__all__ = ["CORE", "DOMAINS", "PACKS", "PACK_DIR", "WORD_LISTS", "load_bundled", "load_pack_file",
           "read_pack", "resolve_domains"]

# The registry (re-exported by toolgym.generate.domains): the bundled packs fill it at import of
# that module, user packs when the domains knob names them.
DOMAINS: dict[str, EntityType] = {}
"""Entity type name -> definition, bundled types first in a fixed order, then user types."""

PACKS: dict[str, tuple[str, ...]] = {}
"""Bundled pack name (``core``, ``music`` ...) -> the names of its entity types."""

WORD_LISTS: dict[str, tuple[str, ...]] = {}
"""Slot name -> words, for name patterns: Faker's lists and those of the loaded packs."""

PACK_DIR = Path(__file__).parent
"""Folder of the bundled pack files."""

CORE = "core"
"""Name of the bundled pack of the nine original entity types."""

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SOURCES: dict[str, str] = {}
"""Entity type or word list name -> label of the file that defined it."""


def _faker_lists() -> dict[str, tuple[str, ...]]:
    """Faker's word lists, as slot names of name patterns (alphabetic words only)."""
    from faker.providers.address.en_US import Provider as Address
    from faker.providers.color.en_US import Provider as Color
    from faker.providers.company.en_US import Provider as Company
    from faker.providers.person.en_US import Provider as Person

    adjectives, _, nouns = Company.catch_phrase_words
    return {
        "first_name": tuple(n for n in Person.first_names if n.isalpha()),
        "last_name": tuple(n for n in Person.last_names if n.isalpha()),
        "city_prefix": tuple(Address.city_prefixes),
        "city_suffix": tuple(Address.city_suffixes),
        "street_suffix": tuple(s for s in Address.street_suffixes if s.isalpha()),
        "catch_phrase_adjective": tuple(w for w in adjectives if w.isalpha()),
        "catch_phrase_noun": tuple(w.capitalize() for w in nouns if w.isalpha()),
        "color": tuple(c for c in Color.all_colors
                       if c.isalpha() and sum(ch.isupper() for ch in c) == 1),
    }


def _where(loc: tuple[Any, ...], data: Any) -> tuple[str, str]:
    """Returns a pydantic error location as ``entity_types[2].attributes[0].questions`` and the
    names of the entity type and attribute it lies in (``"album.artist"``), if any."""
    path, names, node = "", [], data
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
        if isinstance(node, dict | list):
            node = node.get(part) if isinstance(node, dict) else (
                node[part] if isinstance(part, int) and 0 <= part < len(node) else None)
        if isinstance(part, int) and isinstance(node, dict) and isinstance(node.get("name"), str):
            names.append(node["name"])
    return path, ".".join(names)


def _message(label: str, where: str, message: str, names: str = "") -> str:
    within = f" (in {names})" if names else ""
    return f"{label}: {where}: {message}{within}" if where else f"{label}: {message}"


def read_pack(path: Path, label: str) -> Any:
    """Reads and validates one pack file (no cross-pack checks).

    Args:
        path: The YAML file.
        label: How errors name the file (``packs/music.yaml``).

    Raises:
        InvalidPack: naming ``label`` and the bad field.
    """

    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except OSError as err:
        raise InvalidPack(f"{label}: cannot read the pack file ({err.strerror}).") from None
    except yaml.YAMLError as err:
        raise InvalidPack(f"{label}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise InvalidPack(f"{label}: a pack must be a mapping with the key 'entity_types', "
                          f"got {type(data).__name__}.")
    try:
        return Pack.model_validate(data)
    except ValidationError as err:
        lines = []
        for error in err.errors():
            where, names = _where(error["loc"], data)
            text = error["msg"].removeprefix("Value error, ")
            lines.append(_message(label, where, text, names))
        raise InvalidPack("\n".join(lines)) from None


def _check_names(label: str, index: int, type_: Any, lists: dict[str, tuple[str, ...]]) -> None:
    for j, pattern in enumerate(type_.names):
        for slot in pattern.slots:
            if slot not in lists:
                raise InvalidPack(_message(
                    label, f"entity_types[{index}].names[{j}]",
                    f"unknown word list {slot!r} in {pattern.pattern!r}; define it under word_lists "
                    f"or use a list such as first_name.{did_you_mean(slot, lists)}", type_.name))


def _check_relations(label: str, index: int, type_: Any, types: dict[str, Any]) -> None:
    for j, attr in enumerate(type_.attributes):
        where, names = f"entity_types[{index}].attributes[{j}]", f"{type_.name}.{attr.name}"
        if attr.kind != "entity":
            continue
        target = types.get(attr.target or "")
        if target is None:
            raise InvalidPack(_message(
                label, f"{where}.target", f"unknown entity type {attr.target!r}; load a pack that "
                f"defines it.{did_you_mean(attr.target or '', types)}", names))
        if attr.inverse is None:
            continue
        back = next((a for a in target.attributes if a.name == attr.inverse), None)
        if back is None or back.kind != "entity" or back.target != type_.name:
            raise InvalidPack(_message(
                label, f"{where}.inverse", f"{attr.inverse!r} must be an entity attribute of "
                f"{target.name!r} whose target is {type_.name!r}", names))


def _register(label: str, pack: Any, types: dict[str, Any], lists: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Checks ``pack`` against the registry, then adds its types and word lists.

    Args:
        label: How errors name the file.
        pack: The validated pack.
        types: Every entity type its relations may target (the registry's and the pack's own).
        lists: Every word list its name patterns may use.
    """

    for i, type_ in enumerate(pack.entity_types):
        _check_names(label, i, type_, lists)
        _check_relations(label, i, type_, types)
    for name, words in pack.word_lists.items():
        if WORD_LISTS.get(name, words) != words:
            raise InvalidPack(_message(label, f"word_lists.{name}", f"word list {name!r} is already "
                                       f"defined by {_SOURCES.get(name, 'Faker')}; rename it"))
    for i, type_ in enumerate(pack.entity_types):
        if DOMAINS.get(type_.name, type_) != type_:
            raise InvalidPack(_message(label, f"entity_types[{i}].name", f"entity type {type_.name!r} "
                                       f"is already defined by {_SOURCES[type_.name]}; rename it"))
    for name, words in pack.word_lists.items():
        _SOURCES.setdefault(name, label)
        WORD_LISTS[name] = words
    for type_ in pack.entity_types:
        _SOURCES.setdefault(type_.name, label)
        DOMAINS[type_.name] = type_
    return tuple(t.name for t in pack.entity_types)


def _known(packs: Iterable[Any]) -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
    """The registry's entity types and word lists, plus those of ``packs``."""

    types, lists = dict(DOMAINS), dict(WORD_LISTS)
    for pack in packs:
        types.update((t.name, t) for t in pack.entity_types)
        lists.update(pack.word_lists)
    return types, lists


def _bundled_names() -> tuple[str, ...]:
    return tuple(name for names in PACKS.values() for name in names)


def load_bundled() -> tuple[str, ...]:
    """Loads every bundled pack into the registry; returns the bundled entity type names."""
    WORD_LISTS.update(_faker_lists())
    files = sorted(PACK_DIR.glob("*.yaml"), key=lambda p: (p.stem != CORE, p.name))
    packs = {path.stem: read_pack(path, f"packs/{path.name}") for path in files}
    types, lists = _known(packs.values())  # bundled packs may refer to each other
    for stem, pack in packs.items():
        if stem in types:  # a domains item names a pack or a type, never both
            raise InvalidPack(f"packs/{stem}.yaml: the pack name {stem!r} is an entity type's name; "
                              "rename the file.")
        PACKS[stem] = _register(f"packs/{stem}.yaml", pack, types, lists)
    return _bundled_names()


@cache
def load_pack_file(path: str, label: str | None = None,
                   reserved: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Loads a user pack once per process; returns its entity type names.

    Args:
        path: The pack file.
        label: How errors name the file (default: ``path``).
        reserved: Parameter names the builder adds to tools, which no key parameter may take
            (:func:`toolgym.generate.scaling.reserved_params`).

    Raises:
        InvalidPack: when the file is missing or malformed, or clashes with a loaded pack.
    """
    label = label or path
    pack = read_pack(Path(path), label)
    for i, type_ in enumerate(pack.entity_types):
        if type_.key_param in reserved:
            raise InvalidPack(_message(label, f"entity_types[{i}].key_param", f"{type_.key_param!r} "
                                       "is a parameter the builder adds to tools; choose another name",
                                       type_.name))
    return _register(label, pack, *_known([pack]))


def _is_path(item: str) -> bool:
    return item.endswith((".yaml", ".yml")) or "/" in item or os.sep in item


@cache
def _resolve(items: tuple[str, ...], cwd: str, reserved: frozenset[str]) -> tuple[str, ...]:
    names: list[str] = []
    for item in items:
        if _is_path(item):
            names += load_pack_file(os.path.join(cwd, item), item, reserved)
        elif item in PACKS:
            names += PACKS[item]
        elif item in _bundled_names():
            names.append(item)
        else:
            valid = [*PACKS, *_bundled_names()]
            raise InvalidKnob(
                f"Unknown domain {item!r} in domains; give an entity type, a bundled pack "
                f"({', '.join(PACKS)}) or the path of a pack file (.yaml).{did_you_mean(item, valid)}")
    return tuple(dict.fromkeys(names))


def resolve_domains(items: Iterable[str], reserved: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Returns the entity type names that ``domains`` knob items select, in order, once each.

    Args:
        items: Entity type names (``film``), bundled pack names (``core``, ``music``) or paths of
            pack files (relative to the working directory), in any mix.
        reserved: Parameter names no key parameter of a user pack may take.

    Raises:
        InvalidKnob: for an unknown name (with a suggestion), InvalidPack for a bad pack file.

    Example:
        >>> resolve_domains(["film", "person"])
        ('film', 'person')
    """
    items = tuple(items)
    cwd = os.getcwd() if any(_is_path(item) for item in items) else ""
    return _resolve(items, cwd, reserved)
