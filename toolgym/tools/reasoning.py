"""Reasoning blocks: ``<think>...</think>`` text is the model's reasoning, never its action.

Qwen3-style models write their reasoning before acting. Text inside a think block is never parsed
for tool calls or answers; the env keeps it in the assistant message as ``reasoning_content``, the
field chat templates that know reasoning render or drop as they do.
"""

from __future__ import annotations

import re

__all__ = ["split_reasoning"]

_THINK = re.compile(r"<think>(.*?)(?:</think>|\Z)", re.DOTALL)
_OPEN, _CLOSE = "<think>", "</think>"


def split_reasoning(text: str) -> tuple[str, str]:
    """Splits a reply into its reasoning and the rest.

    Every ``<think>...</think>`` block is reasoning (an unclosed one runs to the end of the text).
    A lone ``</think>`` with no opening tag closes reasoning that began with the reply, as when a
    chat template opens the think block in the generation prompt.

    Returns:
        ``(reasoning, rest)``: the blocks' text joined by blank lines, and the text outside them.

    Example:
        >>> split_reasoning("<think>Call f.</think>\\n<tool_call>{}</tool_call>")
        ('Call f.', '\\n<tool_call>{}</tool_call>')
        >>> split_reasoning("no reasoning here")
        ('', 'no reasoning here')
    """
    if _OPEN not in text and _CLOSE in text:
        head, _, rest = text.partition(_CLOSE)
        text = f"{_OPEN}{head}{_CLOSE}{rest}"
    if _OPEN not in text:
        return "", text
    blocks = [block.strip() for block in _THINK.findall(text)]
    return "\n\n".join(b for b in blocks if b), _THINK.sub("", text)
