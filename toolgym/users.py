"""Simulated users for stateful tasks: the other side of a tau-bench conversation.

A stateful task (tau-bench) is a conversation: the agent serves a user who knows a goal (the row's
``instruction``) and reveals it bit by bit, as FTRL's ``evaluation_taubench.py`` plays it. A user
simulator is anything with ``reply(instruction, dialogue) -> str``; plug one into any env with
``gym.make(..., user=...)``. :func:`make_user` builds one from a spec:

* ``scripted`` (the default; no model): states the instruction (its request, when it lists
  facts), answers questions from the facts it knows (:func:`split_facts`) and says it does not
  know the rest, and answers :data:`STOP` to the first reply that asks nothing.
* ``openai:MODEL``: a chat model behind an OpenAI-compatible server, prompted with FTRL's user
  prompt (tau-bench's, verbatim: :func:`user_system_prompt`), temperature 0, 512 new tokens, as
  FTRL ran gpt-4o-2024-08-06.
* ``hf:PATH``: a local Hugging Face causal LM through its chat template (:mod:`toolgym.hf`).
* any callable ``(instruction, dialogue) -> str``.

The dialogue is the conversation as the agent sees it, without tool calls and tool results:
``{"role": "assistant" | "user", "content": str}`` messages. It opens with the agent's
:data:`GREETING`, which FTRL's user model sees before it speaks and the agent never does; a model
user sees the dialogue with the roles swapped (its own lines are ``assistant``), after the system
prompt. The agent's replies reach the user without their ``<think>`` reasoning (FTRL forwards
the raw text). The episode ends when the user's reply contains :data:`STOP`, when the agent calls
one of :data:`TRANSFER_TOOLS`, or at the turn limit (tau-bench's 30). :class:`Dialogue` holds one
episode's side of the user for the env.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from toolgym.error import BackendError, InvalidKnob, did_you_mean
from toolgym.openai_api import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, chat_completion, make_client

__all__ = [
    "GREETING",
    "STOP",
    "TRANSFER_TOOLS",
    "USERS",
    "FACTS_HEADING",
    "CallableUser",
    "Dialogue",
    "HFUser",
    "OpenAIUser",
    "ScriptedUser",
    "UserSimulator",
    "make_user",
    "resolve_user",
    "split_facts",
    "user_messages",
    "user_system_prompt",
]

STOP = "###STOP###"
"""The user's word for "my goal is met": a reply that contains it ends the episode."""

GREETING = "Hi! How can I help you today?"
"""The agent's opening line on the user's side (FTRL's); the agent's own chat never holds it."""

TRANSFER_TOOLS = ("transform_to_user_agent", "transfer_to_human_agents")
"""Tool calls that end a stateful episode. FTRL's script checks ``transform_to_user_agent``, a
name that no tool of its tau-bench files has; its tools (and tau-bench's own ``terminate_tools``)
name the transfer ``transfer_to_human_agents``. Both end the episode; the call runs first (a tool
the domain lacks answers with an error, as in FTRL)."""

USERS = ("scripted", "openai:MODEL", "hf:PATH")
"""The user specs :func:`make_user` understands (besides any callable)."""

USER_MODEL = "gpt-4o-2024-08-06"
"""The user model of FTRL's tau-bench runs."""


def user_system_prompt(instruction: str) -> str:
    """FTRL's user prompt (upstream tau-bench's ``LLMUserSimulationEnv``), verbatim, typo included."""
    return (
        f"You are a user interacting with an agent.\n\nInstruction: {instruction}\nRules:\n"
        "- Just generate one line at a time to simulate the user's message.\n"
        "- Do not give away all the instruction at once. Only provide the information that is "
        "necessary for the current step.\n"
        "- Do not hallucinate information that is not provided in the instruction. For example, if "
        "the agent asks for the order id but it is not mentioned in the instruction, do not make up "
        "an order id, just say you do not remember or have it.\n"
        "- If the instruction goal is satisified, generate '###STOP###' as a standalone message "
        "without anything else to end the conversation.\n"
        "- Do not repeat the exact instruction in the conversation. Instead, use your own words to "
        "convey the same information.\n"
        "- Try to make the conversation as natural as possible, and stick to the personalities in "
        "the instruction."
    )


