"""Batched multi-turn rollouts of a causal LM against ToolGym envs, token-exact.

The episodes are played by the one episode loop (:func:`toolgym.evaluate.play_batch`) with a
:class:`toolgym.hf.TokenAgent`, which keeps the ids of every turn as they were generated (the same
tokenization ``toolgym eval --agent hf:PATH`` uses). An :class:`Episode` joins that token trace
with the episode's record: ``env_mask`` is 1 on sampled tokens and 0 on tool tokens (and on tokens
the rollout had to force, such as an EOS after a turn cut at ``max_new_tokens``).

The policy is any :data:`toolgym.hf.Generate`; training builds it with
:func:`toolgym_train.generation.make_generator` (``hf``, vLLM colocated or served), and every live
episode's turn goes to it in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from toolgym.evaluate import play_batch
from toolgym.hf import Generate, HFGenerator, TokenAgent, TokenTrace, render_ids, tool_suffix_ids

__all__ = ["Episode", "Generate", "HFGenerator", "render_ids", "rollout", "tool_suffix_ids"]


@dataclass
class Episode:
    """One multi-turn episode as token ids, with everything needed to train on it or on its turns."""

    scenario: Any
    """The env's scenario (``env.unwrapped.scenario``)."""
    trace: TokenTrace
    """The token ids as sampled, the tool tokens between them, and the chat before each turn."""
    record: dict[str, Any] = field(default_factory=dict)
    """The episode's record (:func:`toolgym.evaluate.episode_record`): rewards, metrics, chat."""

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tool documents the episode was rendered with."""
        return self.trace.tools

    @property
    def prompt_ids(self) -> list[int]:
        """The chat template's rendering of the opening messages, with the generation prompt."""
        return self.trace.prompt_ids

    @property
    def completion_ids(self) -> list[int]:
        """Every later token: assistant turns and the tool messages in between."""
        return self.trace.completion_ids

    @property
    def env_mask(self) -> list[int]:
        """1 for sampled tokens, 0 for tool tokens and forced tokens."""
        return self.trace.env_mask

    @property
    def ids(self) -> list[int]:
        """Prompt and completion ids: the whole episode."""
        return self.trace.ids

    @property
    def turns(self) -> list[str]:
        """The decoded assistant turns, as given to ``env.step`` (the replay of later prefixes)."""
        return self.trace.turns

    @property
    def states(self) -> list[list[dict[str, Any]]]:
        """``states[k]`` is the chat the policy saw when it wrote ``turns[k]``."""
        return self.trace.states

    @property
    def rewards(self) -> list[float]:
        """Per-turn env rewards."""
        return self.record["rewards"]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The final chat."""
        return self.record["messages"]

    @property
    def episode_reward(self) -> float:
        """The sum of the per-turn rewards."""
        return float(sum(self.rewards))


def rollout(
    envs: Sequence[Any],
    generate: Generate,
    tokenizer: Any,
    seeds: Sequence[int | None] | None = None,
    options: Sequence[dict | None] | None = None,
    max_length: int = 8192,
    chat_template_kwargs: dict[str, Any] | None = None,
) -> list[Episode]:
    """Plays one episode in each env, all envs batched turn by turn, until every episode ends.

    Args:
        envs: ToolGym envs (``gym.make``), one episode each.
        generate: The policy (:func:`toolgym_train.generation.make_generator`, or e.g. :class:`HFGenerator`).
        tokenizer: Tokenizer with a tool-use chat template.
        seeds: Reset seed per env.
        options: Reset options per env (e.g. ``{"scenario": s}`` to play a given scenario).
        max_length: An episode whose ids would reach this length stops before its next turn.
        chat_template_kwargs: Extra chat-template variables (e.g. ``{"enable_thinking": True}``).

    Returns:
        The episodes, in the order of ``envs``.
    """
    agent = TokenAgent(generate, tokenizer, max_length=max_length, chat_template_kwargs=chat_template_kwargs)
    records = play_batch(envs, agent, seeds, options)
    return [
        Episode(scenario=env.unwrapped.scenario, trace=agent.trace(env), record=record)
        for env, record in zip(envs, records, strict=True)
    ]
