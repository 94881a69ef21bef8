"""Stage 1, scenario decomposition: a question and its sub-questions, drawn from the world.

A :class:`Decomposition` is the question in one of the four shapes, as a list of :class:`Step` s:
record lookups (one sub-question each) and, for the parallel shapes, the steps that combine the
lookups' answers as the question's *kind* asks (:data:`QUESTION_KINDS`, as in FTRL's parallel
rows): a sum or difference (calculator), a comparison or ordering of labeled items (comparison
tool, answer ``a`` or ``b, a, c``), a list of the answers (no combining step, answer ``A1, B1``),
the days or years between two dates (date tool), or a sum or difference converted to a smaller
unit (calculator, twice). Multi-hop questions nest noun phrases: "In which country is the birth
city of the director of 'The Silent Harbor'?"
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from toolgym.generate.domains import DOMAINS, Attribute
from toolgym.generate.world import Entity, World, format_value
from toolgym.tools.builtin import calculate, date_difference, rank_labels

__all__ = ["COMBINERS", "QUESTION_KINDS", "Conflict", "Decomposition", "Step", "can_decompose",
           "decompose", "unit_conversion"]

QUESTION_KINDS: tuple[str, ...] = ("sum", "difference", "comparison", "ordering", "list",
                                   "date_difference", "unit_conversion")
"""How the parallel shapes combine their sub-answers; the ``question_kinds`` knob picks from these."""

COMBINERS: tuple[str, ...] = ("calculator", "comparator", "date_calculator")
"""The tools that combine sub-answers (:attr:`Step.combiner`), named as their implementation kinds."""


class Conflict(Exception):
    """The draw made an ambiguous scenario (tied values, or an answer hiding in another output);
    draw again."""


_SUM_QUESTIONS = ("What is the sum of {items}?", "What do {items} add up to?",
                  "What is the total of {items}?")
_DIFF_QUESTIONS = ("What is the difference between {a} and {b}?",
                   "By how much does {a} exceed {b}?", "How much larger is {a} than {b}?")
_COMPARE_TWO = ("Which is {adj}: {items}?", "Which of the two is {adj}: {items}?",
                "What is {adj}: {items}?")
_COMPARE_MANY = ("Which is the {adj}: {items}?", "Which of these is the {adj}: {items}?")
_ORDER_QUESTIONS = ("Order from {low} to {high}: {items}.", "Rank these from {low} to {high}: {items}.",
                    "Sort from {low} to {high}: {items}.")
_LIST_QUESTIONS = ("What are {items}?", "Name {items}.", "Give {items}.")
_DAYS_QUESTIONS = ("How many days passed between {a} and {b}?", "How many days lie between {a} and {b}?",
                   "How many days are there between {a} and {b}?")
_YEARS_QUESTIONS = ("How many full years passed between {a} and {b}?",
                    "How many whole years lie between {a} and {b}?")
_UNIT_SUM_QUESTIONS = ("What is the sum of {items}, in {unit}?", "What do {items} add up to, in {unit}?",
                       "What is the total of {items}, expressed in {unit}?")
_UNIT_DIFF_QUESTIONS = ("By how many {unit} does {a} exceed {b}?",
                        "What is the difference between {a} and {b}, in {unit}?")
_LETTER_HINT = " Answer with its letter."
_LETTERS_HINT = " Answer with the letters, separated by commas."
_LIST_HINT = " Answer in the order asked, separated by commas."

_SCALES: tuple[tuple[frozenset[str], tuple[str, str, str, str]], ...] = (
    (frozenset({"year", "date", "born", "founded", "released", "opened"}),
     ("earlier", "later", "earliest", "latest")),
    (frozenset({"elevation", "altitude", "height", "price", "revenue", "office", "temperature",
                "cost", "assets", "endowment", "bill"}),
     ("lower", "higher", "lowest", "highest")),
    (frozenset({"length", "distance", "runtime", "duration"}),
     ("shorter", "longer", "shortest", "longest")),
    (frozenset({"weight", "mass"}), ("lighter", "heavier", "lightest", "heaviest")),
    (frozenset({"speed"}), ("slower", "faster", "slowest", "fastest")),
)
"""Words of attribute names -> (smaller, larger, smallest, largest) in the words of that scale."""
_PLAIN_SCALE = ("smaller", "larger", "smallest", "largest")

_UNITS: dict[str, tuple[str, int]] = {
    "kilometers": ("meters", 1000), "meters": ("centimeters", 100),
    "centimeters": ("millimeters", 10), "kilograms": ("grams", 1000), "grams": ("milligrams", 1000),
    "tonnes": ("kilograms", 1000), "hours": ("minutes", 60), "minutes": ("seconds", 60),
    "liters": ("milliliters", 1000), "square kilometers": ("hectares", 100),
    "million USD": ("USD", 1_000_000), "USD": ("cents", 100), "days": ("hours", 24),
    "milligrams": ("micrograms", 1000), "kilocalories": ("calories", 1000),
}
"""Unit of records -> (smaller unit a question may ask for, factor); factors keep answers exact."""
_UNIT_SUFFIXES = {"km": "kilometers", "m": "meters", "cm": "centimeters", "kg": "kilograms",
                  "g": "grams", "t": "tonnes", "h": "hours", "hours": "hours", "min": "minutes",
                  "l": "liters", "km2": "square kilometers", "musd": "million USD", "usd": "USD"}
"""Unit of an attribute without a declared ``unit``, by the last word of its name."""


@dataclass(frozen=True)
class Step:
    """One sub-question: a record lookup, or a combining tool's operation over earlier steps."""

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
    """The combining tool's operation (``add``, ``max``, ``days_between`` ...)."""
    depends_on: tuple[int, ...] = ()
    """Steps whose answers this step's call needs (chain predecessor or operands)."""
    combiner: str | None = None
    """The combining tool, one of :data:`COMBINERS` (None for lookups)."""
    operands: tuple[Any, ...] = ()
    """The values the gold call passes (numbers, dates), as the agent reads them."""
    labels: tuple[str, ...] = ()
    """The item labels of a comparison, one per operand."""


