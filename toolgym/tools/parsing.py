"""Tool-call parsing: the model's raw text (or an assistant message dict) -> a :class:`ParsedTurn`.

The default format is Qwen's and Hermes': ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``,
several per turn. ``"react"`` reads ReAct replies (``Action: NAME`` / ``Action Input: {json}``, as
RoTBench asks for). Other formats plug in as any callable ``str -> ParsedTurn`` (see :func:`get_parser`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from toolgym.error import InvalidKnob, did_you_mean

__all__ = [
    "PARSERS",
    "ParsedCall",
    "ParsedTurn",
    "Parser",
    "get_parser",
    "parse_hermes",
    "parse_message",
    "parse_react",
    "parser_from_tokenizer",
]

_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_STRAY_TAGS = ("<tool_call>", "</tool_call>")
_REACT_ACTION = re.compile(r"Action:[ \t]*(?P<name>[^\n]*?)[ \t]*(?=\n|Action Input:|\Z)")
_REACT_INPUT = re.compile(r"\s*Action Input:\s*")
_JSON = json.JSONDecoder()


@dataclass(frozen=True)
class ParsedCall:
    """One tool-call block: its name and arguments, or the reason it could not be read."""

    name: str | None
    arguments: dict[str, Any] | None
    error: str | None = None
    raw: str = ""

    @property
    def ok(self) -> bool:
        """True when the block parsed into a name and an arguments object."""
        return self.error is None


@dataclass(frozen=True)
class ParsedTurn:
    """An assistant turn: free text and the tool-call blocks it holds."""

    content: str
    calls: tuple[ParsedCall, ...] = field(default_factory=tuple)

    @property
    def has_calls(self) -> bool:
        """True when the turn holds at least one tool-call block, well-formed or not."""
        return bool(self.calls)

    @property
    def all_malformed(self) -> bool:
        """True when the turn holds tool-call blocks and none of them parsed."""
        return bool(self.calls) and not any(call.ok for call in self.calls)


Parser = Callable[[str], ParsedTurn]


def _read_call(payload: Any, raw: str) -> ParsedCall:
    """Checks a decoded call object and returns it as a ParsedCall (possibly with an error)."""
    if not isinstance(payload, dict):
        return ParsedCall(None, None, f"expected a JSON object, got {type(payload).__name__}", raw)
    if "function" in payload and isinstance(payload["function"], dict):
        payload = payload["function"]
    name = payload.get("name")
    if not isinstance(name, str) or not name:
        return ParsedCall(None, None, 'the object has no "name" string', raw)
    arguments = payload.get("arguments", payload.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            return ParsedCall(name, None, f'"arguments" is a string that is not JSON ({exc})', raw)
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        kind = type(arguments).__name__
        return ParsedCall(name, None, f'"arguments" must be a JSON object, got {kind}', raw)
    return ParsedCall(name, arguments, None, raw)


def _parse_block(raw: str) -> ParsedCall:
    text = raw.strip()
    if not text:
        return ParsedCall(None, None, "the <tool_call> block is empty", raw)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        return ParsedCall(None, None, f"the block is not valid JSON ({exc})", raw)
    return _read_call(payload, raw)


def parse_hermes(text: str) -> ParsedTurn:
    """Parses ``<tool_call>{json}</tool_call>`` blocks (Qwen/Hermes format).

    An unclosed final block (a truncated generation) counts as a malformed call.

    Example:
        >>> turn = parse_hermes('<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>')
        >>> turn.calls[0].name, turn.calls[0].arguments
        ('f', {'x': 1})
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_hermes expects str, got {type(text).__name__}")
    calls = tuple(_parse_block(m.group(1)) for m in _BLOCK.finditer(text))
    content = _BLOCK.sub("", text)
    if not calls and any(tag in content for tag in _STRAY_TAGS):
        calls = (ParsedCall(None, None, "a </tool_call> tag without its <tool_call>", content),)
    return ParsedTurn(content=content.strip(), calls=calls)


