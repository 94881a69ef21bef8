"""The reference agent: issues the gold calls in dependency order, then answers."""

from __future__ import annotations

import json
from typing import Any

from toolgym.error import InvalidScenario
from toolgym.scenario import AnswerGrading, ReplyGrading, Scenario, ToolCall

__all__ = ["OracleAgent", "format_calls", "oracle_turns", "turns_taken"]


def format_calls(calls: list[ToolCall], content: str = "") -> str:
    """Writes calls in the Hermes format, one ``<tool_call>`` block per call."""
    blocks = [
        "<tool_call>\n"
        + json.dumps({"name": c.name, "arguments": c.arguments}, ensure_ascii=False)
        + "\n</tool_call>"
        for c in calls
    ]
    return "\n".join(([content] if content else []) + blocks)


def _levels(scenario: Scenario) -> list[list[int]]:
    """Groups sub-tasks by dependency depth: a level's calls need only earlier levels."""
    depth: dict[int, int] = {}
    for i, sub in enumerate(scenario.subtasks):
        depth[i] = 1 + max((depth[d] for d in sub.depends_on), default=-1)
    levels: list[list[int]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for i, level in depth.items():
        levels[level].append(i)
    return levels


def oracle_turns(scenario: Scenario) -> list[str]:
    """The gold assistant turns of a scenario.

    Generated scenarios: one turn per dependency level (independent calls together), then the
    answer. Stateful tasks: the questions of ``meta["questions"]`` first (generated worlds ask
    for the facts the user holds), then the gold actions one per turn (FTRL plays one call a turn), the required
    outputs said with the last of them (FTRL's rule reads outputs only in messages with tool calls),
    then a closing reply, which the simulated user answers. RoTBench items: the first gold reply. ToolHop rows: their gold calls one per turn (``meta["gold_calls"]``,
    skipped when the scenario offers no tools), then the answer.

    Raises:
        InvalidScenario: the scenario has no gold solution (FTRL question rows carry sub-answers
            but no gold calls).
    """
    if isinstance(scenario.grading, ReplyGrading):
        return [scenario.grading.golds[0]]
    if isinstance(scenario.grading, AnswerGrading):
        return _toolhop_turns(scenario)
    if scenario.task is not None:
        return _stateful_turns(scenario)
    return [format_calls(calls) for calls in _gold_levels(scenario)] + [_answer(scenario)]


def _stateful_turns(scenario: Scenario) -> list[str]:
    """The gold actions one a turn, the outputs said with the last one and in the closing reply.

    A task with outputs but no gold action cannot pass under FTRL's rule (no message with a tool
    call to say them in); strict matching reads them in the closing reply.
    """
    assert scenario.task is not None
    outputs = "; ".join(scenario.task.outputs)
    calls = list(scenario.task.actions)
    turns = [format_calls([call], content=outputs if i == len(calls) - 1 else "") for i, call in enumerate(calls)]
    questions = [str(q) for q in scenario.meta.get("questions") or ()]  # generated worlds: ask the user first
    return questions + turns + [f"Done. {outputs}" if outputs else "Done."]


def _toolhop_turns(scenario: Scenario) -> list[str]:
    gold = scenario.meta.get("gold_calls")
    if scenario.tools and not isinstance(gold, list):
        raise InvalidScenario(
            f"Scenario {scenario.id!r} has no gold calls (meta['gold_calls']); the oracle cannot "
            "play it. Evaluate it with another agent (random, hf:PATH, openai:MODEL)."
        )
    calls = [ToolCall.model_validate(call) for call in gold or ()] if scenario.tools else []
    return [format_calls([call]) for call in calls] + [_answer(scenario)]


def _gold_levels(scenario: Scenario) -> list[list[ToolCall]]:
    """The gold calls grouped by dependency level; raises when a sub-task has none."""
    levels = []
    for level in _levels(scenario):
        calls = [scenario.subtasks[i].call for i in level]
        if any(call is None for call in calls):
            raise InvalidScenario(
                f"Scenario {scenario.id!r} has sub-tasks without gold calls, as FTRL question rows "
                "do; the oracle cannot play it. Evaluate it with another agent (random, hf:PATH, "
                "openai:MODEL)."
            )
        levels.append(calls)
    return levels


def _answer(scenario: Scenario) -> str:
    return f"<answer>{scenario.answer}</answer>"


def turns_taken(observation: dict[str, Any], scenario: Scenario) -> int:
    """Assistant turns played so far in this episode (the opening messages excluded)."""
    played = observation["messages"][len(scenario.messages) :]
    return sum(1 for m in played if m.get("role") == "assistant")


class OracleAgent:
    """Plays the gold solution of the env's current scenario.

    Give the env when constructing it or on every call (the :class:`toolgym.agents.Agent` protocol).

    Example:
        >>> import gymnasium as gym, toolgym
        >>> env = gym.make("ToolGym/SingleHop-v0")
        >>> obs, info = env.reset(seed=0)
        >>> agent = OracleAgent(env)
        >>> done = False
        >>> while not done:
        ...     obs, reward, done, truncated, info = env.step(agent.act(obs))
        >>> info["solve_f1"], info["answer_correct"]
        (1.0, True)
    """

    def __init__(self, env: Any = None):
        self.env = env
        self._cache: tuple[str, list[str]] | None = None

    def act(self, observation: dict[str, Any], env: Any = None) -> str:
        """Returns the next gold turn.

        For generated scenarios, that is the first dependency level with gold calls not yet made
        successfully in the chat (so the oracle can take over an episode someone else began, and
        retries a call that failed), then the answer.
        Stateful tasks, RoTBench items and ToolHop rows replay their gold turns one a turn, by
        how many turns were played.
        """
        env = env if env is not None else self.env
        if env is None:
            raise TypeError("OracleAgent needs the env: OracleAgent(env).act(obs) or act(obs, env).")
        scenario = env.unwrapped.scenario
        if scenario.task is None and scenario.grading is None:
            return _next_gold_turn(scenario, observation)
        cache = self._cache  # read once: episodes in other threads may replace it
        if cache is None or cache[0] != scenario.id:
            cache = self._cache = (scenario.id, oracle_turns(scenario))
        turns = cache[1]
        return turns[min(turns_taken(observation, scenario), len(turns) - 1)]


def _call_key(name: str, arguments: Any) -> str:
    return json.dumps([name, arguments], sort_keys=True, ensure_ascii=False)


def _next_gold_turn(scenario: Scenario, observation: dict[str, Any]) -> str:
    played = observation["messages"][len(scenario.messages) :]
    failed = {m.get("tool_call_id") for m in played if m.get("role") == "tool" and m.get("ok") is False}
    made = {  # calls that failed (e.g. a transient fault) are made again
        _call_key(call["function"]["name"], call["function"].get("arguments"))
        for message in played
        for call in message.get("tool_calls") or ()
        if call.get("id") not in failed
    }
    for calls in _gold_levels(scenario):
        todo = [call for call in calls if _call_key(call.name, call.arguments) not in made]
        if todo:
            return format_calls(todo)
    return _answer(scenario)
