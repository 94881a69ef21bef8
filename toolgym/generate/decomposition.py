"""Stage 1, scenario decomposition: a question and its sub-questions, drawn from the world.

A :class:`Decomposition` is the question in one of the four shapes, as a list of :class:`Step` s:
record lookups (one sub-question each) and, for the parallel shapes, a final calculator step that
combines the numbers of the others. Multi-hop questions nest noun phrases: "In which country is
the birth city of the director of 'The Silent Harbor'?"
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from toolgym.generate.domains import DOMAINS, Attribute
from toolgym.generate.world import Entity, World, format_value
from toolgym.tools.builtin import calculate

__all__ = ["Decomposition", "Step", "can_decompose", "decompose"]

_SUM_QUESTIONS = ("What is the sum of {items}?", "What do {items} add up to?",
                  "What is the total of {items}?")
_DIFF_QUESTIONS = ("What is the difference between {a} and {b}?",
                   "By how much does {a} exceed {b}?", "How much larger is {a} than {b}?")


@dataclass(frozen=True)
class Step:
    """One sub-question: a record lookup, or a calculator operation over earlier steps."""

    question: str
    answer: str
    """The sub-answer, in the canonical text the tool prints."""
    value: Any
    """The raw value (an entity, a number, a string)."""
    subject: Entity | None = None
    """The looked-up entity (lookups)."""
    attr: Attribute | None = None
    """The looked-up attribute (lookups)."""
    operation: str | None = None
    """The calculator operation (calculator step)."""
    depends_on: tuple[int, ...] = ()
    """Steps whose answers this step's call needs (chain predecessor or calculator operands)."""


@dataclass(frozen=True)
class Decomposition:
    """A question, its shape and its steps; the last step's answer is the final answer."""

    shape: str
    question: str
    steps: tuple[Step, ...]

    @property
    def answer(self) -> str:
        """The final answer."""
        return self.steps[-1].answer


def _title(entity: Entity) -> str:
    return f"'{entity.name}'" if DOMAINS[entity.type].quoted else entity.name


@cache
def _next_attrs(type_: str, prev: Attribute | None, types: tuple[str, ...]) -> tuple[Attribute, ...]:
    """Attributes a chain may take from ``type_``: within ``types``, never straight back."""
    return tuple(a for a in DOMAINS[type_].attributes
                 if (a.kind != "entity" or a.target in types)
                 and not (prev is not None and (a.name == prev.inverse or a.inverse == prev.name)))


@cache
def _can_walk(type_: str, prev: Attribute | None, hops: int, numeric: bool,
              types: tuple[str, ...]) -> bool:
    """Whether a chain of ``hops`` attributes can start at ``type_`` (ending numeric if asked)."""
    options = _next_attrs(type_, prev, types)
    if hops == 1:
        return any(a.numeric or not numeric for a in options)
    return any(a.kind == "entity" and _can_walk(a.target or "", a, hops - 1, numeric, types)
               for a in options)


def _walk(world: World, hops: range, numeric: bool, types: tuple[str, ...]) -> tuple[str, list[Attribute]]:
    """Draws a feasible chain of attributes, as long as one of ``hops`` allows.

    Returns:
        The chain's start type and its attributes.
    """
    lengths = [h for h in hops if any(_can_walk(t, None, h, numeric, types) for t in types)]
    length = world.random.choice(lengths)
    starts = [t for t in types if _can_walk(t, None, length, numeric, types)]
    type_, prev, chain = world.random.choice(starts), None, []
    first = type_
    for left in range(length, 0, -1):
        options = _next_attrs(type_, prev, types)
        if left == 1:
            options = tuple(a for a in options if a.numeric or not numeric)
        else:
            options = tuple(a for a in options if a.kind == "entity"
                            and _can_walk(a.target or "", a, left - 1, numeric, types))
        prev = world.random.choice(options)
        chain.append(prev)
        type_ = prev.target or type_
    return first, chain


