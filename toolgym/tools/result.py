"""ToolResult: what one tool call gives back, text for the agent and whether the call worked."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ToolResult"]


class ToolResult(NamedTuple):
    """The outcome of one tool call.

    ``text`` is what the agent reads in the tool message. ``ok`` is False when the call failed
    (unknown tool, bad arguments, the tool raised, timed out or crashed): the scorer reads ``ok``,
    never the text, so a tool that succeeds with text that starts with "Error: " is still credited.

    Example:
        >>> ToolResult("Error: unknown tool 'f'.", ok=False).ok
        False
    """

    text: str
    ok: bool = True

    @classmethod
    def error(cls, text: str) -> ToolResult:
        """A failed call whose message is ``text`` (prefixed with ``Error: `` for the agent).

        Example:
            >>> ToolResult.error("unknown tool 'f'.")
            ToolResult(text="Error: unknown tool 'f'.", ok=False)
        """
        return cls(f"Error: {text}", ok=False)
