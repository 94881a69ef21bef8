"""The reference agent: issues the gold calls in dependency order, then answers."""

from __future__ import annotations

import json
from typing import Any

from toolgym.scenario import Scenario, ToolCall

__all__ = ["OracleAgent", "format_calls", "oracle_turns"]


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
    """The oracle's assistant turns: one per dependency level, then the final answer.

    Raises:
        ValueError: when a sub-task has no gold call (imported rows may lack them).
    """
    turns = []
    for level in _levels(scenario):
        calls = []
        for i in level:
            call = scenario.subtasks[i].call
            if call is None:
                raise ValueError(f"Scenario {scenario.id!r}: sub-task {i} has no gold call.")
            calls.append(call)
        turns.append(format_calls(calls))
    turns.append(f"<answer>{scenario.answer}</answer>")
    return turns


class OracleAgent:
    """Plays the gold solution of the env's current scenario.

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

    def __init__(self, env: Any):
        self.env = env

    def act(self, observation: dict[str, Any]) -> str:
        """Returns the next gold turn, judged by how many assistant turns the chat holds."""
        scenario = self.env.unwrapped.scenario
        done = sum(1 for m in observation["messages"] if m.get("role") == "assistant")
        turns = oracle_turns(scenario)
        return turns[min(done, len(turns) - 1)]
