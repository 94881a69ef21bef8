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

Matching (strict, or FTRL's ``"ftrl"``) lives in :mod:`toolgym.matching`.

One :class:`EpisodeScorer` per episode holds the scoring state (what is still unsolved, the calls,
the turns scored); :func:`make_scorer` picks the scorer a scenario needs: stateful tasks pass by the
hash of the final data (:class:`StatefulScorer`), RoTBench replies are graded by tool selection,
parameter identification and content filling (:class:`ReplyScorer`), ToolHop answers by FTRL's
rule (:class:`ToolhopScorer`). :class:`toolgym.env.ToolUseEnv` drives a scorer as it steps and
:func:`score_trajectory` drives one over a finished transcript.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from toolgym.error import InvalidKnob, did_you_mean
from toolgym.matching import Match, answer_is_correct, contains_answer, extract_answer, normalize
from toolgym.scenario import AnswerGrading, ReplyGrading, Scenario
from toolgym.tools.result import ToolResult

__all__ = [
    "REWARD_VARIANTS",
    "EpisodeMetrics",
    "EpisodeScorer",
    "ReplyScorer",
    "StatefulScorer",
    "ToolhopScorer",
    "TrajectoryScore",
    "TurnScore",
    "answer_is_correct",
    "contains_answer",
    "credit_outputs",
    "episode_metrics",
    "make_scorer",
    "extract_answer",
    "normalize",
    "score_final_turn",
    "score_tool_turn",
    "score_trajectory",
    "tool_turn_reward",
]

REWARD_VARIANTS = ("f1", "precision", "rate", "pr")
"""Per-turn reward variants of FTRL's code."""

EMPTY_PENALTY = -0.5
MALFORMED_PENALTY = -0.3
ALL_SOLVED_REWARD = 0.5

_FTRL_LEFTOVERS = ("<tool_call>", "</tool_call>", "<tool_parsed_response>")


@dataclass(frozen=True)
class TurnScore:
    """The reward of one assistant turn and what produced it."""

    reward: float
    kind: str
    """One of ``tool``, ``malformed``, ``empty``, ``correct``, ``all_solved``, ``wrong``, and
    ``reply`` (a stateful task's reply that the conversation goes on after)."""
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
    unsolved: dict[str, list[str]], outputs: Iterable[tuple[str, ToolResult]], match: Match = "strict"
) -> int:
    """Removes from ``unsolved`` the sub-answers the outputs obtain; returns how many calls did.

    ``outputs`` holds ``(tool name, result)`` per call. As in FTRL, one call obtains at most one
    sub-answer of the tool it called (the first still unsolved one its output contains). In strict
    mode a failed call (``result.ok`` False) obtains nothing: an error that echoes an argument must
    not credit a guessed answer. FTRL's rule looks at the text alone.
    """
    useful = 0
    for name, result in outputs:
        if match == "strict" and not result.ok:
            continue
        answers = unsolved.get(name, [])
        for answer in answers:
            if contains_answer(result.text, answer, match):
                answers.remove(answer)
                useful += 1
                break
    return useful