def _lookups(world: World, start: Entity, chain: list[Attribute],
             offset: int) -> tuple[list[Step], list[str]]:
    """Looks a chain up from ``start``: its steps and the noun phrases of each subject and the end.

    Returns:
        The steps, and ``len(chain) + 1`` phrases: the start's name, then nested noun phrases.
    """
    entity, phrases, steps = start, [_title(start)], []
    for depth, attr in enumerate(chain):
        value = world.value(entity, attr.name)
        depends = (offset + depth - 1,) if depth else ()
        question = world.random.choice(attr.questions).format(x=_title(entity))
        steps.append(Step(question, format_value(value), value, entity, attr, depends_on=depends))
        phrases.append(world.random.choice(attr.nouns).format(x=phrases[-1]))
        if isinstance(value, Entity):
            entity = value
    return steps, phrases


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _combine(world: World, steps: list[Step], ends: list[int], phrases: list[str]) -> str:
    """Appends the calculator step over the steps ``ends``; returns the question it answers."""
    operation = "subtract" if len(ends) == 2 and world.random.random() < 0.5 else "add"
    if operation == "subtract" and steps[ends[0]].value < steps[ends[1]].value:
        ends, phrases = ends[::-1], phrases[::-1]
    numbers = [steps[i].value for i in ends]
    result = calculate(operation, numbers)
    sign = " - " if operation == "subtract" else " + "
    question = f"What is {sign.join(steps[i].answer for i in ends)}?"
    steps.append(Step(question, format_value(result), result, operation=operation,
                      depends_on=tuple(ends)))
    if operation == "subtract":
        template = world.random.choice(_DIFF_QUESTIONS)
        return template.format(a=phrases[0], b=phrases[1])
    return world.random.choice(_SUM_QUESTIONS).format(items=_join(phrases))


_ONE_HOP = range(1, 2)


def _single_hop(world: World, types: tuple[str, ...]) -> Decomposition:
    start, chain = _walk(world, _ONE_HOP, False, types)
    steps, _ = _lookups(world, world.new(start), chain, 0)
    return Decomposition("single_hop", steps[0].question, tuple(steps))


def _multi_hop(world: World, types: tuple[str, ...], hops: range) -> Decomposition:
    start, chain = _walk(world, hops, False, types)
    steps, phrases = _lookups(world, world.new(start), chain, 0)
    question = world.random.choice(chain[-1].questions).format(x=phrases[-2])
    return Decomposition("multi_hop", question, tuple(steps))


def _parallel(world: World, shape: str, types: tuple[str, ...], hops: range,
              width: int) -> Decomposition:
    """Draws ``width`` independent numeric chains (single lookups for parallel_single_hop)."""
    hops = _ONE_HOP if shape == "parallel_single_hop" else hops
    steps: list[Step] = []
    ends: list[int] = []
    phrases: list[str] = []
    start, chain = _walk(world, hops, True, types)
    same = shape == "parallel_single_hop" and world.random.random() < 0.5  # one attribute, many entities
    for _ in range(width):
        if not same:
            start, chain = _walk(world, hops, True, types)
        chain_steps, chain_phrases = _lookups(world, world.new(start), chain, len(steps))
        steps += chain_steps
        ends.append(len(steps) - 1)
        phrases.append(chain_phrases[-1])
    question = _combine(world, steps, ends, phrases)
    return Decomposition(shape, question, tuple(steps))


def decompose(world: World, shape: str, types: tuple[str, ...], hops: range,
              max_parallel: int) -> Decomposition:
    """Draws a question of ``shape`` from ``world``.

    Args:
        world: The seeded world to draw entities from.
        shape: One of :data:`toolgym.scenario.SHAPES`.
        types: Entity types chains may visit (:func:`can_decompose` must allow the shape).
        hops: Allowed chain lengths of multi-hop shapes; lengths the domains cannot make are skipped.
        max_parallel: Most independent sub-questions or chains of parallel shapes (at least 2).
    """
    if shape == "single_hop":
        return _single_hop(world, types)
    if shape == "multi_hop":
        return _multi_hop(world, types, hops)
    return _parallel(world, shape, types, hops, world.random.randint(2, max_parallel))


def can_decompose(shape: str, types: tuple[str, ...], min_hops: int) -> bool:
    """Whether ``types`` allow questions of ``shape`` with ``min_hops`` (used to check knobs)."""
    hops = 1 if shape in ("single_hop", "parallel_single_hop") else min_hops
    numeric = shape.startswith("parallel")
    return any(_can_walk(t, None, hops, numeric, types) for t in types)
