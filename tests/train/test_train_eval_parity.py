"""`toolgym eval --agent hf:PATH` and toolgym-train's held-out evaluation give the same figures."""

from __future__ import annotations

import json

from conftest import SMALL_ENV

from toolgym.cli import main
from toolgym_train.config import ToolGymTrainConfig
from toolgym_train.evaluate import evaluate


def test_toolgym_eval_reports_what_training_reports_for_the_same_checkpoint_and_seeds(
    warm_dir, warm_model, tokenizer, tmp_path, capsys
):
    config = ToolGymTrainConfig(
        output_dir=str(tmp_path), env_id="ToolGym/SingleHop-v0", env_kwargs=SMALL_ENV, max_turns=4,
        max_new_tokens=40, max_length=4096, eval_seed=1_000_000, eval_episodes=6,
        eval_temperature=1.0, seed=1_000_000,  # sampled (seeded), so the episodes call tools
    )
    trained = evaluate(warm_model, tokenizer, config)
    out = tmp_path / "episodes.jsonl"
    code = main([
        "eval", "--env", "ToolGym/SingleHop-v0", "--env-kwargs", json.dumps(SMALL_ENV),
        "--limit", "6", "--agent", f"hf:{warm_dir}", "--max-turns", "4",
        "--max-new-tokens", "40", "--max-length", "4096", "--temperature", "1", "--seed", "1000000", "--json", "--no-progress", "--out", str(out),
    ])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == json.loads(trained.to_json())
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["actions"] for r in records] == [e["actions"] for e in trained.episodes]
    # sampled text differs per episode, so equal actions mean equal prompts, ids and random draws
    assert len({json.dumps(r["actions"]) for r in records}) == len(records)
