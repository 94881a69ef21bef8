"""A stand-in for ToolGym's env that follows its contract, for tests that must not depend on it."""

from __future__ import annotations

import json
import re
from typing import Any

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "film_lookup",
            "description": "Returns one attribute of a film.",
            "parameters": {
                "type": "object",
                "properties": {"title": {"type": "string"}, "field": {"type": "string"}},
                "required": ["title"],
            },
        },
    }
]
FACTS = {"blue moon": "Ann Lee", "red sun": "Bo Chen"}


class FakeScenario:
    """Holds the question and its answer."""

    def __init__(self, title: str) -> None:
        self.title, self.answer = title, FACTS[title]


class FakeEnv:
    """One-tool env: look up a film's director, then answer."""

    def __init__(self) -> None:
        self.unwrapped = self

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.scenario = FakeScenario(sorted(FACTS)[(seed or 0) % len(FACTS)])
        self.messages = [
            {"role": "system", "content": "Answer with tools."},
            {"role": "user", "content": f"Who directed {self.scenario.title}?"},
        ]
        self.solved = False
        return self._obs(), {}

    def _obs(self) -> dict[str, Any]:
        return {"messages": list(self.messages), "tools": TOOLS}

    def step(self, text: str) -> tuple[dict, float, bool, bool, dict]:
        calls = [json.loads(c) for c in re.findall(r"<tool_call>(.*?)</tool_call>", text, re.S)]
        if not calls:
            self.messages.append({"role": "assistant", "content": text})
            correct = self.scenario.answer in text
            return self._obs(), float(correct), True, False, {"answer_correct": correct}
        self.messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"type": "function", "function": c} for c in calls],
            }
        )
        for call in calls:
            title = str(call["arguments"].get("title", "")).lower()
            self.messages.append(
                {"role": "tool", "name": call["name"], "content": FACTS.get(title, "unknown")}
            )
        self.solved = True
        return self._obs(), 1.0, False, False, {"answer_correct": False}


def canonical_call(name: str, arguments: dict) -> str:
    """The assistant text the Qwen template renders for one call."""
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"
