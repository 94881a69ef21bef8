"""Matching: whether a tool output obtains a sub-answer and whether a reply gives the answer.

Two modes. ``"ftrl"`` is FTRL's rule: lowercase, delete commas, and every ``", "``-separated piece
of the sub-answer must be a substring of the output; the final answer is a substring test of the
whole reply. ``"strict"`` (the default for generated scenarios) normalizes case, spacing and number
formats, matches sub-answers on word boundaries, and requires the content of the last
``<answer>...</answer>`` to equal the gold answer, so a reply that lists several candidates earns
nothing. A gold answer that is a comma-separated list (``b, a, c``; ``Paris, 1887``) is compared
element by element, in order: spacing around the commas and punctuation around each element do
not count (``b,a,c`` and ``(b), (a), (c).`` are right), other separators do (``b a c``,
``b; a; c`` and ``b, a and c`` are wrong). A comma between a digit and three digits with no
space after it (``1,024``) groups thousands and separates nothing.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from typing import Literal

__all__ = ["Match", "answer_is_correct", "contains_answer", "extract_answer", "normalize",
           "split_list"]

Match = Literal["strict", "ftrl"]

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?![\w])")
_PUNCT_EDGES = " \t\n\"'`.,;:!?()[]{}"
_LIST_SEPARATOR = re.compile(r"(?<!\d),\s*|,(?!\d{3}(?!\d))\s*")



def _canonical_number(token: str) -> str:
    value = float(token.replace(",", ""))
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def normalize(text: str) -> str:
    """Lowercases, folds Unicode and spacing, and writes numbers canonically.

    Example:
        >>> normalize("  The Total is 1,024.0 GB ")
        'the total is 1024 gb'
    """
    text = unicodedata.normalize("NFKC", str(text)).lower()
    text = _NUMBER.sub(lambda m: _canonical_number(m.group(0)), text)
    return " ".join(text.split()).strip(_PUNCT_EDGES)


def _ftrl_clean(text: str) -> str:
    return text.lower().replace(",", "").strip()


def contains_answer(output: str, answer: str, match: Match = "strict") -> bool:
    """True when a tool output obtains ``answer``.

    Example:
        >>> contains_answer("Population: 1,024 people", "1024")
        True
        >>> contains_answer("Population: 10245", "1024")
        False
    """
    if match == "ftrl":
        cleaned = _ftrl_clean(output)
        return all(_ftrl_clean(piece) in cleaned for piece in answer.split(", "))
    needle = _normalized_answer(answer)
    if not needle:
        return False
    return _find_word(normalize(output), needle)


@functools.lru_cache(maxsize=65536)
def _normalized_answer(answer: str) -> str:
    return normalize(answer)


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _find_word(haystack: str, needle: str) -> bool:
    """True when ``needle`` occurs in ``haystack`` not glued to letters, digits or decimals."""
    start = haystack.find(needle)
    while start != -1:
        end = start + len(needle)
        before = haystack[start - 1] if start else " "
        after = haystack[end : end + 2]
        glued_after = bool(after) and (_is_word(after[0]) or (after[0] == "." and after[1:].isdigit()))
        if not (_is_word(before) or before == ".") and not glued_after:
            return True
        start = haystack.find(needle, start + 1)
    return False


def extract_answer(text: str) -> str | None:
    """Returns the content of the last ``<answer>...</answer>``, or None."""
    found = _ANSWER.findall(text or "")
    return found[-1] if found else None


def split_list(text: str) -> list[str]:
    """Splits a comma-separated answer into its elements (thousands separators stay).

    Example:
        >>> split_list("b,a, c"), split_list("1,024, 7")
        (['b', 'a', 'c'], ['1,024', '7'])
    """
    return _LIST_SEPARATOR.split(text)


def _numbers_equal(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)


def answer_is_correct(reply: str, answer: str, match: Match = "strict") -> bool:
    """True when a final reply gives the gold ``answer``.

    Example:
        >>> answer_is_correct("<answer>Jane Doe</answer>", "jane doe")
        True
        >>> answer_is_correct("<answer>Jane Doe or John Roe</answer>", "Jane Doe")
        False
        >>> answer_is_correct("<answer>b,a,c</answer>", "b, a, c")
        True
        >>> answer_is_correct("<answer>b a c</answer>", "b, a, c")
        False
    """
    if match == "ftrl":
        return bool(answer) and _ftrl_clean(answer) in _ftrl_clean(reply)
    given = extract_answer(reply)
    if given is None or not answer:
        return False
    golds = split_list(answer)
    if len(golds) == 1:
        return _same(given, answer)
    givens = split_list(given.strip(_PUNCT_EDGES))
    return len(givens) == len(golds) and all(map(_same, givens, golds))


def _same(given: str, gold: str) -> bool:
    """Whether one given answer (or list element) equals the gold one, normalized."""
    given, gold = normalize(given), normalize(gold)
    if given.startswith("the ") and not gold.startswith("the "):
        given = given[4:]
    return given == gold or _numbers_equal(given, gold)
