"""Shared fixtures: a tiny Qwen2 model and tokenizer built once per session, offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_fakes import TOOLS, FakeEnv, canonical_call

SMALL_ENV = {"distractors": 1, "optional_params": 0, "rich_types": False}
"""Env knobs that keep prompts short, so tests train fast."""


def hand_transcripts() -> list[tuple[list[dict], list[dict]]]:
    """Scripted chats in the env's format, for the tokenizer's training text."""
    out = []
    for title, director in [("Blue Moon", "Ann Lee"), ("Red Sun", "Bo Chen")] * 20:
        env = FakeEnv()
        env.reset(seed=0 if title == "Blue Moon" else 1)
        env.step(canonical_call("film_lookup", {"title": title, "field": "director"}))
        env.step(f"<answer>{director}</answer>")
        out.append((env.messages, TOOLS))
    return out


def env_transcripts(n: int) -> list[tuple[list[dict], list[dict]]]:
    """Oracle transcripts of the real env, and the scripted ones of the fake env."""
    from toolgym_train.tiny import oracle_transcripts

    return oracle_transcripts(n, "ToolGym/SingleHop-v0", **SMALL_ENV) + hand_transcripts()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory holding the tiny model and tokenizer (``from_pretrained`` it for a fresh copy)."""
    from toolgym_train.tiny import build_tiny

    path = tmp_path_factory.mktemp("tiny")
    build_tiny(env_transcripts(60), out_dir=path, vocab_size=1200, hidden_size=64, num_layers=2)
    return path


@pytest.fixture(scope="session")
def tokenizer(tiny_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_dir)


@pytest.fixture
def model(tiny_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_dir)


@pytest.fixture(scope="session")
def warm_dir(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model after a short SFT warm start on oracle episodes (its samples differ in reward)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toolgym_train.config import ToolGymTrainConfig
    from toolgym_train.sft import warm_start

    path = tmp_path_factory.mktemp("warm")
    config = ToolGymTrainConfig(
        output_dir=str(path / "run"),
        env_id="ToolGym/SingleHop-v0",
        env_kwargs=SMALL_ENV,
        max_turns=4,
        warm_start_episodes=32,
        sft_epochs=2,
        sft_learning_rate=3e-3,
        sft_batch_size=8,
        max_length=4096,
        logging_steps=100,
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    model, _ = warm_start(model, tokenizer, config, config.output_dir)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def warm_model(warm_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(warm_dir)
