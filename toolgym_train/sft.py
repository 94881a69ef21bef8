"""Warm start: supervised fine-tuning (TRL SFTTrainer) on the oracle's transcripts.

Assistant turns are kept as the oracle's raw text (tool calls inside ``<tool_call>`` tags), the
exact text the env reads, and the loss covers only them (``assistant_only_loss``: the chat
template's ``{% generation %}`` markers, or TRL's training variant of a known template).
"""

from __future__ import annotations

import json
from typing import Any

from toolgym_train.config import ToolGymTrainConfig

__all__ = ["oracle_rows", "raw_transcript", "warm_start"]


def oracle_rows(config: ToolGymTrainConfig, n: int, first_seed: int) -> list[dict[str, Any]]:
    """Plays the oracle on seeds ``first_seed ..`` and returns SFT rows (``messages``, ``tools``).

    ``tools`` is JSON text, as TRL's SFTTrainer accepts, so rows with different tool schemas fit
    one Arrow table.
    """
    from toolgym.evaluate import play_episode
    from toolgym.oracle import OracleAgent
    from toolgym_train.policy import make_env

    env, rows = make_env(config), []
    try:
        for seed in range(first_seed, first_seed + n):
            record = play_episode(env, OracleAgent(), seed=seed)
            row = {"messages": raw_transcript(record), "tools": json.dumps(env.unwrapped.scenario.tool_docs)}
            if config.chat_template_kwargs:  # TRL's SFTTrainer reads it per row
                row["chat_template_kwargs"] = config.chat_template_kwargs
            rows.append(row)
    finally:  # a sandboxed suite holds a worker process
        env.close()
    return rows


def raw_transcript(record: dict[str, Any]) -> list[dict[str, str]]:
    """An episode record's chat with each assistant message as the agent's raw text (the exact text
    the env read, tool calls inside ``<tool_call>`` tags) and every message in one schema."""
    actions = iter(record["actions"])
    messages = []
    for message in record["messages"]:
        plain = _plain(message)
        if message["role"] == "assistant":
            plain["content"] = str(next(actions))
        messages.append(plain)
    return messages


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
        **config.trainer_kwargs(run_dir),
        num_train_epochs=config.sft_epochs,
        learning_rate=config.sft_learning_rate,
        per_device_train_batch_size=config.sft_batch_size,
        assistant_only_loss=True,
        max_length=config.max_length,
        lr_scheduler_type=config.sft_lr_scheduler_type,
        warmup_steps=config.sft_warmup_steps,
        max_steps=config.sft_max_steps or -1,
    )
    trainer_cls = _trainer_class(SFTTrainer) if _on_cpu(model) else SFTTrainer
    trainer = trainer_cls(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    )
    trainer.train()
    return trainer.model, list(trainer.state.log_history)


def _on_cpu(model: Any) -> bool:
    try:
        return next(model.parameters()).device.type == "cpu"
    except (AttributeError, StopIteration):
        return False


def _trainer_class(base: type) -> type:
    """``base`` (TRL's SFTTrainer) with a loss that runs the LM head only on the assistant tokens.

    TRL's fused LM head projects every position of the batch; on a CPU, with the assistant turns a
    small share of each episode, that is most of a step's cost. This computes the same mean
    next-token NLL over the labelled positions (and TRL's ``mean_token_accuracy`` metric) from the
    decoder's hidden states at those positions only. Models without ``get_decoder`` fall back to TRL.
    """

    class LabelOnlyHeadSFTTrainer(base):  # type: ignore[misc, valid-type]
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import torch

            decoder = getattr(model, "get_decoder", lambda: None)()
            head = model.get_output_embeddings() if decoder is not None else None
            if head is None or return_outputs or "labels" not in inputs:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            forward = {k: v for k, v in inputs.items() if k not in ("labels", "completion_mask")}
            hidden = decoder(**forward, use_cache=False).last_hidden_state
            targets = inputs["labels"][:, 1:]
            keep = targets != -100
            logits = head(hidden[:, :-1][keep]).float()
            labels = targets[keep]
            nll = torch.nn.functional.cross_entropy(logits, labels, reduction="sum")
            count = keep.sum() if num_items_in_batch is None else num_items_in_batch
            loss = nll / torch.as_tensor(count).clamp(min=1)
            mode = "train" if model.training else "eval"
            if labels.numel():
                correct = (logits.detach().argmax(-1) == labels).float().mean().item()
                self._metrics[mode]["mean_token_accuracy"].append(correct)
            return loss

    return LabelOnlyHeadSFTTrainer
