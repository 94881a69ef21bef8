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

    task = None
    grading = None
    shape = "single_hop"
    meta: dict = {}

    def model_dump_json(self) -> str:
        return json.dumps({"title": self.title})

    def __init__(self, title: str) -> None:
        self.title, self.answer, self.id = title, FACTS[title], f"fake-{title}"
        self.messages = (
            {"role": "system", "content": "Answer with tools."},
            {"role": "user", "content": f"Who directed {title}?"},
        )


def _info(solved: bool, calls: int, correct: bool) -> dict[str, Any]:
    """The env's info keys: one sub-answer (the director)."""
    s = int(solved)
    return {"solved": s, "calls": calls, "sub_answers": 1, "solve_precision": s / calls if calls else 1.0,
            "solve_rate": float(s), "solve_f1": 2 * s / (calls + 1), "answer_correct": correct}


class FakeEnv:
    """One-tool env: look up a film's director, then answer."""

    def __init__(self) -> None:
        self.unwrapped = self

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.scenario = FakeScenario(sorted(FACTS)[(seed or 0) % len(FACTS)])
        self.messages = [dict(m) for m in self.scenario.messages]
        self.solved, self.calls = False, 0
        return self._obs(), _info(False, 0, False)

    def _obs(self) -> dict[str, Any]:
        return {"messages": list(self.messages), "tools": TOOLS}

    def close(self) -> None:
        """Nothing to release (ToolGym envs may hold a sandbox worker)."""

    def step(self, text: str) -> tuple[dict, float, bool, bool, dict]:
        calls = [json.loads(c) for c in re.findall(r"<tool_call>(.*?)</tool_call>", text, re.S)]
        if not calls:
            self.messages.append({"role": "assistant", "content": text})
            correct = self.scenario.answer in text
            return self._obs(), float(correct), True, False, _info(self.solved, self.calls, correct)
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
        self.solved, self.calls = True, self.calls + len(calls)
        return self._obs(), 1.0, False, False, _info(True, self.calls, False)


def canonical_call(name: str, arguments: dict) -> str:
    """The assistant text the Qwen template renders for one call."""
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"
