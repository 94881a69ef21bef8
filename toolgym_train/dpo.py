"""DPO mode: sample several completions per prefix, rank them by env reward, train TRL's DPOTrainer.

Each iteration rolls out the policy, cuts the episodes into prefixes (as step mode does), samples
``num_generations`` completions at each prefix, scores each with the env's per-turn reward
(:class:`~toolgym_train.step.PrefixReward`) and keeps the best-vs-worst pair of every prefix whose
rewards differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolgym.hf import Generate
from toolgym_train.config import ToolGymTrainConfig
from toolgym_train.rollout import Episode
from toolgym_train.step import PrefixReward, peft_config, prefix_rows

__all__ = ["env_ranked_pairs", "preference_rows", "train_dpo_mode"]


def preference_rows(
    rows: Sequence[dict[str, str]],
    generate: Generate,
    tokenizer: Any,
    reward: PrefixReward,
    num_samples: int,
    prefixes_per_call: int = 1,
) -> list[dict[str, str]]:
    """Returns ``prompt``/``chosen``/``rejected`` rows: each prefix's best and worst sample.

    Args:
        rows: Prefix rows (:func:`~toolgym_train.step.prefix_rows`).
        generate: The policy's generator.
        tokenizer: Encodes the prompts and decodes the samples.
        reward: Scores a sample at its prefix with the env's reward.
        num_samples: Samples per prefix.
        prefixes_per_call: How many prefixes' samples one ``generate`` call takes (vLLM: all of them).

    Prefixes whose samples all score the same give no pair.
    """
    pairs = []
    for start in range(0, len(rows), prefixes_per_call):
        chunk = rows[start : start + prefixes_per_call]
        prompts = [tokenizer.encode(row["prompt"], add_special_tokens=False) for row in chunk]
        samples = generate([ids for ids in prompts for _ in range(num_samples)])
        for k, row in enumerate(chunk):
            texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in samples[k * num_samples : (k + 1) * num_samples]]
            scored = [(reward([t], [row["scenario"]], [row["replay"]])[0], t) for t in texts]
            best, worst = max(scored, key=lambda x: x[0]), min(scored, key=lambda x: x[0])
            if best[0] > worst[0]:
                pairs.append({"prompt": row["prompt"], "chosen": best[1], "rejected": worst[1]})
    return pairs


def env_ranked_pairs(
    model: Any, tokenizer: Any, config: ToolGymTrainConfig, episodes: Sequence[Episode]
) -> list[dict[str, str]]:
    """Samples ``num_generations`` completions at every prefix of ``episodes`` with the run's generator
    and pairs each prefix's best and worst by env reward (:func:`preference_rows`).

    ``hf`` generates one prefix at a time (padding prompts of different lengths together would cost
    compute and change the samples); vLLM takes every prefix in one call.
    """
    from toolgym_train.generation import make_generator
    from toolgym_train.policy import make_env

    generate = make_generator(config, model, tokenizer, temperature=max(config.temperature, 1e-3))
    reward = PrefixReward(lambda: make_env(config))
    try:
        rows = prefix_rows(episodes, tokenizer, config.chat_template_kwargs)
        per_call = 1 if config.rollout_backend == "hf" else max(len(rows), 1)
        return preference_rows(rows, generate, tokenizer, reward, config.num_generations, per_call)
    finally:
        reward.close()


def train_dpo_mode(
    model: Any,
    tokenizer: Any,
    config: ToolGymTrainConfig,
    episodes: Sequence[Episode],
    run_dir: str,
) -> tuple[Any, list[dict]]:
    """Trains one DPO iteration on env-ranked pairs at the prefixes of ``episodes``."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    pairs = env_ranked_pairs(model, tokenizer, config, episodes)
    if not pairs:
        return model, [
            {"note": "no prefix had samples with different rewards; nothing to train on"}
        ]
    args = DPOConfig(
        **config.iteration_kwargs(run_dir),
        max_length=config.max_length,
        truncation_mode="keep_end",
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(pairs),
        processing_class=tokenizer,
        peft_config=peft_config(config, model),
    )
    trainer.train()
    return trainer.model, list(trainer.state.log_history)