@dataclass(frozen=True)
class Decomposition:
    """A question, its shape and its steps; the final answer is the last step's unless ``final``."""

    shape: str
    question: str
    steps: tuple[Step, ...]
    kind: str | None = None
    """The question kind of parallel shapes (:data:`QUESTION_KINDS`)."""
    final: str | None = None
    """The final answer when no step gives it (lists: the answers, comma-joined)."""

    @property
    def answer(self) -> str:
        """The final answer."""
        return self.final if self.final is not None else self.steps[-1].answer


def _title(entity: Entity) -> str:
    return f"'{entity.name}'" if DOMAINS[entity.type].quoted else entity.name


def unit_conversion(attr: Attribute) -> tuple[str, str, int] | None:
    """Returns (unit of the records, smaller unit, factor) of a numeric attribute, or None.

    Example:
        >>> unit_conversion(DOMAINS["city"].attr("elevation_m"))
        ('meters', 'centimeters', 100)
    """
    if not attr.numeric:
        return None
    unit = getattr(attr, "unit", None) or _UNIT_SUFFIXES.get(attr.name.rpartition("_")[2])
    if unit not in _UNITS:
        return None
    return (unit, *_UNITS[unit])


def _ends(attr: Attribute, end: str) -> bool:
    """Whether a chain asked to end in ``end`` may end with ``attr``.

    ``end`` is ``any``, ``numeric``, ``date``, ``comparable`` (numbers or dates), ``unit`` (a
    number with a convertible unit) or ``unit:<unit>`` (that unit).
    """
    if end == "any":
        return True
    if end in ("numeric", "date", "comparable"):
        return (attr.numeric and end != "date") or (attr.kind == "date" and end != "numeric")
    conversion = unit_conversion(attr)
    return conversion is not None and end in ("unit", f"unit:{conversion[0]}")


