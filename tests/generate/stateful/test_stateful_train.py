"""toolgym-train runs on ToolGym/Stateful-v0 with the scripted user (a tiny model, a tiny budget)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("trl")


def test_toolgym_train_runs_a_step_on_generated_stateful_worlds(tmp_path):
    from toolgym_train.cli import main

    knobs = json.dumps({"records": 20, "distractors": 0, "domains": ["subscriptions"]})
    args = {"--preset": "tiny-cpu", "--output_dir": str(tmp_path), "--env_id": "ToolGym/Stateful-v0",
            "--env_kwargs": knobs, "--tiny_tokenizer_episodes": "6", "--tiny_hidden_size": "32",
            "--tiny_layers": "1", "--tiny_vocab_size": "600", "--warm_start_episodes": "2", "--sft_epochs": "1",
            "--sft_max_steps": "1", "--iterations": "1", "--eval_every": "0", "--episodes_per_iteration": "1",
            "--steps_per_iteration": "1", "--num_generations": "2", "--per_device_train_batch_size": "2",
            "--max_new_tokens": "8", "--max_turns": "3", "--eval_episodes": "1", "--max_length": "8192"}
    assert main([x for pair in args.items() for x in pair]) == 0
    report = json.loads((tmp_path / "results.json").read_text())
    assert "after_step" in report["stages"]
    assert (tmp_path / "final" / "config.json").is_file()
