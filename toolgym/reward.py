"""The verifiable reward and the episode metrics: pure functions of a scenario and a trajectory.

Per assistant turn, as in FTRL's code, with ``q`` the tool calls of the turn that newly obtain a
still-unsolved sub-answer and ``p`` the tool calls of the turn:

* a tool turn scores ``2q/(p+1)`` (variant ``f1``, the default), ``q/p`` (``precision``),
  ``q`` (``rate``) or ``q*q/p`` (``pr``); as in FTRL, tool-call blocks that fail to parse do not
  count in ``p`` (the agent still gets an error message for each), and a turn whose blocks all fail
  to parse scores -0.3;
* a turn without tool calls ends the episode: empty -0.5, correct final answer
  ``1/(1+unsolved)``, all sub-answers obtained but no correct answer 0.5, else 0.

Episode metrics with ``s`` sub-answers obtained, ``c`` calls and ``N`` sub-answers:
Solve-P ``s/c`` (1 when ``c == 0``), Solve-R ``s/N``, Solve-F1 ``2s/(c+N)``.

Matching comes in two modes. ``"ftrl"`` is FTRL's rule: lowercase, delete commas, and every
``", "``-separated piece of the sub-answer must be a substring of the output; the final answer is a
substring test of the whole reply. ``"strict"`` (the default for generated scenarios) normalizes case,
spacing and number formats, matches sub-answers on word boundaries, and requires the content of the
last ``<answer>...</answer>`` to equal the gold answer, so a reply that lists several candidates
earns nothing.

:func:`score_tool_turn`, :func:`score_final_turn` and :func:`episode_metrics` are what
:class:`toolgym.env.ToolUseEnv` calls on every step; :func:`score_trajectory` replays a finished
transcript through the same functions.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from toolgym.error import InvalidKnob, did_you_mean
from toolgym.scenario import Scenario

__all__ = [
    "ERROR_PREFIX",
    "REWARD_VARIANTS",
    "EpisodeMetrics",
    "TrajectoryScore",
    "TurnScore",
    "answer_is_correct",
    "contains_answer",
    "credit_outputs",
    "episode_metrics",
    "extract_answer",
    "normalize",
    "score_final_turn",
    "score_tool_turn",
    "score_trajectory",
    "tool_turn_reward",
]

REWARD_VARIANTS = ("f1", "precision", "rate", "pr")
"""Per-turn reward variants of FTRL's code."""

ERROR_PREFIX = "Error: "
"""Tool messages the env writes for failed calls start with this; in strict mode they obtain nothing
(an error that echoes an argument must not credit a guessed answer)."""

EMPTY_PENALTY = -0.5
MALFORMED_PENALTY = -0.3
ALL_SOLVED_REWARD = 0.5

Match = Literal["strict", "ftrl"]

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?![\w])")
_PUNCT_EDGES = " \t\n\"'`.,;:!?()[]{}"
_FTRL_LEFTOVERS = ("<tool_call>", "</tool_call>", "<tool_parsed_response>")


@dataclass(frozen=True)
class TurnScore:
    """The reward of one assistant turn and what produced it."""

    reward: float
    kind: str
    """One of ``tool``, ``malformed``, ``empty``, ``correct``, ``all_solved``, ``wrong``."""
    calls: int = 0
    newly_solved: int = 0
    answer_correct: bool | None = None


@dataclass(frozen=True)
class EpisodeMetrics:
    """Solve-P, Solve-R and Solve-F1 of an episode so far."""

    solved: int
    calls: int
    sub_answers: int
    solve_precision: float
    solve_rate: float
    solve_f1: float