@cache
def _next_attrs(type_: str, prev: Attribute | None, types: tuple[str, ...]) -> tuple[Attribute, ...]:
    """Attributes a chain may take from ``type_``: within ``types``, never straight back."""
    return tuple(a for a in DOMAINS[type_].attributes
                 if (a.kind != "entity" or a.target in types)
                 and not (prev is not None and (a.name == prev.inverse or a.inverse == prev.name)))


@cache
def _can_walk(type_: str, prev: Attribute | None, hops: int, end: str, types: tuple[str, ...]) -> bool:
    """Whether a chain of ``hops`` attributes can start at ``type_`` and end as ``end`` asks."""
    options = _next_attrs(type_, prev, types)
    if hops == 1:
        return any(_ends(a, end) for a in options)
    return any(a.kind == "entity" and _can_walk(a.target or "", a, hops - 1, end, types)
               for a in options)


def _walk(world: World, hops: range, end: str, types: tuple[str, ...]) -> tuple[str, list[Attribute]]:
    """Draws a feasible chain of attributes ending as ``end`` asks, as long as one of ``hops`` allows.

    Returns:
        The chain's start type and its attributes.
    """
    lengths = [h for h in hops if any(_can_walk(t, None, h, end, types) for t in types)]
    length = world.random.choice(lengths)
    starts = [t for t in types if _can_walk(t, None, length, end, types)]
    type_, prev, chain = world.random.choice(starts), None, []
    first = type_
    for left in range(length, 0, -1):
        options = _next_attrs(type_, prev, types)
        if left == 1:
            options = tuple(a for a in options if _ends(a, end))
        else:
            options = tuple(a for a in options if a.kind == "entity"
                            and _can_walk(a.target or "", a, left - 1, end, types))
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


def _join(items: list[str], last: str = " and ") -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + last + items[-1]


def _labeled(phrases: list[str]) -> list[str]:
    return [f"({chr(ord('a') + i)}) {phrase}" for i, phrase in enumerate(phrases)]


def _scale(attrs: list[Attribute]) -> tuple[str, str, str, str]:
    """The comparison words that fit every attribute of ``attrs`` (dates: earlier and later)."""
    if all(a.kind == "date" for a in attrs):
        return _SCALES[0][1]
    for words, scale in _SCALES:
        if all(words & set(a.name.split("_")) for a in attrs):
            return scale
    return _PLAIN_SCALE


def _shown(value: Any) -> Any:
    """A number as the agent reads it from a tool's output (rounded as printed)."""
    text = format_value(value)
    return float(text) if "." in text else int(text)


def _calculation(steps: list[Step], operation: str, ends: list[int], operands: list[Any]) -> int:
    """Appends a calculator step over ``operands``; returns its index."""
    result = calculate(operation, operands)
    sign = {"add": " + ", "subtract": " - ", "multiply": " * "}[operation]
    question = f"What is {sign.join(format_value(n) for n in operands)}?"
    steps.append(Step(question, format_value(result), result, operation=operation,
                      depends_on=tuple(ends), combiner="calculator", operands=tuple(operands)))
    return len(steps) - 1


def _arithmetic(world: World, kind: str, steps: list[Step], ends: list[int],
                phrases: list[str]) -> str:
    """Appends the calculator steps of a sum or difference (converted for ``unit_conversion``)."""
    subtract = kind == "difference" or (kind == "unit_conversion" and len(ends) == 2
                                        and world.random.random() < 0.5)
    if subtract and steps[ends[0]].value < steps[ends[1]].value:
        ends, phrases = ends[::-1], phrases[::-1]
    operation = "subtract" if subtract else "add"
    total = _calculation(steps, operation, ends, [steps[i].value for i in ends])
    if kind != "unit_conversion":
        templates = _DIFF_QUESTIONS if subtract else _SUM_QUESTIONS
        return world.random.choice(templates).format(a=phrases[0], b=phrases[-1], items=_join(phrases))
    attr = steps[ends[0]].attr
    _, unit, factor = unit_conversion(attr) if attr is not None else (None, "", 1)
    _calculation(steps, "multiply", [total], [_shown(steps[total].value), factor])
    templates = _UNIT_DIFF_QUESTIONS if subtract else _UNIT_SUM_QUESTIONS
    return world.random.choice(templates).format(a=phrases[0], b=phrases[-1], items=_join(phrases),
                                                 unit=unit)


