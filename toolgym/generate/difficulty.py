"""Difficulty levels: named presets of the builder's knobs, from one-hop toy tasks to paper scale.

``difficulty=N`` (a knob of :class:`~toolgym.generate.GenerateConfig`, so of ``gym.make`` and
``toolgym generate --difficulty N``) starts every knob of :data:`DIFFICULTY_LEVELS` ``[N]`` from the
level's value; a knob given explicitly always wins over the preset, and knobs the table leaves out
keep their defaults. :class:`toolgym.wrappers.Curriculum` moves an env along these levels.

Level 5 is FTRL's scale with RoTBench's noise: FTRL's test set has 9.3 tools per environment,
7.1 parameters per tool and 1.6 required, 4.1 sub-answers per environment; level 5 gives 9.4 tools,
7.6 parameters and 1.7 required (heavy noise adding one), 4.3 sub-answers, over 200 seeds (see
``toolgym stats`` and ``benchmarks/README.md``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from toolgym.error import InvalidKnob

__all__ = ["DIFFICULTY_LEVELS", "difficulty_knobs", "difficulty_summary", "difficulty_table"]

_ALL_SHAPES = ("single_hop", "parallel_single_hop", "multi_hop", "parallel_multi_hop")
_SIMPLE_KINDS = ("sum", "difference")

DIFFICULTY_LEVELS: MappingProxyType[int, MappingProxyType[str, Any]] = MappingProxyType({
    level: MappingProxyType(knobs) for level, knobs in {
        1: {"shapes": ("single_hop",), "min_hops": 2, "max_hops": 2, "max_parallel": 2, "distractors": 0,
            "merge_prob": 0.0, "optional_params": 0, "rich_types": False, "required_params": 0.0, "noise": "clean",
            "question_kinds": _SIMPLE_KINDS, "doc_style": "plain", "domains": ("core",)},
        2: {"shapes": ("single_hop", "parallel_single_hop"), "min_hops": 2, "max_hops": 2, "max_parallel": 2,
            "distractors": 2, "merge_prob": 0.25, "optional_params": 1, "rich_types": False, "required_params": 0.0,
            "noise": "clean", "question_kinds": _SIMPLE_KINDS, "doc_style": "plain", "domains": ("core",)},
        3: {"shapes": _ALL_SHAPES, "min_hops": 2, "max_hops": 3, "max_parallel": 3, "distractors": 4,
            "merge_prob": 0.5, "optional_params": 3, "rich_types": True, "required_params": 0.0, "noise": "clean",
            "doc_style": "varied", "domains": None},
        4: {"shapes": _ALL_SHAPES, "min_hops": 2, "max_hops": 4, "max_parallel": 3, "distractors": 6,
            "merge_prob": 0.5, "optional_params": 4, "rich_types": True, "required_params": 0.25, "noise": "slight",
            "doc_style": "varied", "domains": None},
        5: {"shapes": _ALL_SHAPES, "min_hops": 3, "max_hops": 5, "max_parallel": 2, "distractors": 6,
            "merge_prob": 0.5, "optional_params": 6, "rich_types": True, "required_params": 0.35, "noise": "union",
            "doc_style": "varied", "domains": None},
    }.items()
})
"""Level -> the knobs it presets (read-only). Level 3 is the builder's defaults; levels 1-2 use the
nine core entity types, plain tool documents and sums and differences only, levels 3-5 every
bundled type, varied documents and (by default) every question kind."""


def difficulty_knobs(level: Any) -> dict[str, Any]:
    """The knobs difficulty ``level`` presets (a fresh dict).

    Raises:
        InvalidKnob: ``level`` is not an integer from 1 to 5.

    Example:
        >>> difficulty_knobs(1)["shapes"], difficulty_knobs(5)["distractors"]
        (('single_hop',), 6)
    """
    if isinstance(level, bool) or not isinstance(level, int) or level not in DIFFICULTY_LEVELS:
        raise InvalidKnob(f"difficulty must be an integer from 1 (one-hop toy tasks) to "
                          f"{max(DIFFICULTY_LEVELS)} (paper scale), got {level!r}.")
    return dict(DIFFICULTY_LEVELS[level])


def _value(value: Any) -> str:
    if value is None:
        return "all"
    if isinstance(value, tuple):
        return "all" if value == _ALL_SHAPES else ", ".join(map(str, value))
    return str(value)


def difficulty_table() -> str:
    """The presets as a Markdown table, a row per knob, a column per level (for docs and help).

    Example:
        >>> difficulty_table().splitlines()[0]
        '| knob | 1 | 2 | 3 | 4 | 5 |'
    """
    levels = list(DIFFICULTY_LEVELS)
    knobs = list(dict.fromkeys(k for level in levels for k in DIFFICULTY_LEVELS[level]))
    lines = ["| knob | " + " | ".join(map(str, levels)) + " |", "|---|" + "---|" * len(levels)]
    for knob in knobs:
        cells = [_value(DIFFICULTY_LEVELS[level][knob]) if knob in DIFFICULTY_LEVELS[level] else "all (default)"
                 for level in levels]
        lines.append(f"| `{knob}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def difficulty_summary() -> str:
    """The presets in one line (the knob's help): what each level sets.

    Example:
        >>> difficulty_summary().startswith("Level 1: shapes=single_hop, ")
        True
    """
    return " ".join(
        f"Level {level}: " + ", ".join(f"{k}={_value(v)}" for k, v in knobs.items()) + "."
        for level, knobs in DIFFICULTY_LEVELS.items()
    )
