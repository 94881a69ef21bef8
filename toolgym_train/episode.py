"""Episode mode: whole multi-turn episodes as one GRPO completion, through TRL's ``rollout_func``.

The dataset holds each scenario's opening prompt (rendered by the chat template). TRL hands the
rollout function the batch's prompts, each repeated ``num_generations`` times; it plays every
episode against its own env with the current policy (:func:`toolgym_train.rollout.rollout`) and
returns the token-exact ids with ``env_mask`` (TRL's mask of tool tokens, excluded from the loss)
and the episode's reward, which :func:`episode_reward` hands to GRPO. The episodes of a call are
sampled together, turn by turn, on the run's rollout backend
(:func:`toolgym_train.generation.make_generator`; with vLLM, the trainer's engine when it has one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolgym_train.config import ToolGymTrainConfig
from toolgym_train.evaluate import episode_score
from toolgym_train.rollout import rollout
from toolgym_train.step import peft_config, rl_args

__all__ = ["EpisodeRollout", "episode_reward", "train_episode_mode"]


def episode_reward(
    completions: Sequence[Any], episode_reward: Sequence[float], **kwargs: Any
) -> list[float]:
    """TRL reward function: the summed per-turn env reward the rollout function computed.

    Example:
        >>> episode_reward(["..."], episode_reward=[1.5])
        [1.5]
    """
    return [float(r) for r in episode_reward]


class EpisodeRollout:
    """TRL ``rollout_func``: plays one episode per prompt with the trainer's current model.

    Args:
        config: The run's config (env, turn and token limits).
        scenarios: Opening prompt text -> the scenario it opens.
        curriculum: The run's curriculum schedule, fed each episode's Solve-F1 (None: none).
    """

    def __init__(self, config: ToolGymTrainConfig, scenarios: dict[str, Any], curriculum: Any = None) -> None:
        self.config, self.scenarios, self._envs = config, scenarios, []
        self.curriculum = curriculum
        self.history: list[dict[str, float]] = []
        """Per call: mean reward and Solve-F1 of the episodes played."""

    def close(self) -> None:
        """Closes the envs this rollout function made (a sandboxed env holds a worker process)."""
        for env in self._envs:
            env.close()
        self._envs = []

    def __call__(self, prompts: list[str], trainer: Any) -> dict[str, list]:
        """Returns ``prompt_ids``, ``completion_ids``, ``logprobs`` (None), ``env_mask`` and rewards."""
        from toolgym_train.generation import make_generator
        from toolgym_train.policy import make_env

        while len(self._envs) < len(prompts):
            self._envs.append(make_env(self.config, self.curriculum))
        tokenizer = trainer.processing_class
        generate = make_generator(self.config, trainer.model, tokenizer, trainer=trainer)
        options = [{"scenario": self.scenarios[p]} for p in prompts]
        episodes = rollout(
            self._envs[: len(prompts)],
            generate,
            tokenizer,
            options=options,
            max_length=self.config.max_length,
            chat_template_kwargs=self.config.chat_template_kwargs,
        )
        self.history.append(
            {
                "rollout_reward": sum(ep.episode_reward for ep in episodes) / len(episodes),
                "rollout_solve_f1": sum(episode_score(ep.record) for ep in episodes) / len(episodes),
            }
        )
        return {
            "prompt_ids": [ep.prompt_ids for ep in episodes],
            "completion_ids": [ep.completion_ids for ep in episodes],
            "logprobs": None,
            "env_mask": [ep.env_mask for ep in episodes],
            "episode_reward": [ep.episode_reward for ep in episodes],
            "solve_f1": [episode_score(ep.record) for ep in episodes],
        }


def opening_prompts(
    config: ToolGymTrainConfig, tokenizer: Any, seeds: Sequence[int], curriculum: Any = None
) -> dict[str, Any]:
    """Opening prompt text -> scenario, for the episodes of ``seeds`` (at the curriculum's level, if any)."""
    from toolgym_train.policy import make_env

    env, out = make_env(config, curriculum), {}
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            text = tokenizer.apply_chat_template(
                obs["messages"], tools=obs["tools"] or None, tokenize=False, add_generation_prompt=True,
                **config.chat_template_kwargs,
            )
            out[text] = env.unwrapped.scenario
    finally:
        env.close()
    return out


def train_episode_mode(
    model: Any, tokenizer: Any, config: ToolGymTrainConfig, seeds: Sequence[int], run_dir: str,
    curriculum: Any = None,
) -> tuple[Any, list[dict]]:
    """Trains one iteration of whole-episode GRPO on the scenarios of ``seeds``; with a curriculum,
    they are drawn at its level and the played episodes move it."""
    from datasets import Dataset
    from trl import GRPOTrainer

    from toolgym_train.vllm_engines import attach_engine

    scenarios = opening_prompts(config, tokenizer, seeds, curriculum)
    rollout_func = EpisodeRollout(config, scenarios, curriculum)
    try:
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[episode_reward],
            args=rl_args(config, run_dir, config.steps_per_iteration),
            train_dataset=Dataset.from_list([{"prompt": p} for p in scenarios]),
            processing_class=tokenizer,
            rollout_func=rollout_func,
            peft_config=peft_config(config, model),
        )
        attach_engine(trainer, tokenizer, config)
        trainer.train()
    finally:
        rollout_func.close()
    return trainer.model, [*trainer.state.log_history, *rollout_func.history]
