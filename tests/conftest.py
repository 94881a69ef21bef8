"""Shared fixtures: the paper's test set (when shared/ is beside the repo), the shop domain, a tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# A shared, busy CI machine makes data generation slow now and then: no test may fail for that.
settings.register_profile("toolgym", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("toolgym")

REPO = Path(__file__).resolve().parents[1]
SHOP_SUITE = REPO / "tests" / "fixtures" / "shop" / "shop.jsonl"
"""A stateful suite: tasks whose tools change a small shop database (tests/fixtures/shop)."""


def find_shared(relative: str) -> Path | None:
    """A file of ``shared/data/`` beside the repository (or inside it), or None."""
    candidates = (REPO.parent / "shared" / "data" / relative, REPO / "shared" / "data" / relative)
    return next((path.resolve() for path in candidates if path.is_file()), None)


def find_ftrl_test_file() -> Path | None:
    """FTRL's 200 test environments: ``shared/data/ftrl_test.jsonl`` beside the repository."""
    return find_shared("ftrl_test.jsonl")


@pytest.fixture(scope="session")
def rotbench_file() -> Path:
    """RoTBench's clean first-turn file (105 items)."""
    path = find_shared("rotbench/First_Turn/clean.json")
    if path is None:
        pytest.skip("RoTBench's clean.json is absent: expected shared/data/rotbench/First_Turn/clean.json.")
    return path


@pytest.fixture(scope="session")
def ftrl_test_file() -> Path:
    path = find_ftrl_test_file()
    if path is None:
        pytest.skip(
            "FTRL's test set is absent: expected shared/data/ftrl_test.jsonl beside the repository "
            "(../shared/data/ftrl_test.jsonl)."
        )
    return path


@pytest.fixture(scope="session")
def ftrl_rows(ftrl_test_file: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in ftrl_test_file.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def shop_suite() -> Path:
    return SHOP_SUITE


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random Qwen2 model and BPE tokenizer with a plain chat template (needs torch)."""
    pytest.importorskip("torch")
    tokenizers = pytest.importorskip("tokenizers")
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300, special_tokens=special, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["<tool_call> the answer is Paris </tool_call> who directed what"] * 20, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = (
        "{% if tools %}<|im_start|>system\n{{ tools | tojson }}<|im_end|>\n{% endif %}"
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    path = tmp_path_factory.mktemp("tiny_hf")
    tokenizer.save_pretrained(path)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096)
    Qwen2ForCausalLM(config).save_pretrained(path)
    return path
