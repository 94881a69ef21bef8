"""The whole pipeline runs from the CLI on a tiny budget and writes its report."""

from __future__ import annotations

import json


def test_the_cli_runs_warm_start_rl_and_evaluation(tmp_path):
    from toolgym_train.cli import main

    code = main(
        [
            "--preset",
            "tiny-cpu",
            "--output_dir",
            str(tmp_path),
            "--tiny_tokenizer_episodes",
            "30",
            "--tiny_hidden_size",
            "32",
            "--tiny_layers",
            "1",
            "--tiny_vocab_size",
            "800",
            "--warm_start_episodes",
            "4",
            "--sft_epochs",
            "1",
            "--sft_max_steps",
            "2",
            "--iterations",
            "2",
            "--eval_every",
            "1",
            "--episodes_per_iteration",
            "2",
            "--steps_per_iteration",
            "1",
            "--num_generations",
            "2",
            "--per_device_train_batch_size",
            "2",
            "--max_new_tokens",
            "8",
            "--max_turns",
            "2",
            "--eval_episodes",
            "2",
            "--eval_fault_rate",
            "0.5",
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "results.json").read_text())
    assert set(report["stages"]) == {"untrained", "warm_start", "after_step"}
    assert [p["iteration"] for p in report["held_out_curve"]] == [0, 1, 2]  # the warm start, then per iteration
    assert report["held_out_curve"][0]["solve_f1"] == report["stages"]["warm_start"]["overall"]["solve_f1"]
    assert (tmp_path / "warm_start" / "config.json").is_file() and (tmp_path / "final" / "config.json").is_file()
    assert (tmp_path / "report.png").stat().st_size > 0
    slice_ = report["fault_slice"]  # the held-out seeds again, with transient tool faults
    assert set(slice_) == set(report["stages"])
    assert all({"solve_f1", "faulted_episodes", "recovery_rate"} <= set(point) for point in slice_.values())
