"""Bad input stops at once with a message that says how to fix it."""

from __future__ import annotations

import pytest

from toolgym_train.cli import main
from toolgym_train.config import ToolGymTrainConfig
from toolgym_train.policy import check_tokenizer


def test_a_batch_not_divisible_by_num_generations_is_rejected():
    with pytest.raises(ValueError, match="not divisible by num_generations"):
        ToolGymTrainConfig(per_device_train_batch_size=6, num_generations=4)


def test_a_missing_model_path_is_rejected_with_the_alternatives():
    with pytest.raises(ValueError, match="does not exist.*tiny"):
        ToolGymTrainConfig(model="./no/such/model")


def test_an_unknown_mode_lists_the_modes():
    with pytest.raises(ValueError, match="step"):
        ToolGymTrainConfig(mode="ppo")


def test_episode_mode_needs_grpo():
    with pytest.raises(ValueError, match="--algorithm grpo"):
        ToolGymTrainConfig(mode="episode", algorithm="rloo")


def test_overlapping_eval_and_train_seeds_are_rejected():
    with pytest.raises(ValueError, match="held-out"):
        ToolGymTrainConfig(eval_seed=5)


def test_held_out_seeds_below_the_training_seeds_must_not_reach_them():
    # eval seeds [0, 200) overlap training seeds starting at 100
    with pytest.raises(ValueError, match=r"\[0, 200\) overlap"):
        ToolGymTrainConfig(train_seed=100, eval_seed=0, eval_episodes=200)
    ToolGymTrainConfig(train_seed=100, eval_seed=0, eval_episodes=100)  # [0, 100) is apart


def test_the_cli_reports_bad_config_and_unknown_presets(capsys):
    assert main(["--preset", "tiny-cpu", "--num_generations", "3"]) == 2
    assert main(["--preset", "no-such-preset"]) == 2
    err = capsys.readouterr().err
    assert "divisible" in err and "tiny-cpu" in err


def test_an_unknown_env_id_suggests_close_ones():
    from toolgym_train.policy import check_env_id

    with pytest.raises(ValueError, match="Did you mean 'ToolGym/MultiHop-v0'"):
        check_env_id("ToolGym/MultiHopp-v0")


def test_a_tokenizer_without_a_tool_template_is_rejected(tokenizer):
    plain = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    plain.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(ValueError, match="tool-calling"):
        check_tokenizer(plain)
    plain.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        check_tokenizer(plain)


def test_the_tiny_tokenizer_parses_tool_calls(tokenizer):
    text = '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call><|im_end|>'
    parsed = tokenizer.parse_response(text, prefix="")
    assert parsed["tool_calls"] == [
        {"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
    ]
    assert "<tool_call>" in tokenizer.decode(tokenizer.encode(text), skip_special_tokens=True)
