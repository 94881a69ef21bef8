"""Agents that play ToolGym envs, for ``toolgym eval`` and :func:`toolgym.evaluate.evaluate`.

An agent is any object with ``act(observation, env) -> str | dict``: it reads the observation
(``{"messages": [...], "tools": [...]}``) and returns the model's raw text or an OpenAI-style
assistant message. :func:`make_agent` builds one from a spec string:

* ``oracle`` (alias ``replay``): the gold solution. Generated scenarios: the gold calls in
  dependency order, then the answer (:func:`toolgym.oracle.oracle_turns`). Stateful tasks: the
  gold actions one call a turn, the required outputs said with the last, then a closing reply.
* ``random``: seeded random calls built from the tool schemas, then a guess.
* ``hf:PATH``: a local Hugging Face causal LM, greedy, through its chat template with tools,
  token-exact and batched as training plays (:class:`toolgym.hf.HFAgent`).
* ``openai:MODEL``: an OpenAI-compatible chat-completions server (``base_url``), with tools,
  through :mod:`toolgym.openai_api` (retries; thread-safe, for ``toolgym eval --concurrency``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from toolgym.error import InvalidKnob, did_you_mean
from toolgym.openai_api import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    chat_completion,
    make_client,
    resolve_base_url,
)
from toolgym.oracle import OracleAgent, format_calls, turns_taken
from toolgym.scenario import ToolCall

__all__ = [
    "AGENTS",
    "Agent",
    "OpenAIAgent",
    "RandomAgent",
    "make_agent",
    "sample_arguments",
    "sample_value",
]

AGENTS = ("oracle", "replay", "random", "hf:PATH", "openai:MODEL")
"""The agent specs :func:`make_agent` understands."""

_FORMAT_EXAMPLES = {
    "date": "2024-01-01", "date-time": "2024-01-01T12:00:00Z", "time": "12:00:00",
    "email": "user@example.com", "uri": "https://example.com", "url": "https://example.com",
    "ipv4": "127.0.0.1", "uuid": "123e4567-e89b-12d3-a456-426614174000",
}
_WORDS = ("alpha", "Paris", "2020", "blue", "Jane Doe", "42", "river", "summary")
_GUESSES = ("unknown", "Paris", "Jane Doe", "blue", "river")
_PATTERN_EXAMPLES = ("2024-01-01", "2024-01", "2024", "ABC123", "AB", "12:00", "1", "a", "A")


class Agent(Protocol):
    """What :func:`toolgym.evaluate.play_batch` plays: one assistant turn per call.

    An agent may also have ``act_batch(observations, envs) -> list`` (one turn for each of several
    episodes at once; models use it to generate a batch) and ``batch_size``. A turn of ``None``
    gives the episode up.
    """

    def act(self, observation: dict[str, Any], env: Any) -> str | dict[str, Any] | None:
        """Returns the next assistant turn: raw text or an OpenAI-style message dict."""
        ...


# -- random arguments from a schema ----------------------------------------------------------


def _pick(options: Sequence[Any], rng: np.random.Generator | None) -> Any:
    return options[0] if rng is None else options[int(rng.integers(len(options)))]


def _bound(schema: Mapping[str, Any], key: str) -> float | None:
    value = schema.get(key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _number(schema: Mapping[str, Any], rng: np.random.Generator | None, integer: bool) -> float | int:
    step = 1 if integer else 1e-3
    low = _bound(schema, "minimum")
    if low is None:
        exclusive = _bound(schema, "exclusiveMinimum")
        low = 0 if exclusive is None else exclusive + step
    high = _bound(schema, "maximum")
    if high is None:
        exclusive = _bound(schema, "exclusiveMaximum")
        high = low + 100 if exclusive is None else exclusive - step
    if integer:
        low, high = int(np.ceil(low)), int(np.floor(high))
        if rng is None or high < low:
            return 1 if low <= 1 <= high else low
        return int(rng.integers(low, high + 1))
    if rng is None or high < low:
        return float(1 if low <= 1 <= high else low)
    return round(float(rng.uniform(low, high)), 2)


def _string(schema: Mapping[str, Any], rng: np.random.Generator | None) -> str:
    text = _FORMAT_EXAMPLES.get(schema.get("format", ""), _pick(_WORDS, rng))
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        for candidate in (text, *_PATTERN_EXAMPLES):
            try:
                if re.search(pattern, candidate):
                    return candidate
            except re.error:
                break
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    text = text + "x" * max(0, low - len(text)) if isinstance(low, int) else text
    return text[:high] if isinstance(high, int) else text


def sample_value(schema: Any, rng: np.random.Generator | None = None, depth: int = 0) -> Any:
    """A value that fits a JSON schema: the first choice when ``rng`` is None, else a random one.

    Handles ``enum``, ``const``, ``anyOf``/``oneOf``, formats, bounds, nested objects and arrays,
    and common ``pattern``s (dates, years, codes); other patterns are not honoured.

    Example:
        >>> sample_value({"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 2})
        ['a', 'a']
    """
    if not isinstance(schema, Mapping):
        return "x"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return _pick(schema["enum"], rng)
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return sample_value(_pick(schema[key], rng), rng, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or ["null"]
        kind = _pick(kinds, rng)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        return sample_arguments(schema, rng, depth + 1) if depth < 6 else {}
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1 if depth < 6 else 0)
        return [sample_value(schema.get("items", {}), rng, depth + 1) for _ in range(count)]
    if kind == "integer":
        return _number(schema, rng, integer=True)
    if kind == "number":
        return _number(schema, rng, integer=False)
    if kind == "boolean":
        return False if rng is None else bool(rng.integers(2))
    if kind == "null":
        return None
    return _string(schema, rng)


def sample_arguments(
    parameters: Any, rng: np.random.Generator | None = None, depth: int = 0
) -> dict[str, Any]:
    """Arguments for a tool: every required parameter, and (with ``rng``) some optional ones.

    Example:
        >>> sample_arguments({"type": "object", "properties": {"city": {"type": "string"},
        ...     "unit": {"enum": ["C", "F"]}}, "required": ["city", "unit"]})
        {'city': 'alpha', 'unit': 'C'}
    """
    if not isinstance(parameters, Mapping):
        return {}
    properties = parameters.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = parameters.get("required")
    required = set(required) if isinstance(required, list) else set()
    arguments = {}
    for name, schema in properties.items():
        if name in required or (rng is not None and rng.random() < 0.3):
            arguments[name] = sample_value(schema, rng, depth)
    return arguments


class RandomAgent:
    """Calls random tools with random schema-fitting arguments, then guesses.

    Each episode draws from a generator seeded by ``seed`` and the scenario id, so a scenario gets
    the same play whatever the order of the suite.

    Args:
        seed: The base seed.
        answer_probability: Chance of answering instead of calling tools, per turn.
    """

    def __init__(self, seed: int = 0, answer_probability: float = 0.3) -> None:
        self.seed = seed
        self.answer_probability = answer_probability
        self._rngs: dict[int, np.random.Generator] = {}  # per env: episodes in flight at once stay apart

    def act(self, observation: dict[str, Any], env: Any) -> str:
        scenario, key = env.unwrapped.scenario, id(env.unwrapped)
        if turns_taken(observation, scenario) == 0 or key not in self._rngs:
            digest = hashlib.sha256(f"{self.seed}:{scenario.id}".encode()).digest()
            self._rngs[key] = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        rng = self._rngs[key]
        tools = observation["tools"]
        if not tools or rng.random() < self.answer_probability:
            return f"<answer>{_pick(_GUESSES, rng)}</answer>"
        calls = []
        for _ in range(int(rng.integers(1, 3))):
            fn = _pick(tools, rng).get("function", {})
            calls.append(ToolCall(name=fn.get("name", ""), arguments=sample_arguments(fn.get("parameters"), rng)))
        return format_calls(calls)


# -- models ------------------------------------------------------------------------------------


def to_openai_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The env's chat in the chat-completions wire format.

    Tool-call arguments become JSON strings; a tool message that answers no listed call (a
    malformed call's error) becomes a user message, which the API accepts.
    """
    out: list[dict[str, Any]] = []
    open_ids: set[str] = set()
    for message in messages:
        message = dict(message)
        if message.get("role") == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                fn = dict(call["function"])
                if not isinstance(fn.get("arguments"), str):
                    fn["arguments"] = json.dumps(fn.get("arguments") or {}, ensure_ascii=False)
                calls.append({"id": call["id"], "type": "function", "function": fn})
            message["tool_calls"] = calls
            open_ids = {call["id"] for call in calls}
        elif message.get("role") == "tool":
            if message.get("tool_call_id") not in open_ids:
                message = {"role": "user", "content": f"[tool error] {message.get('content', '')}"}
            else:
                message = {"role": "tool", "tool_call_id": message["tool_call_id"], "content": message.get("content", "")}
        out.append(message)
    return out


class OpenAIAgent:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint, called with tools.

    Requests go through :mod:`toolgym.openai_api` (the ``openai`` client: retries with backoff on
    429, 5xx and timeouts; a request that keeps failing raises
    :class:`~toolgym.error.BackendError`, which the episode loop records as that episode's
    infrastructure error). Thread-safe: one agent serves every episode in flight.

    Args:
        model: The model name sent to the server.
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1`` (default: ``$OPENAI_BASE_URL``,
            else OpenAI's).
        api_key: Bearer token (default: ``$OPENAI_API_KEY``; none for local servers).
        temperature: Sampling temperature (0: greedy).
        max_tokens: Generation budget per turn.
        timeout: Seconds per request.
        top_p: Nucleus sampling mass.
        enable_thinking: Sent as ``chat_template_kwargs`` (vLLM's way to switch Qwen3's reasoning).
        max_retries: Retries of a failed request before the episode fails.

    Raises:
        InvalidKnob: the ``openai`` package is missing (``pip install 'toolgym[openai]'``).
    """

    def __init__(
        self, model: str, base_url: str | None = None, api_key: str | None = None,
        temperature: float = 0.0, max_tokens: int = 1024, timeout: float = DEFAULT_TIMEOUT, top_p: float = 1.0,
        enable_thinking: bool | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self.enable_thinking = enable_thinking
        self.model = model
        self.base_url = resolve_base_url(base_url)
        self.temperature, self.max_tokens, self.timeout, self.top_p = temperature, max_tokens, timeout, top_p
        self._client = make_client(self.base_url, api_key, timeout=timeout, max_retries=max_retries)

    def act(self, observation: dict[str, Any], env: Any) -> dict[str, Any] | None:
        """The model's next turn; None (the episode is given up) when the chat outgrew its context."""
        body: dict[str, Any] = {
            "model": self.model, "messages": to_openai_messages(observation["messages"]),
            "temperature": self.temperature, "max_tokens": self.max_tokens, "top_p": self.top_p,
        }
        if observation["tools"]:
            body["tools"] = observation["tools"]
        if self.enable_thinking is not None:  # vLLM and SGLang pass these to the chat template
            body["chat_template_kwargs"] = {"enable_thinking": self.enable_thinking}
        message = chat_completion(self._client, **body)
        if message is None:
            return None
        turn = {"role": "assistant", "content": message.get("content") or "",
                "tool_calls": message.get("tool_calls") or []}
        if isinstance(message.get("reasoning_content"), str):
            turn["reasoning_content"] = message["reasoning_content"]
        return turn

    def __deepcopy__(self, memo: dict[int, Any]) -> OpenAIAgent:
        return self  # stateless and thread-safe: copies share the client


def make_agent(
    spec: str, *, seed: int = 0, base_url: str | None = None, api_key: str | None = None,
    max_new_tokens: int = 512, batch_size: int = 16, max_length: int = 8192,
    temperature: float = 0.0, top_p: float = 1.0, enable_thinking: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT, max_retries: int = DEFAULT_MAX_RETRIES,
) -> Agent:
    """Builds an agent from a spec: ``oracle``, ``replay``, ``random``, ``hf:PATH``, ``openai:MODEL``.

    ``max_new_tokens``, ``temperature`` (0: greedy), ``top_p`` and ``enable_thinking`` (the chat
    template's reasoning switch; for ``openai:``, vLLM's ``chat_template_kwargs``) go to ``hf:``
    and ``openai:`` agents; ``batch_size`` and ``max_length`` (tokens per episode) apply to ``hf:``, whose
    sampling ``seed`` seeds; ``timeout`` (seconds per request) and ``max_retries`` to ``openai:``.

    Raises:
        InvalidKnob: an unknown spec.

    Example:
        >>> type(make_agent("random", seed=1)).__name__
        'RandomAgent'
    """
    kind, _, rest = spec.partition(":")
    if kind in ("oracle", "replay") and not rest:
        return OracleAgent()
    if kind == "random" and not rest:
        return RandomAgent(seed)
    if kind == "hf" and rest:
        from toolgym.hf import HFAgent

        return HFAgent.from_path(rest, max_new_tokens=max_new_tokens, batch_size=batch_size, max_length=max_length,
                                 temperature=temperature, top_p=top_p, seed=seed, enable_thinking=enable_thinking)
    if kind == "openai" and rest:
        return OpenAIAgent(rest, base_url=base_url, api_key=api_key, max_tokens=max_new_tokens,
                           temperature=temperature, top_p=top_p, enable_thinking=enable_thinking,
                           timeout=timeout, max_retries=max_retries)
    raise InvalidKnob(f"Unknown agent {spec!r}; expected one of {', '.join(AGENTS)}." + did_you_mean(kind, AGENTS))
