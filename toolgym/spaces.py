"""Observation and action spaces for chat-based tool use.

Both are plain :class:`gymnasium.Space` subclasses rather than ``spaces.Text``: the Text space's
charset rejects JSON and breaks ``AsyncVectorEnv``. Vector envs need ``shared_memory=False``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

__all__ = ["Conversation", "AssistantTurn"]

_SAMPLE_ACTIONS = (
    "",
    "I am not sure.",
    "<answer>unknown</answer>",
    "<tool_call>{not json}</tool_call>",
    '<tool_call>{"name": "no_such_tool", "arguments": {}}</tool_call>',
    '<tool_call>{"name": 7}</tool_call>',
    "<tool_call>",
)


class Conversation(gym.Space[dict]):
    """The chat so far and the tool documents: ``{"messages": [...], "tools": [...]}``."""

    def __init__(self, seed: int | None = None):
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        words = ("what", "is", "the", "capital", "of", "population", "who", "directed")
        n = int(self.np_random.integers(1, 8))
        question = " ".join(str(self.np_random.choice(words)) for _ in range(n)) + "?"
        return {"messages": [{"role": "user", "content": question}], "tools": []}

    def contains(self, x: Any) -> bool:
        if not isinstance(x, dict) or set(x) != {"messages", "tools"}:
            return False
        messages, tools = x["messages"], x["tools"]
        return (
            isinstance(messages, list)
            and isinstance(tools, list)
            and all(isinstance(m, dict) and "role" in m for m in messages)
            and all(isinstance(t, dict) for t in tools)
        )

    def __repr__(self) -> str:
        return "Conversation()"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Conversation)


class AssistantTurn(gym.Space[Any]):
    """The model's turn: raw text, or an OpenAI-style assistant message dict."""

    def __init__(self, seed: int | None = None):
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        return str(_SAMPLE_ACTIONS[int(self.np_random.integers(len(_SAMPLE_ACTIONS)))])

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) or (isinstance(x, dict) and x.get("role", "assistant") == "assistant")

    def __repr__(self) -> str:
        return "AssistantTurn()"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, AssistantTurn)
