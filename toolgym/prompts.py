"""The words every generated environment opens with: the system prompt and the user message."""

from __future__ import annotations

__all__ = ["SYSTEM_PROMPT", "opening_messages"]

SYSTEM_PROMPT = (
    "You answer questions by calling the tools you are given. Every fact must come from a tool: "
    "do not answer from memory. Call tools inside <tool_call></tool_call> tags, one JSON object "
    '{"name": ..., "arguments": {...}} per tag; independent calls may go in the same turn. '
    "If a call fails, read the error, fix the call and go on. When you know the answer, reply "
    "without any tool call and put only the final answer inside <answer></answer>."
)
"""System prompt of generated scenarios."""


def opening_messages(question: str) -> tuple[dict[str, str], ...]:
    """Returns the system and user messages that open an episode on ``question``."""
    return (
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": question},
    )