def parse_react(text: str) -> ParsedTurn:
    """Parses ReAct replies: ``Action: NAME`` followed by ``Action Input: {json}``.

    Each ``Action:`` is one call; its input is the one JSON object after the ``Action Input:``
    that follows it (text after that object, such as a made-up ``Observation:``, is ignored). An
    ``Action:`` without an input, or whose input is not a JSON object, is a malformed call with
    the reason; so is an ``Action Input:`` without an ``Action:``. The content is the text before
    the first ``Action:`` (the ``Thought``). ``Action: finish`` is a call like any other: the
    tool set decides what it means (RoTBench lists a ``finish`` tool).

    This reads more leniently than RoTBench's grading, which takes the first ``Action: ``
    and wants nothing but JSON after the first ``Action Input: `` (see
    :func:`toolgym.rotbench.rotbench_metrics`).

    Example:
        >>> turn = parse_react('Thought: look it up.\\nAction: search\\nAction Input: {"q": "x"}')
        >>> turn.content, turn.calls[0].name, turn.calls[0].arguments
        ('Thought: look it up.', 'search', {'q': 'x'})
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_react expects str, got {type(text).__name__}")
    calls, pos = [], 0
    while (action := _REACT_ACTION.search(text, pos)) is not None:
        call, pos = _react_call(text, action)
        calls.append(call)
    first = _REACT_ACTION.search(text)
    content = text[: first.start()] if first else text
    if not calls and "Action Input:" in text:
        calls.append(ParsedCall(None, None, "an 'Action Input:' without its 'Action:' line", text))
    return ParsedTurn(content=content.strip(), calls=tuple(calls))


def _react_call(text: str, action: re.Match[str]) -> tuple[ParsedCall, int]:
    """The call that starts at ``action`` and where the text after it begins."""
    name = action.group("name") or None
    given = _REACT_INPUT.match(text, action.end())
    if given is None:
        raw = text[action.start():action.end()]
        error = f"the line {raw.strip()!r} has no 'Action Input:' after it"
        return ParsedCall(name, None, error, raw), action.end()
    try:
        arguments, end = _JSON.raw_decode(text, given.end())
    except json.JSONDecodeError as exc:
        error = f"the Action Input is not valid JSON ({exc.msg})"
        return ParsedCall(name, None, error, text[action.start():]), given.end()
    raw = text[action.start():end]
    if name is None:
        return ParsedCall(None, None, "the 'Action:' line names no tool", raw), end
    if not isinstance(arguments, dict):
        kind = type(arguments).__name__
        return ParsedCall(name, None, f"the Action Input must be a JSON object, got {kind}", raw), end
    return ParsedCall(name, arguments, None, raw), end


def parse_message(message: Mapping[str, Any]) -> ParsedTurn:
    """Reads an OpenAI-style assistant message ``{"content": ..., "tool_calls": [...]}``."""
    content = message.get("content") or ""
    if not isinstance(content, str):
        content = json.dumps(content, ensure_ascii=False)
    calls = []
    for raw in message.get("tool_calls") or ():
        calls.append(_read_call(raw, json.dumps(raw, ensure_ascii=False, default=str)))
    if not calls:
        return parse_hermes(content)
    return ParsedTurn(content=content.strip(), calls=tuple(calls))


def parser_from_tokenizer(tokenizer: Any) -> Parser:
    """A parser for any model format, from a transformers tokenizer's ``parse_response``.

    The tokenizer's ``response_template`` describes its model's tool-call format; pass the result as
    ``gym.make(..., tool_format=parser_from_tokenizer(tokenizer))``. Text that the template cannot
    parse falls back to :func:`parse_hermes`, so malformed calls are still reported as such.
    """
    if not getattr(tokenizer, "response_template", None):
        raise InvalidKnob(
            "The tokenizer has no response_template, so parse_response cannot read its tool calls; "
            "set tokenizer.response_template (see transformers' chat parsing docs) or use "
            'tool_format="hermes".'
        )

    def parse(text: str) -> ParsedTurn:
        try:
            message = tokenizer.parse_response(text, prefix="")
        except Exception:
            return parse_hermes(text)
        if not isinstance(message, dict):
            return parse_hermes(text)
        return parse_message(message)

    return parse


PARSERS: dict[str, Parser] = {"hermes": parse_hermes, "qwen": parse_hermes, "react": parse_react}
"""Built-in text formats, by name."""


def get_parser(spec: str | Parser) -> Parser:
    """Returns the parser named ``spec`` (see :data:`PARSERS`), or ``spec`` itself if callable."""
    if callable(spec):
        return spec
    if spec not in PARSERS:
        raise InvalidKnob(
            f"Unknown tool_format {spec!r}; expected one of {sorted(PARSERS)} or a callable "
            f"str -> ParsedTurn.{did_you_mean(spec, PARSERS)}"
        )
    return PARSERS[spec]
