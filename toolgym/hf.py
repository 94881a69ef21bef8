"""Hugging Face causal LMs as agents, token-exact: the one tokenization path of eval and training.

A :class:`TokenAgent` plays ToolGym envs with any token-level policy (a function from a batch of
prompt ids to a batch of sampled ids). Each episode keeps the ids of every turn as they were
generated: the opening chat is rendered once by the chat template, each assistant turn is appended
as the sampled ids, and the tool messages the env answers with are appended as the template's
rendering of just those messages (:func:`tool_suffix_ids`). Earlier turns are never re-tokenized,
so the ids a trainer learns from are the ids the policy sampled, and ``toolgym eval --agent
hf:PATH`` sees exactly what training's held-out evaluation sees. :class:`HFAgent` is a
TokenAgent over ``model.generate`` (:class:`HFGenerator`).

torch and transformers are imported only when a model is built or run, so ``import toolgym``
stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from toolgym.error import InvalidKnob

__all__ = [
    "Generate", "HFAgent", "HFGenerator", "TokenAgent", "TokenTrace", "load_pretrained", "render_ids", "tool_suffix_ids",
    "until_eos",
]

Generate = Callable[[list[list[int]]], list[list[int]]]
"""Maps a batch of prompt ids to a batch of sampled continuations (each ends with EOS if it ended).

Any engine can stand behind it: :class:`HFGenerator` here, vLLM in training
(:func:`toolgym_train.generation.make_generator`); ids in, ids out, so rollouts stay token-exact."""


def render_ids(tokenizer: Any, messages: Sequence[dict], tools: Sequence[dict], **kwargs: Any) -> list[int]:
    """Returns the chat template's token ids of ``messages`` rendered with ``tools``."""
    return list(
        tokenizer.apply_chat_template(
            list(messages), tools=list(tools) or None, tokenize=True, return_dict=False, **kwargs
        )
    )


def tool_suffix_ids(
    tokenizer: Any, history: Sequence[dict], new_messages: Sequence[dict], tools: Sequence[dict], **kwargs: Any
) -> list[int]:
    """The template's ids for ``new_messages`` after ``history`` (which ends with an assistant turn).

    The suffix starts right after the EOS that closed the assistant turn and ends with the next
    generation prompt, as in TRL's multi-turn tool loop.

    Raises:
        ValueError: When the template is not prefix-preserving at that point.
    """
    before = render_ids(tokenizer, history, tools, **kwargs)
    after = render_ids(tokenizer, [*history, *new_messages], tools, add_generation_prompt=True, **kwargs)
    eos = [i for i, t in enumerate(before) if t == tokenizer.eos_token_id]
    if eos:
        before = before[: eos[-1] + 1]
    if after[: len(before)] != before:
        raise ValueError(
            "The chat template re-renders earlier turns when tool messages follow them, so a "
            "rollout cannot be token-exact. Use a prefix-preserving template (e.g. TRL's "
            "training templates: trl.chat_template_utils.get_training_chat_template)."
        )
    return after[len(before) :]


class HFGenerator:
    """Samples continuations with ``model.generate`` on left-padded batches.

    Args:
        model: A causal LM.
        tokenizer: Its tokenizer (pad and EOS tokens set).
        max_new_tokens: Longest turn.
        temperature: Sampling temperature; 0 means greedy.
        top_p: Nucleus sampling mass.
    """

    def __init__(
        self, model: Any, tokenizer: Any, max_new_tokens: int = 256, temperature: float = 1.0, top_p: float = 1.0
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p

    def __call__(self, batch: list[list[int]]) -> list[list[int]]:
        """Generates one continuation per prompt; EOS kept, padding removed."""
        import torch

        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        pad = eos if pad is None else pad
        width = max(len(ids) for ids in batch)
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch])
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch])
        sampling = {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": 0}
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            out = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=self.max_new_tokens,
                pad_token_id=pad,
                eos_token_id=eos,
                **(sampling if self.temperature > 0 else {"do_sample": False}),
            )
        self.model.train(was_training)
        return [until_eos(row[width:].tolist(), eos) for row in out]


def until_eos(ids: list[int], eos: int) -> list[int]:
    """``ids`` up to and including the first ``eos`` (all of them when none is there).

    Example:
        >>> until_eos([5, 6, 2, 7], eos=2), until_eos([5, 6], eos=2)
        ([5, 6, 2], [5, 6])
    """
    return ids[: ids.index(eos) + 1] if eos in ids else ids


@dataclass
class TokenTrace:
    """One episode as token ids, as the policy saw and wrote them."""

    tools: list[dict[str, Any]]
    """The tool documents the episode was rendered with."""
    prompt_ids: list[int]
    """The chat template's rendering of the opening messages, with the generation prompt."""
    completion_ids: list[int] = field(default_factory=list)
    """Every later token: assistant turns and the tool messages in between."""
    env_mask: list[int] = field(default_factory=list)
    """1 for sampled tokens, 0 for tool tokens and forced tokens (aligned with completion_ids)."""
    turns: list[str] = field(default_factory=list)
    """The decoded assistant turns, as given to ``env.step``."""
    states: list[list[dict[str, Any]]] = field(default_factory=list)
    """The chat before each turn: ``states[k]`` is what the policy saw when it wrote ``turns[k]``."""
    seen: int = 0
    """How many messages the chat had when the last turn was written."""

    @property
    def ids(self) -> list[int]:
        """Prompt and completion ids: the whole episode so far."""
        return self.prompt_ids + self.completion_ids


