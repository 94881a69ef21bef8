"""Step mode, the paper's recipe: GRPO (or RLOO) on single-turn completions at episode prefixes.

Each iteration rolls out the current policy, cuts every trajectory after each tool round into
prefixes (the chat the policy saw before each of its turns), and trains TRL's GRPOTrainer on those
prefixes; a completion's reward is the env's per-turn reward of that completion at that prefix,
computed by resetting an env to the prefix and stepping the completion (:class:`PrefixReward`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from toolgym_train.config import ToolGymTrainConfig
from toolgym_train.rollout import Episode

__all__ = ["PrefixReward", "prefix_rows", "rl_args", "rows_with_spread", "train_step_mode"]


class PrefixReward:
    """TRL reward function: the env's reward for a completion at a prefix.

    Reads the dataset columns ``scenario`` (the scenario as JSON) and ``replay`` (the JSON list of
    earlier assistant turns), resumes an env at that prefix (:func:`toolgym.evaluate.reset_to_prefix`)
    and steps the completion, so the reward equals ``env.step``'s by construction.

    Args:
        make_env: Returns a fresh ToolGym env (called once, lazily).

    Example:
        >>> import gymnasium as gym, json, toolgym
        >>> from toolgym.oracle import OracleAgent
        >>> env = gym.make("ToolGym/SingleHop-v0")
        >>> obs, _ = env.reset(seed=0)
        >>> gold = OracleAgent(env).act(obs)
        >>> reward = PrefixReward(lambda: gym.make("ToolGym/SingleHop-v0"))
        >>> row = {"scenario": env.unwrapped.scenario.model_dump_json(), "replay": "[]"}
        >>> reward([gold], scenario=[row["scenario"]], replay=[row["replay"]]) == [env.step(gold)[1]]
        True
    """

    __name__ = "env_turn_reward"

    def __init__(self, make_env: Callable[[], Any]) -> None:
        self._make_env, self._env = make_env, None
        self._scenarios: dict[str, Any] = {}

    def __call__(
        self,
        completions: Sequence[Any],
        scenario: Sequence[str],
        replay: Sequence[str],
        **kwargs: Any,
    ) -> list[float]:
        """Returns one env reward per completion."""
        return [
            self.score(_completion_text(c), s, json.loads(r))
            for c, s, r in zip(completions, scenario, replay, strict=True)
        ]

    def score(self, completion: str, scenario_json: str, replay: list[str]) -> float:
        """Resets the env to the prefix and returns the reward of stepping ``completion``."""
        if self._env is None:
            self._env = self._make_env()
        from toolgym.evaluate import reset_to_prefix

        reset_to_prefix(self._env, replay, options={"scenario": self._load(scenario_json)})
        _, reward, _, _, _ = self._env.step(completion)
        return float(reward)

    def close(self) -> None:
        """Closes the env, if one was made (a sandboxed env holds a worker process)."""
        if self._env is not None:
            self._env.close()
            self._env = None

    def _load(self, scenario_json: str) -> Any:
        if scenario_json not in self._scenarios:
            from toolgym.scenario import Scenario

            self._scenarios[scenario_json] = Scenario.model_validate_json(scenario_json)
        return self._scenarios[scenario_json]


def _completion_text(completion: Any) -> str:
    """A TRL completion as raw text: strings as they are, a message list as its last content."""
    if isinstance(completion, str):
        return completion
    return str(completion[-1].get("content", ""))


def prefix_rows(
    episodes: Sequence[Episode], tokenizer: Any, chat_template_kwargs: dict[str, Any] | None = None
) -> list[dict[str, str]]:
    """Cuts episodes after every tool round into prompt rows for TRL.

    Returns:
        One row per turn the policy took: ``prompt`` (the chat template's text of the chat before
        that turn, with the generation prompt), ``scenario`` (JSON) and ``replay`` (JSON list of the
        earlier turns).
    """
    rows = []
    for ep in episodes:
        scenario_json = ep.scenario.model_dump_json()
        for k, state in enumerate(ep.states):
            prompt = tokenizer.apply_chat_template(
                state, tools=ep.tools or None, tokenize=False, add_generation_prompt=True,
                **(chat_template_kwargs or {}),
            )
            rows.append(
                {"prompt": prompt, "scenario": scenario_json, "replay": json.dumps(ep.turns[:k])}
            )
    return rows


def rows_with_spread(
    rows: list[dict[str, str]], model: Any, tokenizer: Any, config: ToolGymTrainConfig, reward: PrefixReward
) -> list[dict[str, str]]:
    """Dynamic sampling (DAPO): the prefix rows whose ``num_generations`` sampled completions do not
    all earn the same reward, so every GRPO group carries a learning signal (all rows when none do).

    The completions are sampled at the run's temperature and scored by the env, then dropped: GRPO
    samples its own for the rows kept.
    """
    from toolgym_train.generation import make_generator

    generate = make_generator(config, model, tokenizer)
    group = config.num_generations
    prompts = [tokenizer(row["prompt"], add_special_tokens=False)["input_ids"] for row in rows]
    kept = []
    for start in range(0, len(rows), 8):
        batch = [ids for ids in prompts[start : start + 8] for _ in range(group)]
        texts = tokenizer.batch_decode(generate(batch), skip_special_tokens=True)
        for k, row in enumerate(rows[start : start + 8]):
            scores = reward(texts[k * group : (k + 1) * group], scenario=[row["scenario"]] * group,
                            replay=[row["replay"]] * group)
            if max(scores) > min(scores):
                kept.append(row)
    print(f"[toolgym-train] filter_groups: {len(kept)} of {len(rows)} prefixes have reward spread", flush=True)
    return kept or rows


def rl_args(config: ToolGymTrainConfig, run_dir: str, max_steps: int) -> Any:
    """The TRL GRPOConfig (or RLOOConfig) of one training iteration.

    ``use_vllm`` stays off here: TRL would build a vLLM engine in every trainer, so with
    ``config.use_vllm`` the trainer is given this process's one engine after it is built
    (:func:`toolgym_train.vllm_engines.attach_engine`).
    """
    from trl import GRPOConfig, RLOOConfig

    kwargs = dict(
        **config.iteration_kwargs(run_dir),
        num_generations=config.num_generations,
        max_completion_length=config.max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        use_vllm=False,
        vllm_mode=config.vllm_mode,
        warmup_steps=0,
    )
    kwargs["max_steps"] = max_steps
    if config.algorithm == "rloo":
        return RLOOConfig(**kwargs)
    # episode mode's rollout function returns no sampling logprobs for vLLM's importance-sampling correction
    return GRPOConfig(**kwargs, loss_type="grpo", scale_rewards="group",
                      vllm_importance_sampling_correction=config.mode != "episode")


def peft_config(config: ToolGymTrainConfig, model: Any) -> Any:
    """A LoRA config when ``config.use_peft`` and the model is not already a PEFT model, else None.

    Its targets follow ``train_modules`` and ``train_layers`` (all linear layers by default)."""
    if not config.use_peft or hasattr(model, "peft_config"):
        return None
    from peft import LoraConfig

    from toolgym_train.targeting import lora_targets

    targets = lora_targets(config.train_modules, config.train_layers, model.config.num_hidden_layers)
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, task_type="CAUSAL_LM", **targets)


def train_step_mode(
    model: Any,
    tokenizer: Any,
    config: ToolGymTrainConfig,
    episodes: Sequence[Episode],
    run_dir: str,
) -> tuple[Any, list[dict]]:
    """Trains one iteration on the prefixes of ``episodes``; returns the model and TRL's log history."""
    from datasets import Dataset
    from trl import GRPOTrainer, RLOOTrainer

    from toolgym_train.policy import make_env
    from toolgym_train.vllm_engines import attach_engine

    rows = prefix_rows(episodes, tokenizer, config.chat_template_kwargs)
    trainer_cls = RLOOTrainer if config.algorithm == "rloo" else GRPOTrainer
    reward = PrefixReward(lambda: make_env(config))
    try:
        if config.filter_groups:
            rows = rows_with_spread(rows, model, tokenizer, config, reward)
        trainer = trainer_cls(
            model=model,
            reward_funcs=[reward],
            args=rl_args(config, run_dir, config.steps_per_iteration),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config(config, model),
        )
        attach_engine(trainer, tokenizer, config)
        trainer.train()
    finally:
        reward.close()
    return trainer.model, list(trainer.state.log_history)