@dataclass(frozen=True)
class TrajectoryScore:
    """A whole transcript scored turn by turn."""

    turns: tuple[TurnScore, ...]
    metrics: EpisodeMetrics
    answer_correct: bool


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
    """
    if match == "ftrl":
        return bool(answer) and _ftrl_clean(answer) in _ftrl_clean(reply)
    given = extract_answer(reply)
    if given is None or not answer:
        return False
    given, gold = normalize(given), normalize(answer)
    if given.startswith("the ") and not gold.startswith("the "):
        given = given[4:]
    return given == gold or _numbers_equal(given, gold)


def tool_turn_reward(solved: int, calls: int, variant: str = "f1") -> float:
    """FTRL's per-turn reward of a tool turn with ``solved`` useful calls out of ``calls``.

    Example:
        >>> tool_turn_reward(1, 1), tool_turn_reward(1, 3, "precision")
        (1.0, 0.3333333333333333)
    """
    if variant == "f1":
        return 2 * solved / (calls + 1)
    if variant == "precision":
        return solved / calls if calls else 0.0
    if variant == "rate":
        return float(solved)
    if variant == "pr":
        return solved * solved / calls if calls else 0.0
    raise InvalidKnob(
        f"Unknown reward variant {variant!r}; expected one of {REWARD_VARIANTS}."
        + did_you_mean(variant, REWARD_VARIANTS)
    )


def credit_outputs(
    unsolved: dict[str, list[str]], outputs: Iterable[tuple[str, str]], match: Match = "strict"
) -> int:
    """Removes from ``unsolved`` the sub-answers the outputs obtain; returns how many calls did.

    ``outputs`` holds ``(tool name, output)`` per call. As in FTRL, one call obtains at most one
    sub-answer of the tool it called (the first still unsolved one its output contains). In strict
    mode an error message (see :data:`ERROR_PREFIX`) obtains nothing.
    """
    useful = 0
    for name, output in outputs:
        if match == "strict" and output.startswith(ERROR_PREFIX):
            continue
        answers = unsolved.get(name, [])
        for answer in answers:
            if contains_answer(output, answer, match):
                answers.remove(answer)
                useful += 1
                break
    return useful


def score_tool_turn(
    unsolved: dict[str, list[str]],
    outputs: Sequence[tuple[str, str]],
    calls: int,
    *,
    all_malformed: bool = False,
    variant: str = "f1",
    match: Match = "strict",
) -> TurnScore:
    """Scores a turn with tool calls and updates ``unsolved`` in place.

    Args:
        unsolved: tool name -> sub-answers not yet obtained (mutated).
        outputs: ``(tool name, output)`` of the calls that ran.
        calls: the turn's tool calls that parsed (FTRL's ``p``: its parser drops blocks that do
            not parse, and so do we).
        all_malformed: True when the turn has tool-call blocks and none of them parsed.
        variant: one of :data:`REWARD_VARIANTS`.
        match: ``"strict"`` or ``"ftrl"``.
    """
    if all_malformed:
        return TurnScore(MALFORMED_PENALTY, "malformed", calls=calls)
    useful = credit_outputs(unsolved, outputs, match)
    reward = tool_turn_reward(useful, calls, variant)
    return TurnScore(reward, "tool", calls=calls, newly_solved=useful)


def score_final_turn(
    reply: str, answer: str, remaining: int, match: Match = "strict"
) -> TurnScore:
    """Scores a turn without tool calls, which ends the episode.

    Args:
        reply: the assistant's text.
        answer: the gold final answer.
        remaining: sub-answers not yet obtained.
        match: ``"strict"`` or ``"ftrl"``.
    """
    text = (reply or "").strip()
    if not text:
        return TurnScore(EMPTY_PENALTY, "empty", answer_correct=False)
    if any(tag in text for tag in _FTRL_LEFTOVERS):
        return TurnScore(MALFORMED_PENALTY, "malformed", answer_correct=False)
    if answer_is_correct(text, answer, match):
        return TurnScore(1.0 / (1 + remaining), "correct", answer_correct=True)
    if remaining == 0:
        return TurnScore(ALL_SOLVED_REWARD, "all_solved", answer_correct=False)
    return TurnScore(0.0, "wrong", answer_correct=False)


def episode_metrics(solved: int, calls: int, sub_answers: int) -> EpisodeMetrics:
    """Solve-P, Solve-R and Solve-F1 as FTRL's evaluation computes them.

    Example:
        >>> episode_metrics(solved=2, calls=4, sub_answers=2).solve_f1
        0.6666666666666666
    """
    precision = solved / calls if calls else 1.0
    rate = solved / sub_answers if sub_answers else 0.0
    f1 = 2 * solved / (calls + sub_answers) if calls + sub_answers else 0.0
    return EpisodeMetrics(solved, calls, sub_answers, precision, rate, f1)


def _turn_outputs(
    message: Mapping[str, Any], follows: Sequence[Mapping[str, Any]]
) -> tuple[list[tuple[str, str]], bool]:
    """The ``(tool name, output)`` pairs of an assistant turn, and whether it was a tool turn.

    Outputs are paired with the turn's ``tool_calls`` by ``tool_call_id`` when the messages carry
    ids (tool messages of calls that failed to parse have ids that no call has, and drop out), else
    in order. A turn followed by tool messages but without parsed calls is a tool turn whose calls
    all failed to parse.
    """
    calls = [c.get("function", c) | {"id": c.get("id")} for c in message.get("tool_calls") or ()]
    tools = []
    for follow in follows:
        if follow.get("role") != "tool":
            break
        tools.append(follow)
    names = {c["id"]: c.get("name", "") for c in calls if c.get("id")}
    if names and any(t.get("tool_call_id") in names for t in tools):
        pairs = [(names[t["tool_call_id"]], str(t.get("content", ""))) for t in tools
                 if t.get("tool_call_id") in names]
    else:
        pairs = [(c.get("name", ""), str(t.get("content", ""))) for c, t in zip(calls, tools, strict=False)]
    return pairs, bool(calls or tools)


def score_trajectory(
    scenario: Scenario,
    messages: Sequence[Mapping[str, Any]],
    variant: str = "f1",
    match: Match | None = None,
) -> TrajectoryScore:
    """Scores a finished transcript (OpenAI-style messages) turn by turn, without running tools.

    Gives the rewards and metrics :class:`toolgym.env.ToolUseEnv` gave when it played the
    transcript. Each assistant message's ``tool_calls`` (FTRL's ``p``) are paired with the ``tool``
    messages that follow it; an assistant message followed by no tool message is the final answer.
    """
    match = match or scenario.match
    unsolved = {k: list(v) for k, v in scenario.sub_answers().items()}
    total = sum(len(v) for v in unsolved.values())
    turns: list[TurnScore] = []
    calls = 0
    correct = False
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        pairs, tool_turn = _turn_outputs(message, messages[i + 1 :])
        if tool_turn:
            parsed = len(message.get("tool_calls") or ())
            calls += parsed
            turns.append(
                score_tool_turn(unsolved, pairs, parsed, all_malformed=not parsed, variant=variant, match=match)
            )
        else:
            remaining = sum(len(v) for v in unsolved.values())
            final = score_final_turn(str(message.get("content") or ""), scenario.answer, remaining, match)
            turns.append(final)
            correct = bool(final.answer_correct)
            break
    solved = total - sum(len(v) for v in unsolved.values())
    return TrajectoryScore(tuple(turns), episode_metrics(solved, calls, total), correct)
