"""--curriculum: training rollouts move the env's difficulty; the run records the level history."""

from __future__ import annotations

import json

import pytest

TINY_RUN = [
    "--preset", "tiny-cpu", "--tiny_tokenizer_episodes", "20", "--tiny_hidden_size", "32", "--tiny_layers", "1",
    "--tiny_vocab_size", "600", "--warm_start_episodes", "0", "--iterations", "1", "--episodes_per_iteration", "2",
    "--steps_per_iteration", "1", "--num_generations", "2", "--per_device_train_batch_size", "2",
    "--max_new_tokens", "8", "--max_turns", "2", "--eval_episodes", "0", "--plot", "false",
]


def test_a_curriculum_run_moves_the_level_and_saves_its_history(tmp_path):
    from toolgym_train.cli import main

    code = main([*TINY_RUN, "--output_dir", str(tmp_path), "--env_kwargs", '{"difficulty": 3}',
                 "--curriculum", "true", "--curriculum_window", "1"])
    assert code == 0
    report = json.loads((tmp_path / "results.json").read_text())
    curriculum = report["curriculum"]
    # The untrained tiny model solves nothing: the first finished episode (Solve-F1 0) lowers the
    # level; its batch mate, played at the old level, does not count.
    assert [e["level"] for e in curriculum["history"]] == [3, 3]
    assert all(e["score"] == 0.0 for e in curriculum["history"])
    assert curriculum["level"] == 2 and [p["difficulty"] for p in report["curve"]] == [2]


def test_a_curriculum_needs_a_generator_env():
    from toolgym_train.config import ToolGymTrainConfig

    with pytest.raises(ValueError, match="not a suite"):
        ToolGymTrainConfig(env_id="ToolGym/Suite-v0", env_kwargs={"path": "x.jsonl"}, curriculum=True)
    with pytest.raises(ValueError, match="down < up"):
        ToolGymTrainConfig(curriculum=True, curriculum_up=0.2, curriculum_down=0.5)
    assert ToolGymTrainConfig().make_curriculum() is None
