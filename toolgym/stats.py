"""Figures that describe a suite of scenarios, to compare built environments with real ones.

:func:`suite_stats` measures one suite (any list of :class:`~toolgym.scenario.Scenario`: generated,
FTRL rows, ...); :func:`format_stats` prints several side by side (``toolgym stats``). The figures:

* tools per env (overall and per shape), parameters and required parameters per tool, the share
  of each parameter type, distinct tool names;
* answer kinds of the final answers (:func:`answer_kind`);
* question length in words, distinct question templates (:func:`question_template`), distinct-2
  of the question text (:func:`distinct_2`);
* hops: sub-answers per env (overall and per shape).

A shape is named without its source prefix (FTRL's ``self/single_hop`` is ``single_hop``), so
generated suites and FTRL rows line up row by row.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from toolgym.scenario import SHAPES, Scenario

__all__ = [
    "ANSWER_KINDS",
    "PARAM_TYPES",
    "answer_kind",
    "distinct_2",
    "format_stats",
    "question_template",
    "question_words",
    "suite_stats",
]

PARAM_TYPES: tuple[str, ...] = ("string", "integer", "number", "boolean", "array", "object", "enum")
"""Parameter types counted; a parameter with an ``enum`` counts as ``enum`` whatever its type."""

ANSWER_KINDS: tuple[str, ...] = ("number", "date", "yes/no", "letter", "ordering", "list", "text")
"""Kinds of final answers, in the order :func:`answer_kind` tries them."""

_WORD = re.compile(r"[\w'-]+")
_NUMBER = re.compile(r"[-+]?[$€£]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?")
_UNIT = re.compile(r"\s?(%|°[CF]?|[×x]|[^\W\d_]{1,12}(\s[^\W\d_]{1,12})?)")
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATES = (
    re.compile(r"\d{4}-\d{1,2}-\d{1,2}"),
    re.compile(rf"({_MONTHS})\s+\d{{1,2}},?\s+\d{{4}}", re.IGNORECASE),
    re.compile(rf"\d{{1,2}}\s+({_MONTHS}),?\s+\d{{4}}", re.IGNORECASE),
)
_LETTER = re.compile(r"\(?[a-h]\)?")
_QUOTED = re.compile(r"'[^']+'(?=[\s,.?!;:)]|$)|\"[^\"]+\"|“[^”]+”")
_CAPITALIZED = re.compile(r"(?<![\w'])[A-Z][\w'.&-]*(?:\s+[A-Z][\w'.&-]*)*")
_NUMERAL = re.compile(r"(?<![\w<])[-+]?[$€£]?\d[\d,.:/-]*\w*")
_MASK_RUN = re.compile(r"<[en]>(?:[\s,]*<[en]>)+")
_SENTENCES = re.compile(r"(?<=[.?!])\s+")


def question_words(question: str) -> list[str]:
    """The question's words, lowercased, punctuation dropped (the unit of length and distinct-2).

    Example:
        >>> question_words("Who directed 'The Silent Harbor'?")
        ['who', 'directed', 'the', 'silent', 'harbor']
    """
    return [w.strip("'") for w in _WORD.findall(question.lower()) if w.strip("'")]


def distinct_2(questions: Iterable[str]) -> float:
    """Distinct bigrams over all bigrams of the questions' words (bigrams never cross questions).

    Example:
        >>> distinct_2(["a b c", "a b d"])
        0.75
    """
    seen: set[tuple[str, str]] = set()
    total = 0
    for question in questions:
        words = question_words(question)
        pairs = list(zip(words, words[1:], strict=False))
        seen.update(pairs)
        total += len(pairs)
    return len(seen) / total if total else 0.0


def question_template(question: str) -> str:
    """The question with its entities and numbers masked, so phrasings can be counted.

    The rule, in order: quoted spans (``'...'``, ``"..."``) become ``<e>``; runs of capitalized
    words become ``<e>``, except the first word of each sentence; numbers (with a unit suffix
    such as ``76kg``, dates such as ``2023-12-16``) become ``<n>``; masks next to each other
    (apart from spaces and commas) merge into one ``<e>``; then the text is lowercased and its
    spaces collapsed.

    Example:
        >>> question_template("Who succeeded Emir Nawaf Al-Sabah after his death on December 16, 2023?")
        'who succeeded <e> after his death on <e>?'
        >>> question_template("When was 'Blue Dawn' released?") == question_template("When was 'Red' released?")
        True
    """
    text = _QUOTED.sub("<e>", question.strip())
    sentences = []
    for sentence in _SENTENCES.split(text):
        first, _, rest = sentence.partition(" ")
        sentences.append(f"{first} {_CAPITALIZED.sub('<e>', rest)}" if rest else first)
    text = _NUMERAL.sub("<n>", " ".join(sentences))
    text = _MASK_RUN.sub("<e>", text)
    return " ".join(text.lower().split())


def answer_kind(answer: str) -> str:
    """The kind of a final answer: one of :data:`ANSWER_KINDS`.

    ``number``: a number, possibly with thousands commas and a short unit (``2,048``, ``104.5×``,
    ``150 acres``); ``date``: ISO (``2007-11-7``) or spelled (``December 16, 2023``); ``yes/no``;
    ``letter``: a choice such as ``a`` or ``(b)``; ``ordering``: a comma-separated list of letters
    (``b, a, c``); ``list``: other comma-separated items (``Paris, 1889``); else ``text`` (a name).

    Example:
        >>> [answer_kind(a) for a in ("2,048", "2007-11-7", "Yes", "b", "b, a, c", "Oslo, Lima", "Sochi")]
        ['number', 'date', 'yes/no', 'letter', 'ordering', 'list', 'text']
    """
    text = answer.strip().rstrip(".")
    if any(p.fullmatch(text) for p in _DATES):
        return "date"
    number = _NUMBER.match(text)
    if number and (number.end() == len(text) or _UNIT.fullmatch(text[number.end():])):
        return "number"
    if text.lower() in ("yes", "no"):
        return "yes/no"
    if _LETTER.fullmatch(text.lower()):
        return "letter"
    items = [item.strip() for item in text.split(",")]
    if len(items) > 1 and all(items):
        return "ordering" if all(_LETTER.fullmatch(i.lower()) for i in items) else "list"
    return "text"


def _shape(scenario: Scenario) -> str:
    return scenario.shape.rsplit("/", 1)[-1]


def _param_type(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return "other"
    if "enum" in schema:
        return "enum"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind if kind in PARAM_TYPES else "other"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _shares(counts: Counter[str], keys: Sequence[str]) -> dict[str, float]:
    total = sum(counts.values())
    extra = [k for k in counts if k not in keys]
    return {k: counts[k] / total if total else 0.0 for k in (*keys, *sorted(extra))}


def _tool_figures(scenarios: Sequence[Scenario]) -> dict[str, Any]:
    params, required, types, names = [], [], Counter[str](), set()
    for scenario in scenarios:
        for tool in scenario.tools:
            schema = tool.doc.parameters
            properties = schema.get("properties") or {}
            params.append(len(properties))
            required.append(len([r for r in schema.get("required") or () if r in properties]))
            types.update(_param_type(p) for p in properties.values())
            names.add(tool.name)
    return {
        "params_per_tool": _mean(params),
        "required_per_tool": _mean(required),
        "param_types": _shares(types, PARAM_TYPES),
        "distinct_tool_names": len(names),
    }


def _by_shape(scenarios: Sequence[Scenario], value: Any) -> dict[str, float | None]:
    groups: dict[str, list[float]] = {}
    for scenario in scenarios:
        groups.setdefault(_shape(scenario), []).append(value(scenario))
    order = sorted(groups, key=lambda s: (SHAPES.index(s) if s in SHAPES else len(SHAPES), s))  # the paper's order
    return {shape: _mean(groups[shape]) for shape in order}


def suite_stats(scenarios: Iterable[Scenario]) -> dict[str, Any]:
    """The figures of one suite, as a JSON-serializable dict (see the module docstring).

    Example:
        >>> from toolgym.generate import generate_suite
        >>> figures = suite_stats(generate_suite(20, seed=0))
        >>> figures["envs"], figures["answer_kinds"]["yes/no"]
        (20, 0.0)
    """
    scenarios = list(scenarios)
    questions = [s.question for s in scenarios]
    return {
        "envs": len(scenarios),
        "tools_per_env": _mean([len(s.tools) for s in scenarios]),
        "tools_per_env_by_shape": _by_shape(scenarios, lambda s: len(s.tools)),
        **_tool_figures(scenarios),
        "answer_kinds": _shares(Counter(answer_kind(s.answer) for s in scenarios), ANSWER_KINDS),
        "question_words": _mean([len(question_words(q)) for q in questions]),
        "distinct_templates": len({question_template(q) for q in questions}),
        "distinct_2": distinct_2(questions),
        "hops": _mean([len(s.subtasks) for s in scenarios]),
        "hops_by_shape": _by_shape(scenarios, lambda s: len(s.subtasks)),
    }


_LABELS = {
    "envs": "environments",
    "tools_per_env": "tools per env",
    "params_per_tool": "parameters per tool",
    "required_per_tool": "required parameters per tool",
    "distinct_tool_names": "distinct tool names",
    "question_words": "question length (words)",
    "distinct_templates": "distinct question templates",
    "distinct_2": "distinct-2 of questions",
    "hops": "hops (sub-answers per env)",
}
_GROUPS = {
    "tools_per_env_by_shape": "tools per env: {}",
    "param_types": "parameter type: {}",
    "answer_kinds": "answer kind: {}",
    "hops_by_shape": "hops: {}",
}


def _rows(columns: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, list[Any]]]:
    """(label, one value per column) in the order of the first column's keys."""
    figures = list(columns.values())
    rows: list[tuple[str, list[Any]]] = []
    for key in figures[0]:
        if key in _GROUPS:
            subkeys = list(dict.fromkeys(k for f in figures for k in f.get(key, {})))
            rows += [(_GROUPS[key].format(sub), [f.get(key, {}).get(sub) for f in figures]) for sub in subkeys]
        else:
            rows.append((_LABELS.get(key, key), [f.get(key) for f in figures]))
    return rows


