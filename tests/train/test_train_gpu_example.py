"""The bundled GPU scripts: the paper's settings with vLLM when installed (its run needs GPUs and a hub
model), and the rollout-backend smoke test (its vLLM runs need a GPU; its hf run works anywhere)."""

import importlib.util
import json
from pathlib import Path

from vllm_stub import pretend_vllm

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "train_qwen_gpu.py"
SMOKE = ROOT / "benchmarks" / "gpu_rollout_smoke.py"


def load_example(path: Path = EXAMPLE):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse(argv):
    from toolgym_train.cli import expand_preset, make_parser

    (config,) = make_parser().parse_args_and_config(expand_preset(argv))
    return config


def test_the_gpu_script_uses_the_papers_settings():
    config = parse(load_example().arguments([]))
    assert config.model == "Qwen/Qwen2.5-7B-Instruct"
    assert (config.learning_rate, config.num_generations, config.beta) == (1e-6, 16, 0.001)
    assert (config.max_turns, config.max_new_tokens, config.mode) == (20, 1024, "step")


def test_the_users_options_override_the_papers():
    config = parse(load_example().arguments(["--use_peft", "True", "--iterations", "2"]))
    assert config.use_peft and config.iterations == 2


def test_the_gpu_script_rolls_out_on_vllm_when_it_is_installed(monkeypatch):
    pretend_vllm(monkeypatch, installed=True)
    config = parse(load_example().arguments([]))
    assert (config.rollout_backend, config.use_vllm, config.vllm_mode) == ("vllm-colocate", True, "colocate")
    config = parse(load_example().arguments(["--vllm_mode", "server"]))
    assert (config.rollout_backend, config.use_vllm, config.vllm_mode) == ("vllm-server", True, "server")
    config = parse(load_example().arguments(["--rollout_backend", "hf"]))
    assert (config.rollout_backend, config.use_vllm) == ("hf", True)
    pretend_vllm(monkeypatch, installed=False)
    config = parse(load_example().arguments([]))
    assert (config.rollout_backend, config.use_vllm) == ("hf", False)


def test_the_rollout_smoke_script_runs_its_hf_backend_anywhere(tmp_path):
    smoke = load_example(SMOKE)
    code = smoke.main([
        "--backends", "hf", "--out", str(tmp_path), "--hidden-size", "32", "--layers", "1", "--heads", "2",
        "--vocab-size", "600", "--min-params", "0", "--tokenizer-episodes", "20", "--warm-episodes", "8",
        "--warm-steps", "1", "--episodes", "2", "--max-turns", "2", "--max-new-tokens", "8",
    ])
    (result,) = json.loads((tmp_path / "smoke.json").read_text())
    assert code == 0 and result["token_exact"] and result["grpo_steps"] == 1
    assert result["generate_calls"] >= 1 and result["prompts_per_call"] == 2  # both episodes' turns in one call
