"""The bundled GPU script asks for the paper's settings (its run needs GPUs and a hub model)."""

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_qwen_gpu.py"


def load_example():
    spec = importlib.util.spec_from_file_location("train_qwen_gpu", EXAMPLE)
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
