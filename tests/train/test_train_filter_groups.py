"""Dynamic sampling (``filter_groups``): only prefixes whose sampled group has reward spread train."""

from __future__ import annotations

import json


class _ScriptedReward:
    """Scores row ``flat`` 0 whatever the completion, row ``varied`` by the completion's length."""

    def __call__(self, completions, scenario, replay, **kwargs):
        return [0.0 if s == "flat" else float(len(c)) for c, s in zip(completions, scenario, strict=True)]


def test_rows_without_reward_spread_are_dropped(model, tokenizer):
    import torch

    from toolgym_train.config import ToolGymTrainConfig
    from toolgym_train.step import rows_with_spread

    config = ToolGymTrainConfig(model="tiny", num_generations=4, max_new_tokens=6, temperature=1.0,
                                filter_groups=True)
    torch.manual_seed(0)
    rows = [{"prompt": "Question: who directed it?", "scenario": name, "replay": json.dumps([])}
            for name in ("flat", "varied", "flat", "varied")]
    kept = rows_with_spread(rows, model, tokenizer, config, _ScriptedReward())
    assert [row["scenario"] for row in kept] == ["varied", "varied"]


def test_all_rows_stay_when_no_group_has_spread(model, tokenizer):
    from toolgym_train.config import ToolGymTrainConfig
    from toolgym_train.step import rows_with_spread

    config = ToolGymTrainConfig(model="tiny", num_generations=2, max_new_tokens=4)
    rows = [{"prompt": "Hi", "scenario": "flat", "replay": "[]"}] * 3
    assert rows_with_spread(rows, model, tokenizer, config, _ScriptedReward()) == rows