def score_tool_turn(
    unsolved: dict[str, list[str]],
    outputs: Sequence[tuple[str, ToolResult]],
    calls: int,
    *,
    all_malformed: bool = False,
    variant: str = "f1",
    match: Match = "strict",
) -> TurnScore:
    """Scores a turn with tool calls and updates ``unsolved`` in place.

    Args:
        unsolved: tool name -> sub-answers not yet obtained (mutated).
        outputs: ``(tool name, result)`` of the calls that parsed and ran.
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


class EpisodeScorer:
    """The scoring state of one episode, driven turn by turn; the one place that state lives.

    :class:`toolgym.env.ToolUseEnv` drives a scorer as it steps, and :func:`score_trajectory`
    drives one over a finished transcript, so both give the same rewards and metrics.

    Args:
        scenario: The episode's scenario.
        variant: One of :data:`REWARD_VARIANTS`.
        match: ``"strict"`` or ``"ftrl"``; default: the scenario's own.

    Example:
        >>> from toolgym.generate import generate_suite
        >>> scenario = generate_suite(1, seed=0)[0]
        >>> scorer = EpisodeScorer(scenario)
        >>> scorer.final_turn("<answer>no idea</answer>").kind, scorer.metrics.solve_f1
        ('wrong', 0.0)
    """

    def __init__(self, scenario: Scenario, variant: str = "f1", match: Match | None = None) -> None:
        tool_turn_reward(0, 1, variant)  # raises InvalidKnob for an unknown variant
        self.scenario, self.variant = scenario, variant
        self.match: Match = match or scenario.match
        self.unsolved = {k: list(v) for k, v in scenario.sub_answers().items()}
        self.sub_answers = sum(len(v) for v in self.unsolved.values())
        self.calls = 0
        self.turns: list[TurnScore] = []

    @property
    def remaining(self) -> int:
        """Sub-answers not yet obtained."""
        return sum(len(v) for v in self.unsolved.values())

    @property
    def metrics(self) -> EpisodeMetrics:
        """Solve-P/R/F1 of the episode so far."""
        return episode_metrics(self.sub_answers - self.remaining, self.calls, self.sub_answers)

    @property
    def answer_correct(self) -> bool:
        """Whether the final turn gave the right answer (or passed, for a stateful task)."""
        return bool(self.turns and self.turns[-1].answer_correct)

    def tool_turn(self, outputs: Sequence[tuple[str, ToolResult]], calls: int) -> TurnScore:
        """Scores a turn with tool-call blocks.

        Args:
            outputs: ``(tool name, result)`` of the calls that parsed, in order.
            calls: How many of the turn's blocks parsed (0: all were malformed).
        """
        self.calls += calls
        score = score_tool_turn(
            self.unsolved, outputs, calls, all_malformed=not calls, variant=self.variant, match=self.match
        )
        self.turns.append(score)
        return score

    def final_turn(self, reply: str, **_context: Any) -> TurnScore:
        """Scores the turn without tool calls that ends the episode."""
        score = score_final_turn(reply, self.scenario.answer, self.remaining, self.match)
        self.turns.append(score)
        return score

    def info(self) -> dict[str, Any]:
        """The env's ``info`` figures: the last turn's breakdown and the running metrics."""
        last = self.turns[-1] if self.turns else None
        metrics = self.metrics
        return {
            "reward_breakdown": {
                "kind": last.kind if last else None,
                "calls": last.calls if last else 0,
                "newly_solved": last.newly_solved if last else 0,
                "variant": self.variant,
            },
            "solved": metrics.solved,
            "calls": metrics.calls,
            "sub_answers": metrics.sub_answers,
            "solve_precision": metrics.solve_precision,
            "solve_rate": metrics.solve_rate,
            "solve_f1": metrics.solve_f1,
            "answer_correct": self.answer_correct,
        }


class StatefulScorer(EpisodeScorer):
    """A scorer for stateful tasks, played as a conversation with a simulated user
    (:mod:`toolgym.users`).

    A reply after which the conversation goes on scores 0 (-0.5 when empty). The turn that ends
    the episode (the reply the user answers with ``###STOP###``, or a transfer call) passes when
    the final data hashes as the gold actions' data does and every required output was said
    (tau-bench's rule, :func:`toolgym.stateful.passes`): its reward is 1 or 0, and -0.5 for an
    empty final reply, as in every env; pass^1 (``answer_correct``) is tau-bench's rule alone.
    """

    def reply_turn(self, reply: str) -> TurnScore:
        """Scores a reply to the user that the conversation goes on after."""
        empty = not (reply or "").strip()
        score = TurnScore(EMPTY_PENALTY if empty else 0.0, "empty" if empty else "reply", answer_correct=False)
        self.turns.append(score)
        return score

    def final_turn(  # type: ignore[override]
        self,
        reply: str,
        *,
        state: Mapping[str, Any] | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        calls: int = 0,
        **_context: Any,
    ) -> TurnScore:
        """Scores the turn that ends a stateful episode from the final data and the whole chat.

        Args:
            reply: The turn's text.
            state: The data after the episode (None: no tool changed it).
            messages: The whole chat.
            calls: The turn's tool calls, when a transfer call ended the episode.
        """
        from toolgym.stateful import passes

        task = self.scenario.task
        assert task is not None, "StatefulScorer needs a stateful scenario"
        self.calls += calls
        passed = passes(task, state, messages, self.match)
        if not calls and not (reply or "").strip():
            score = TurnScore(EMPTY_PENALTY, "empty", answer_correct=passed)
        else:
            score = TurnScore(float(passed), "correct" if passed else "wrong", calls=calls, answer_correct=passed)
        self.turns.append(score)
        return score


class ReplyScorer(EpisodeScorer):
    """RoTBench: the episode's one reply graded against the gold replies (FTRL's
    ``evaluation_rotbench.py``). The reward is the content-filling score (1 when tool, parameter
    names and values all match a gold reply); ``info`` carries all three figures."""

    figures: dict[str, float] | None = None

    def final_turn(self, reply: str, **_context: Any) -> TurnScore:
        from toolgym.rotbench import rotbench_metrics

        grading = self.scenario.grading
        assert isinstance(grading, ReplyGrading), "ReplyScorer needs a ReplyGrading scenario"
        self.figures = rotbench_metrics(reply, grading.golds)
        filled = self.figures["content_filling"]
        score = TurnScore(filled, "correct" if filled else "wrong", answer_correct=None)
        self.turns.append(score)
        return score

    def info(self) -> dict[str, Any]:
        return {**super().info(), **(self.figures or dict.fromkeys(REPLY_FIGURES, 0.0))}


REPLY_FIGURES = ("tool_selection", "parameter_identification", "content_filling")
"""RoTBench's figures, the keys :class:`ReplyScorer` adds to ``info``."""


class ToolhopScorer(EpisodeScorer):
    """ToolHop: the final reply holds the gold answer, or else the tool message right before it
    does (FTRL's ``evaluation_toolhop.py``). Correct 1, empty -0.5, else 0."""

    def final_turn(
        self, reply: str, *, messages: Sequence[Mapping[str, Any]] = (), **_context: Any
    ) -> TurnScore:
        from toolgym.toolhop import toolhop_correct

        if not (reply or "").strip():
            score = TurnScore(EMPTY_PENALTY, "empty", answer_correct=False)
        elif toolhop_correct(list(messages), self.scenario.answer):
            score = TurnScore(1.0, "correct", answer_correct=True)
        else:
            score = TurnScore(0.0, "wrong", answer_correct=False)
        self.turns.append(score)
        return score


def make_scorer(scenario: Scenario, variant: str = "f1", match: Match | None = None) -> EpisodeScorer:
    """The scorer a scenario needs (see the module docstring)."""
    if scenario.task is not None:
        return StatefulScorer(scenario, variant, match)
    if isinstance(scenario.grading, ReplyGrading):
        return ReplyScorer(scenario, variant, match)
    if isinstance(scenario.grading, AnswerGrading):
        return ToolhopScorer(scenario, variant, match)
    return EpisodeScorer(scenario, variant, match)


def _turn_outputs(
    message: Mapping[str, Any], follows: Sequence[Mapping[str, Any]]
) -> tuple[list[tuple[str, ToolResult]], bool]:
    """The ``(tool name, result)`` pairs of an assistant turn, and whether it was a tool turn.

    Outputs are paired with the turn's ``tool_calls`` by ``tool_call_id`` when the messages carry
    ids (tool messages of calls that failed to parse have ids that no call has, and drop out), else
    in order. A tool message's ``ok`` key says whether the call worked (True when absent). A turn
    followed by tool messages but without parsed calls is a tool turn whose calls all failed to
    parse.
    """
    calls = [c.get("function", c) | {"id": c.get("id")} for c in message.get("tool_calls") or ()]
    tools = []
    for follow in follows:
        if follow.get("role") != "tool":
            break
        tools.append(follow)

    def result(tool: Mapping[str, Any]) -> ToolResult:
        return ToolResult(str(tool.get("content", "")), bool(tool.get("ok", True)))

    names = {c["id"]: c.get("name", "") for c in calls if c.get("id")}
    if names and any(t.get("tool_call_id") in names for t in tools):
        pairs = [(names[t["tool_call_id"]], result(t)) for t in tools if t.get("tool_call_id") in names]
    else:
        pairs = [(c.get("name", ""), result(t)) for c, t in zip(calls, tools, strict=False)]
    return pairs, bool(calls or tools)


def score_trajectory(
    scenario: Scenario,
    messages: Sequence[Mapping[str, Any]],
    variant: str = "f1",
    match: Match | None = None,
    state: Mapping[str, Any] | None = None,
) -> TrajectoryScore:
    """Scores a finished transcript (OpenAI-style messages) turn by turn, without running tools.

    Drives the same :class:`EpisodeScorer` the env drives, so it gives the rewards and metrics
    :class:`toolgym.env.ToolUseEnv` gave when it played the transcript. Each assistant message's
    ``tool_calls`` (FTRL's ``p``) are paired with the ``tool`` messages that follow it; an assistant
    message followed by no tool message is the final answer. For a stateful task, ``state`` is the
    data after the episode (None: no tool changed it), and the transcript is a conversation: a
    reply the user answered without ``###STOP###`` lets it go on, and a transfer call ends it.
    """
    from toolgym.users import STOP, TRANSFER_TOOLS

    scorer = make_scorer(scenario, variant, match)
    stateful = isinstance(scorer, StatefulScorer)
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        pairs, tool_turn = _turn_outputs(message, messages[i + 1 :])
        content, calls = str(message.get("content") or ""), message.get("tool_calls") or ()
        if stateful and any(_call_name(call) in TRANSFER_TOOLS for call in calls):
            scorer.final_turn(content, state=state, messages=messages[: i + 1], calls=len(calls))
            break
        if tool_turn:
            scorer.tool_turn(pairs, len(calls))
            continue
        answer = messages[i + 1] if i + 1 < len(messages) else None
        if stateful and answer is not None and STOP not in str(answer.get("content") or ""):
            scorer.reply_turn(content)  # type: ignore[attr-defined]
            continue
        scorer.final_turn(content, state=state, messages=messages[: i + 1])
        break
    return TrajectoryScore(tuple(scorer.turns), scorer.metrics, scorer.answer_correct)


def _call_name(call: Mapping[str, Any]) -> str:
    return str(call.get("function", call).get("name", ""))
