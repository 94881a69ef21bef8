"""DPO mode: sample several completions per prefix, rank them by env reward, train TRL's DPOTrainer.

Each iteration rolls out the policy, cuts the episodes into prefixes (as step mode does), samples
``num_generations`` completions at each prefix, scores each with the env's per-turn reward
(:class:`~toolgym_train.step.PrefixReward`) and keeps the best-vs-worst pair of every prefix whose
rewards differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolgym_train.config import ToolGymTrainConfig
from toolgym_train.rollout import Episode, HFGenerator
from toolgym_train.step import PrefixReward, peft_config, prefix_rows

__all__ = ["preference_rows", "train_dpo_mode"]


def preference_rows(
    rows: Sequence[dict[str, str]], generate: HFGenerator, reward: PrefixReward, num_samples: int
) -> list[dict[str, str]]:
    """Returns ``prompt``/``chosen``/``rejected`` rows: each prefix's best and worst sample.

    Prefixes whose samples all score the same give no pair.
    """
    tokenizer, pairs = generate.tokenizer, []
    for row in rows:
        prompt_ids = tokenizer.encode(row["prompt"], add_special_tokens=False)
        samples = generate([prompt_ids] * num_samples)
        texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in samples]
        scored = [(reward([t], [row["scenario"]], [row["replay"]])[0], t) for t in texts]
        best, worst = max(scored, key=lambda x: x[0]), min(scored, key=lambda x: x[0])
        if best[0] > worst[0]:
            pairs.append({"prompt": row["prompt"], "chosen": best[1], "rejected": worst[1]})
    return pairs


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

    from toolgym_train.policy import make_env

    generate = HFGenerator(model, tokenizer, config.max_new_tokens, max(config.temperature, 1e-3))
    reward = PrefixReward(lambda: make_env(config))
    try:
        pairs = preference_rows(prefix_rows(episodes, tokenizer, config.chat_template_kwargs), generate, reward, config.num_generations)
    finally:
        reward.close()
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
