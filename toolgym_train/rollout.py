"""Batched multi-turn rollouts of a causal LM against ToolGym envs, token-exact.

Each episode keeps the ids of every turn as they were generated: the prompt is rendered once by the
chat template, each assistant turn is appended as the sampled ids, and the tool messages the env
answers with are appended as the template's rendering of just those messages (the suffix after the
assistant turn's EOS). Earlier turns are never re-tokenized, so the ids the policy is trained on are
the ids it sampled. ``env_mask`` is 1 on sampled tokens and 0 on tool tokens (and on tokens the
rollout had to force, such as an EOS after a turn cut at ``max_new_tokens``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Episode", "HFGenerator", "Generate", "rollout", "render_ids", "tool_suffix_ids"]

Generate = Callable[[list[list[int]]], list[list[int]]]
"""Maps a batch of prompt ids to a batch of sampled continuations (each ends with EOS if it ended)."""


@dataclass
class Episode:
    """One multi-turn episode as token ids, with everything needed to train on it or on its turns."""

    scenario: Any
    """The env's scenario (``env.unwrapped.scenario``)."""
    tools: list[dict[str, Any]]
    """The tool documents the episode was rendered with."""
    prompt_ids: list[int]
    """The chat template's rendering of the opening messages, with the generation prompt."""
    completion_ids: list[int] = field(default_factory=list)
    """Every later token: assistant turns and the tool messages in between."""
    env_mask: list[int] = field(default_factory=list)
    """1 for sampled tokens, 0 for tool tokens and forced tokens (aligned with completion_ids)."""
    turns: list[str] = field(default_factory=list)
    """The decoded assistant turns, as given to ``env.step`` (the replay of later prefixes)."""
    states: list[list[dict[str, Any]]] = field(default_factory=list)
    """The chat before each turn: ``states[k]`` is what the policy saw when it wrote ``turns[k]``."""
    rewards: list[float] = field(default_factory=list)
    """Per-turn env rewards."""
    info: dict[str, Any] = field(default_factory=dict)
    """The env's info after the last step (Solve-P/R/F1, answer correctness, ...)."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The final chat."""
    done: bool = False

    @property
    def ids(self) -> list[int]:
        """Prompt and completion ids: the whole episode."""
        return self.prompt_ids + self.completion_ids

    @property
    def episode_reward(self) -> float:
        """The sum of the per-turn rewards."""
        return float(sum(self.rewards))


def render_ids(
    tokenizer: Any, messages: Sequence[dict], tools: Sequence[dict], **kwargs: Any
) -> list[int]:
    """Returns the chat template's token ids of ``messages`` rendered with ``tools``."""
    return list(
        tokenizer.apply_chat_template(
            list(messages), tools=list(tools) or None, tokenize=True, return_dict=False, **kwargs
        )
    )


def tool_suffix_ids(
    tokenizer: Any, history: Sequence[dict], new_messages: Sequence[dict], tools: Sequence[dict]
) -> list[int]:
    """The template's ids for ``new_messages`` after ``history`` (which ends with an assistant turn).

    The suffix starts right after the EOS that closed the assistant turn and ends with the next
    generation prompt, as in TRL's multi-turn tool loop.

    Raises:
        ValueError: When the template is not prefix-preserving at that point.
    """
    before = render_ids(tokenizer, history, tools)
    after = render_ids(tokenizer, [*history, *new_messages], tools, add_generation_prompt=True)
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
        self,
        model: Any,
        tokenizer: Any,
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p

    def __call__(self, batch: list[list[int]]) -> list[list[int]]:
        """Generates one continuation per prompt; EOS kept, padding removed."""
        import torch

        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        width = max(len(ids) for ids in batch)
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch])
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch])
        sampling = {
            "do_sample": True,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": 0,
        }
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
        return [_until_eos(row[width:].tolist(), eos) for row in out]


def _until_eos(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos) + 1] if eos in ids else ids


def rollout(
    envs: Sequence[Any],
    generate: Generate,
    tokenizer: Any,
    seeds: Sequence[int | None] | None = None,
    options: Sequence[dict | None] | None = None,
    max_length: int = 8192,
) -> list[Episode]:
    """Plays one episode in each env, all envs batched turn by turn, until every episode ends.

    Args:
        envs: ToolGym envs (``gym.make``), one episode each.
        generate: The policy (e.g. :class:`HFGenerator`).
        tokenizer: Tokenizer with a tool-use chat template.
        seeds: Reset seed per env.
        options: Reset options per env (e.g. ``{"scenario": s}`` to play a given scenario).
        max_length: An episode whose ids reach this length is cut (its last turn still stepped).

    Returns:
        The episodes, in the order of ``envs``.
    """
    seeds = list(seeds) if seeds is not None else [None] * len(envs)
    options = list(options) if options is not None else [None] * len(envs)
    episodes = [
        _start(env, tokenizer, s, o) for env, s, o in zip(envs, seeds, options, strict=True)
    ]
    while active := [i for i, ep in enumerate(episodes) if not ep.done]:
        sampled = generate([episodes[i].ids for i in active])
        for i, ids in zip(active, sampled, strict=True):
            _advance(episodes[i], envs[i], tokenizer, ids, max_length)
    return episodes


def _start(env: Any, tokenizer: Any, seed: int | None, options: dict | None) -> Episode:
    obs, info = env.reset(seed=seed, options=options)
    messages = list(obs["messages"])
    ep = Episode(
        scenario=env.unwrapped.scenario,
        tools=list(obs["tools"]),
        prompt_ids=render_ids(tokenizer, messages, obs["tools"], add_generation_prompt=True),
        info=dict(info),
        messages=messages,
    )
    return ep


def _advance(ep: Episode, env: Any, tokenizer: Any, ids: list[int], max_length: int) -> None:
    """Appends one sampled turn, steps the env, and appends the tool messages it answers with."""
    eos = tokenizer.eos_token_id
    text = tokenizer.decode(ids, skip_special_tokens=True)
    ep.states.append(ep.messages)
    ep.turns.append(text)
    ep.completion_ids += ids
    ep.env_mask += [1] * len(ids)
    if not ids or ids[-1] != eos:  # cut at max_new_tokens: close the turn, not the policy's token
        ep.completion_ids.append(eos)
        ep.env_mask.append(0)
    obs, reward, terminated, truncated, info = env.step(text)
    ep.rewards.append(float(reward))
    ep.info = dict(info)
    history_len = len(ep.messages) + 1  # the chat so far and the assistant message of this turn
    messages = list(obs["messages"])
    ep.messages = messages
    if terminated or truncated:
        ep.done = True
        return
    suffix = tool_suffix_ids(tokenizer, messages[:history_len], messages[history_len:], ep.tools)
    if len(ep.ids) + len(suffix) >= max_length:
        ep.done = True
        return
    ep.completion_ids += suffix
    ep.env_mask += [0] * len(suffix)