class TokenAgent:
    """Plays ToolGym envs with a token-level policy, keeping every episode token-exact.

    Args:
        generate: The policy (e.g. :class:`HFGenerator`).
        tokenizer: A tokenizer with a tool-use chat template.
        max_length: An episode whose ids would reach this length is given up (recorded as
            truncated) instead of generating another turn.
        batch_size: How many episodes :func:`toolgym.evaluate.evaluate` plays together.
        chat_template_kwargs: Extra variables of the chat template, e.g. ``{"enable_thinking": True}``
            for Qwen3's reasoning mode.
    """

    def __init__(
        self, generate: Generate, tokenizer: Any, max_length: int = 8192, batch_size: int = 16,
        chat_template_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.generate, self.tokenizer = generate, tokenizer
        self.max_length, self.batch_size = max_length, batch_size
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self._traces: dict[int, TokenTrace] = {}

    def trace(self, env: Any) -> TokenTrace:
        """The token trace of the episode last played in ``env``."""
        return self._traces[id(env.unwrapped)]

    def act(self, observation: dict[str, Any], env: Any) -> str | None:
        """The next assistant turn of one episode (see :meth:`act_batch`)."""
        return self.act_batch([observation], [env])[0]

    def act_batch(self, observations: Sequence[dict[str, Any]], envs: Sequence[Any]) -> list[str | None]:
        """Generates the next turn of every episode in one batch; None for an episode that is full."""
        traces = [self._sync(obs, env) for obs, env in zip(observations, envs, strict=True)]
        live = [t for t in traces if t is not None]
        sampled = iter(self.generate([t.ids for t in live]) if live else [])
        return [None if t is None else self._record(t, next(sampled)) for t in traces]

    def _sync(self, observation: dict[str, Any], env: Any) -> TokenTrace | None:
        """The episode's trace with the tool messages since its last turn appended as ids."""
        from toolgym.oracle import turns_taken

        key, messages = id(env.unwrapped), list(observation["messages"])
        trace = self._traces.get(key)
        if trace is None or turns_taken(observation, env.unwrapped.scenario) == 0:
            tools = list(observation["tools"])
            prompt = render_ids(self.tokenizer, messages, tools, add_generation_prompt=True, **self.chat_template_kwargs)
            trace = self._traces[key] = TokenTrace(tools=tools, prompt_ids=prompt)
        else:
            history, new = messages[: trace.seen + 1], messages[trace.seen + 1 :]
            suffix = tool_suffix_ids(self.tokenizer, history, new, trace.tools, **self.chat_template_kwargs)
            if len(trace.ids) + len(suffix) >= self.max_length:
                return None
            trace.completion_ids += suffix
            trace.env_mask += [0] * len(suffix)
        trace.seen = len(messages)
        trace.states.append(messages)
        return trace

    def _record(self, trace: TokenTrace, ids: list[int]) -> str:
        eos = self.tokenizer.eos_token_id
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        trace.turns.append(text)
        trace.completion_ids += ids
        trace.env_mask += [1] * len(ids)
        if not ids or ids[-1] != eos:  # cut at max_new_tokens: close the turn, not the policy's token
            trace.completion_ids.append(eos)
            trace.env_mask.append(0)
        return text


class HFAgent(TokenAgent):
    """A Hugging Face causal LM, prompted through its chat template with the tool docs.

    Args:
        model: A causal LM (already on its device).
        tokenizer: Its tokenizer, with a tool-use chat template.
        max_new_tokens: Generation budget per turn.
        temperature: 0 (default) decodes greedily.
        top_p: Nucleus sampling mass.
        max_length: Longest episode in tokens.
        batch_size: Episodes generated together.
        seed: Seeds torch's generator now, so sampling (temperature > 0) repeats.
        enable_thinking: Passed to the chat template (Qwen3's reasoning mode); None: not passed.
    """

    def __init__(
        self, model: Any, tokenizer: Any, max_new_tokens: int = 512, temperature: float = 0.0,
        top_p: float = 1.0, max_length: int = 8192, batch_size: int = 16, seed: int | None = None,
        enable_thinking: bool | None = None,
    ) -> None:
        generate = HFGenerator(model, tokenizer, max_new_tokens, temperature, top_p)
        kwargs = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
        super().__init__(generate, tokenizer, max_length, batch_size, kwargs)
        self.model = model
        if seed is not None:
            import torch

            torch.manual_seed(seed)

    @classmethod
    def from_path(cls, path: str, device: str | None = None, **kwargs: Any) -> HFAgent:
        """Loads a local model directory (:func:`load_pretrained`)."""
        return cls(*load_pretrained(path, device), **kwargs)


def load_pretrained(path: str, device: str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a local model directory, the model on ``device`` (default: GPU if any).

    ``from_pretrained`` never downloads here; a tokenizer without a pad token pads with EOS.

    Raises:
        InvalidKnob: ``path`` is not a directory.
    """
    if not os.path.isdir(path):
        raise InvalidKnob(f"hf:PATH needs a local model directory; {path!r} is not one.")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device).eval()
    return model, tokenizer