def _cell(value: Any, share: bool) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.0%}" if share else f"{value:.2f}"


def format_stats(columns: Mapping[str, Mapping[str, Any]], format: str = "text") -> str:
    """Prints suites' figures side by side: one column per suite (its name -> :func:`suite_stats`).

    Args:
        columns: Column name -> figures, in column order.
        format: ``"text"`` (aligned columns), ``"markdown"`` (a table) or ``"json"``.

    Raises:
        ValueError: an unknown format, or no column.
    """
    if format not in ("text", "markdown", "json"):
        raise ValueError(f"Unknown format {format!r}; expected 'text', 'markdown' or 'json'.")
    if not columns:
        raise ValueError("format_stats needs at least one suite's figures.")
    if format == "json":
        return json.dumps(dict(columns), indent=2)
    names = list(columns)
    table = [
        [label, *(_cell(v, label.startswith(("parameter type", "answer kind"))) for v in values)]
        for label, values in _rows(columns)
    ]
    if format == "markdown":
        head = "| figure | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names) + "\n"
        return head + "\n".join("| " + " | ".join(row) + " |" for row in table)
    widths = [max(len(r[i]) for r in [["figure", *names], *table]) for i in range(len(names) + 1)]
    lines = [["figure", *names], *table]
    return "\n".join(
        "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)) for row in lines
    )