def user_messages(instruction: str, dialogue: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The chat a model user answers: the system prompt, then the dialogue with roles swapped.

    Example:
        >>> [m["role"] for m in user_messages("Buy milk.", [{"role": "assistant", "content": GREETING}])]
        ['system', 'user']
    """
    swap = {"assistant": "user", "user": "assistant"}
    return [{"role": "system", "content": user_system_prompt(instruction)}] + [
        {"role": swap[m["role"]], "content": str(m.get("content") or "")} for m in dialogue
    ]


class UserSimulator(Protocol):
    """What a stateful env talks to: the next user message, given the goal and the dialogue."""

    def reply(self, instruction: str, dialogue: Sequence[Mapping[str, Any]]) -> str:
        """Returns the user's next message (containing :data:`STOP` to end the episode)."""
        ...


FACTS_HEADING = "Facts you know:"
"""The line that opens an instruction's facts, one ``- label: value`` line each (generated worlds)."""


def split_facts(instruction: str) -> tuple[str, list[tuple[str, str]]]:
    r"""The request of an instruction and its facts (the ``- label: value`` lines after
    :data:`FACTS_HEADING`; none when it has no such heading).

    Example:
        >>> split_facts("Cancel order W1.\nFacts you know:\n- email: a@b.com")
        ('Cancel order W1.', [('email', 'a@b.com')])
    """
    request, heading, rest = instruction.partition(FACTS_HEADING)
    if not heading:
        return instruction, []
    facts = []
    for line in rest.splitlines():
        label, sep, value = line.strip().lstrip("-").partition(":")
        if sep and label.strip():
            facts.append((label.strip(), value.strip()))
    return request.strip(), facts


class ScriptedUser:
    r"""The offline user, rule-based: states its request, answers questions from its facts, and
    says :data:`STOP` to the first reply that asks nothing.

    The request is the instruction up to :data:`FACTS_HEADING` (the whole instruction when it has
    none). A reply with a question mark is a question: the user answers with every fact whose
    label's words all occur in the reply ("My email is ..."), and says it does not know when none
    does. Any other reply ends the conversation.

    Example:
        >>> user, goal = ScriptedUser(), "Cancel W1.\nFacts you know:\n- email: a@b.com"
        >>> said = [{"role": "assistant", "content": GREETING}]
        >>> user.reply(goal, said)
        'Cancel W1.'
        >>> said += [{"role": "user", "content": "Cancel W1."}, {"role": "assistant", "content": "Your email?"}]
        >>> user.reply(goal, said)
        'My email is a@b.com.'
        >>> user.reply(goal, said[:-1] + [{"role": "assistant", "content": "Your zip code?"}])
        "Sorry, I don't know that."
        >>> user.reply(goal, said[:-1] + [{"role": "assistant", "content": "Done."}])
        '###STOP###'
    """

    def reply(self, instruction: str, dialogue: Sequence[Mapping[str, Any]]) -> str:
        request, facts = split_facts(instruction)
        if not any(m.get("role") == "user" for m in dialogue):
            return request
        asked = str(dialogue[-1].get("content") or "") if dialogue[-1].get("role") == "assistant" else ""
        if "?" not in asked:
            return STOP
        words = set(re.findall(r"[a-z0-9]+", asked.lower()))
        known = [f"My {label} is {value}." for label, value in facts
                 if set(re.findall(r"[a-z0-9]+", label.lower())) <= words]
        return " ".join(known) if known else "Sorry, I don't know that."


class CallableUser:
    """Any function ``(instruction, dialogue) -> str`` as a user."""

    def __init__(self, function: Callable[[str, list[dict[str, Any]]], str]) -> None:
        self.function = function

    def reply(self, instruction: str, dialogue: Sequence[Mapping[str, Any]]) -> str:
        return self.function(instruction, [dict(m) for m in dialogue])


class OpenAIUser:
    """A chat model behind an OpenAI-compatible server plays the user, with FTRL's prompt.

    Thread-safe (one client serves every episode in flight). A request that keeps failing raises
    :class:`~toolgym.error.BackendError`, recorded as that episode's infrastructure error.

    Args:
        model: The model name (FTRL: ``gpt-4o-2024-08-06``).
        base_url: The API root (default: ``$OPENAI_BASE_URL``, else OpenAI's).
        api_key: Bearer token (default: ``$OPENAI_API_KEY``).
        temperature: FTRL's 0.
        max_tokens: FTRL's 512.
        timeout: Seconds per request.
        max_retries: Retries of a failed request (with backoff) before the episode fails.
    """

    def __init__(
        self, model: str = USER_MODEL, base_url: str | None = None, api_key: str | None = None,
        temperature: float = 0.0, max_tokens: int = 512, timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self.model, self.temperature, self.max_tokens = model, temperature, max_tokens
        self._client = make_client(base_url, api_key, timeout=timeout, max_retries=max_retries)

    def reply(self, instruction: str, dialogue: Sequence[Mapping[str, Any]]) -> str:
        message = chat_completion(self._client, model=self.model, messages=user_messages(instruction, dialogue),
                                  temperature=self.temperature, max_tokens=self.max_tokens)
        if message is None:
            raise BackendError(f"The user model {self.model!r} refused the dialogue as longer than its context.")
        return str(message.get("content") or "")

    def __deepcopy__(self, memo: dict[int, Any]) -> OpenAIUser:
        return self  # stateless and thread-safe: env copies share the client


class HFUser:
    """A local Hugging Face causal LM plays the user, through its chat template, with FTRL's prompt.

    Generation holds a lock, so envs played from several threads take turns on the model.

    Args:
        model: A causal LM (on its device).
        tokenizer: Its tokenizer, with a chat template.
        max_new_tokens: FTRL's 512.
        temperature: FTRL's 0 (greedy).
    """

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 512, temperature: float = 0.0) -> None:
        from toolgym.hf import HFGenerator

        self.tokenizer = tokenizer
        self._generate = HFGenerator(model, tokenizer, max_new_tokens, temperature)
        self._lock = threading.Lock()

    @classmethod
    def from_path(cls, path: str, **kwargs: Any) -> HFUser:
        """Loads a local model directory (see :func:`toolgym.hf.load_pretrained`)."""
        from toolgym.hf import load_pretrained

        return cls(*load_pretrained(path), **kwargs)

    def reply(self, instruction: str, dialogue: Sequence[Mapping[str, Any]]) -> str:
        from toolgym.hf import render_ids

        ids = render_ids(self.tokenizer, user_messages(instruction, dialogue), [], add_generation_prompt=True)
        with self._lock:
            out = self._generate([ids])[0]
        return self.tokenizer.decode(out, skip_special_tokens=True).strip()

    def __deepcopy__(self, memo: dict[int, Any]) -> HFUser:
        return self  # env copies share the model


def make_user(
    spec: str, *, base_url: str | None = None, api_key: str | None = None, max_new_tokens: int = 512,
    temperature: float = 0.0, timeout: float = DEFAULT_TIMEOUT, max_retries: int = DEFAULT_MAX_RETRIES,
) -> UserSimulator:
    """Builds a user simulator from a spec: ``scripted``, ``openai:MODEL`` or ``hf:PATH``.

    ``max_new_tokens`` and ``temperature`` (FTRL's 512 and 0) go to model users; ``base_url``,
    ``api_key``, ``timeout`` and ``max_retries`` to ``openai:``.

    Raises:
        InvalidKnob: an unknown spec.

    Example:
        >>> type(make_user("scripted")).__name__
        'ScriptedUser'
    """
    kind, _, rest = spec.partition(":")
    if kind == "scripted" and not rest:
        return ScriptedUser()
    if kind == "openai" and rest:
        return OpenAIUser(rest, base_url=base_url, api_key=api_key, temperature=temperature,
                          max_tokens=max_new_tokens, timeout=timeout, max_retries=max_retries)
    if kind == "hf" and rest:
        return HFUser.from_path(rest, max_new_tokens=max_new_tokens, temperature=temperature)
    raise InvalidKnob(f"Unknown user {spec!r}; expected one of {', '.join(USERS)} or a callable."
                      + did_you_mean(kind, ("scripted", "openai", "hf")))


def resolve_user(user: Any) -> UserSimulator:
    """The simulator an env's ``user=`` knob names: None (scripted), a spec, a simulator or a callable.

    Raises:
        InvalidKnob: anything else.
    """
    if user is None:
        return ScriptedUser()
    if isinstance(user, str):
        return make_user(user)
    if callable(getattr(user, "reply", None)):
        return user
    if callable(user):
        return CallableUser(user)
    raise InvalidKnob(
        f"user must be None, a spec ({', '.join(USERS)}), an object with reply(instruction, dialogue) "
        f"or a callable (instruction, dialogue) -> str; got {type(user).__name__}."
    )


class Dialogue:
    """One episode's conversation on the user's side: what the user has seen and said.

    Args:
        user: The simulator.
        instruction: The user's goal (the row's ``instruction``).
    """

    def __init__(self, user: UserSimulator, instruction: str) -> None:
        self.user, self.instruction = user, instruction
        self.messages: list[dict[str, str]] = [{"role": "assistant", "content": GREETING}]

    def open(self) -> str:
        """The user's first message (to the agent's greeting)."""
        return self._ask()

    def answer(self, reply: str) -> str:
        """The user's answer to the agent's reply."""
        self.messages.append({"role": "assistant", "content": reply})
        return self._ask()

    def _ask(self) -> str:
        said = self.user.reply(self.instruction, [dict(m) for m in self.messages])
        if not isinstance(said, str):
            raise TypeError(f"The user simulator must return a str, got {type(said).__name__}.")
        self.messages.append({"role": "user", "content": said})
        return said