def _comparison(world: World, kind: str, steps: list[Step], ends: list[int],
                phrases: list[str]) -> str:
    """Appends the comparison step of a comparison or ordering question; returns the question."""
    values = [steps[i].value for i in ends]
    if len(set(values)) < len(values):
        raise Conflict("tied values")
    labels = tuple(chr(ord("a") + i) for i in range(len(ends)))
    low, high, lowest, highest = _scale([steps[i].attr for i in ends if steps[i].attr is not None])
    largest = world.random.random() < 0.5
    if kind == "comparison":
        operation = "max" if largest else "min"
        many = len(ends) > 2
        adj = (highest if largest else lowest) if many else (high if largest else low)
        template = world.random.choice(_COMPARE_MANY if many else _COMPARE_TWO)
        question = template.format(adj=adj, items=_join(_labeled(phrases), " or ")) + _LETTER_HINT
        step_question = f"Which label has the {highest if largest else lowest} value?"
    else:
        operation = "ascending" if largest else "descending"
        first, last = (lowest, highest) if largest else (highest, lowest)
        template = world.random.choice(_ORDER_QUESTIONS)
        question = template.format(low=first, high=last, items=", ".join(_labeled(phrases)))
        question += _LETTERS_HINT
        step_question = f"Order the labels from the {first} value to the {last}."
    items = [{"label": label, "value": value} for label, value in zip(labels, values, strict=True)]
    answer = ", ".join(rank_labels(operation, items))  # the comparison tool's own helper
    steps.append(Step(step_question, answer, answer, operation=operation, depends_on=tuple(ends),
                      combiner="comparator", operands=tuple(values), labels=labels))
    return question


def _date_difference(world: World, steps: list[Step], ends: list[int], phrases: list[str]) -> str:
    """Appends the date step of a date-difference question; returns the question."""
    days = world.random.random() < 0.5
    operation = "days_between" if days else "years_between"
    dates = sorted(steps[i].value for i in ends)
    result = date_difference(operation, *dates)
    unit = "days" if days else "years"
    steps.append(Step(f"How many {'' if days else 'full '}{unit} lie between {dates[0]} and {dates[1]}?",
                      str(result), result, operation=operation, depends_on=tuple(ends),
                      combiner="date_calculator", operands=tuple(dates)))
    template = world.random.choice(_DAYS_QUESTIONS if days else _YEARS_QUESTIONS)
    return template.format(a=phrases[0], b=phrases[1])


_KIND_ENDS = {"sum": "numeric", "difference": "numeric", "comparison": "comparable",
              "ordering": "comparable", "list": "any", "date_difference": "date",
              "unit_conversion": "unit"}
"""What the chains of a kind must end in (see :func:`_ends`)."""


def _width(world: World, kind: str, max_parallel: int) -> int:
    if kind in ("difference", "date_difference"):
        return 2
    return world.random.randint(min(3, max_parallel) if kind == "ordering" else 2, max_parallel)


def _same_end(kind: str, attr: Attribute) -> str:
    """What the other chains must end in once the first ends with ``attr``."""
    end = _KIND_ENDS[kind]
    if end == "comparable":
        return "date" if attr.kind == "date" else "numeric"
    if end == "unit":
        conversion = unit_conversion(attr)
        return f"unit:{conversion[0] if conversion else ''}"
    return end


