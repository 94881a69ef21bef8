"""Warm start: supervised fine-tuning (TRL SFTTrainer) on the oracle's transcripts.

Assistant turns are kept as the oracle's raw text (tool calls inside ``<tool_call>`` tags), the
exact text the env reads, and the loss covers only them (``assistant_only_loss``: the chat
template's ``{% generation %}`` markers, or TRL's training variant of a known template).
"""

from __future__ import annotations

import json
from typing import Any

from toolgym_train.config import ToolGymTrainConfig

__all__ = ["oracle_rows", "warm_start"]


def oracle_rows(config: ToolGymTrainConfig, n: int, first_seed: int) -> list[dict[str, Any]]:
    """Plays the oracle on seeds ``first_seed ..`` and returns SFT rows (``messages``, ``tools``).

    ``tools`` is JSON text, as TRL's SFTTrainer accepts, so rows with different tool schemas fit
    one Arrow table.
    """
    from toolgym.oracle import OracleAgent
    from toolgym_train.policy import make_env

    env, rows = make_env(config), []
    oracle = OracleAgent(env)
    for seed in range(first_seed, first_seed + n):
        messages, tools = play_oracle(env, oracle, seed)
        rows.append({"messages": messages, "tools": json.dumps(tools)})
    env.close()
    return rows


def play_oracle(env: Any, oracle: Any, seed: int) -> tuple[list[dict[str, str]], list[dict]]:
    """One oracle episode; assistant messages hold the oracle's raw text, tool messages their output."""
    obs, _ = env.reset(seed=seed)
    messages = [_plain(m) for m in obs["messages"]]
    done = False
    while not done:
        text = oracle.act(obs)
        seen = len(obs["messages"])
        obs, _, terminated, truncated, _ = env.step(text)
        messages.append({"role": "assistant", "content": text, "name": ""})
        messages += [_plain(m) for m in obs["messages"][seen + 1 :]]
        done = terminated or truncated
    return messages, list(obs["tools"])


def _plain(message: dict[str, Any]) -> dict[str, str]:
    """A message with the same keys for every role, so a dataset column has one schema."""
    return {
        "role": message["role"],
        "content": str(message.get("content") or ""),
        "name": message.get("name", ""),
    }


def warm_start(
    model: Any, tokenizer: Any, config: ToolGymTrainConfig, run_dir: str
) -> tuple[Any, list[dict]]:
    """Fine-tunes ``model`` on ``config.warm_start_episodes`` oracle episodes; returns it and the log."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows = oracle_rows(config, config.warm_start_episodes, config.train_seed)
    args = SFTConfig(
        output_dir=run_dir,
        num_train_epochs=config.sft_epochs,
        learning_rate=config.sft_learning_rate,
        per_device_train_batch_size=config.sft_batch_size,
        assistant_only_loss=True,
        max_length=config.max_length,
        bf16=config.bf16,
        gradient_checkpointing=config.gradient_checkpointing,
        report_to=config.report_to,
        logging_steps=config.logging_steps,
        save_strategy="no",
        seed=config.seed,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    )
    trainer.train()
    return trainer.model, list(trainer.state.log_history)