def _parallel(world: World, shape: str, kind: str, types: tuple[str, ...], hops: range,
              max_parallel: int) -> Decomposition:
    """Draws independent chains (single lookups for parallel_single_hop), combined as ``kind`` asks."""
    hops = _ONE_HOP if shape == "parallel_single_hop" else hops
    width = _width(world, kind, max_parallel)
    steps: list[Step] = []
    ends: list[int] = []
    phrases: list[str] = []
    start, chain = _walk(world, hops, _KIND_ENDS[kind], types)
    end = _same_end(kind, chain[-1])
    same = shape == "parallel_single_hop" and world.random.random() < 0.5  # one attribute, many entities
    for _ in range(width):
        if not same:
            start, chain = _walk(world, hops, end, types)
        chain_steps, chain_phrases = _lookups(world, world.new(start), chain, len(steps))
        steps += chain_steps
        ends.append(len(steps) - 1)
        phrases.append(chain_phrases[-1])
    if kind == "list":
        question = world.random.choice(_LIST_QUESTIONS).format(items=_join(phrases)) + _LIST_HINT
        return Decomposition(shape, question, tuple(steps), kind,
                             ", ".join(steps[i].answer for i in ends))
    if kind in ("comparison", "ordering"):
        question = _comparison(world, kind, steps, ends, phrases)
    elif kind == "date_difference":
        question = _date_difference(world, steps, ends, phrases)
    else:
        question = _arithmetic(world, kind, steps, ends, phrases)
    return Decomposition(shape, question, tuple(steps), kind)


_ONE_HOP = range(1, 2)


def _single_hop(world: World, types: tuple[str, ...]) -> Decomposition:
    start, chain = _walk(world, _ONE_HOP, "any", types)
    steps, _ = _lookups(world, world.new(start), chain, 0)
    return Decomposition("single_hop", steps[0].question, tuple(steps))


def _multi_hop(world: World, types: tuple[str, ...], hops: range) -> Decomposition:
    start, chain = _walk(world, hops, "any", types)
    steps, phrases = _lookups(world, world.new(start), chain, 0)
    question = world.random.choice(chain[-1].questions).format(x=phrases[-2])
    return Decomposition("multi_hop", question, tuple(steps))


def _feasible_kinds(shape: str, kinds: tuple[str, ...], types: tuple[str, ...],
                    hops: range) -> list[str]:
    """The kinds of ``kinds`` whose chains ``types`` can make with one of ``hops``."""
    hops = _ONE_HOP if shape == "parallel_single_hop" else hops
    return [k for k in kinds
            if any(_can_walk(t, None, h, _KIND_ENDS[k], types) for h in hops for t in types)]


def decompose(world: World, shape: str, types: tuple[str, ...], hops: range,
              max_parallel: int, kinds: tuple[str, ...] = QUESTION_KINDS) -> Decomposition:
    """Draws a question of ``shape`` from ``world``.

    Args:
        world: The seeded world to draw entities from.
        shape: One of :data:`toolgym.scenario.SHAPES`.
        types: Entity types chains may visit (:func:`can_decompose` must allow the shape).
        hops: Allowed chain lengths of multi-hop shapes; lengths the domains cannot make are skipped.
        max_parallel: Most independent sub-questions or chains of parallel shapes (at least 2).
        kinds: Question kinds of parallel shapes, drawn uniformly among those ``types`` can make.

    Raises:
        Conflict: when the draw tied values that the question compares; draw again.
    """
    if shape == "single_hop":
        return _single_hop(world, types)
    if shape == "multi_hop":
        return _multi_hop(world, types, hops)
    kind = world.random.choice(_feasible_kinds(shape, kinds, types, hops))
    return _parallel(world, shape, kind, types, hops, max_parallel)


def can_decompose(shape: str, types: tuple[str, ...], min_hops: int,
                  kinds: tuple[str, ...] = QUESTION_KINDS) -> bool:
    """Whether ``types`` allow questions of ``shape`` with ``min_hops`` (used to check knobs);
    parallel shapes need one of ``kinds`` that the types can make."""
    hops = 1 if shape in ("single_hop", "parallel_single_hop") else min_hops
    if not shape.startswith("parallel"):
        return any(_can_walk(t, None, hops, "any", types) for t in types)
    return bool(_feasible_kinds(shape, kinds, types, range(hops, hops + 1)))
