"""Train Qwen2.5-7B-Instruct in ToolGym envs with FTRL's settings (step-mode GRPO), on GPUs.

Settings from the paper: learning rate 1e-6, 16 samples per prompt (prefix), KL beta 0.001, 20 turns,
1024 new tokens per turn. When vLLM is installed, every generation goes through it: the multi-turn
rollouts and held-out evaluation (``--rollout_backend vllm-colocate``) and GRPO's completions
(``--use_vllm``) share one vLLM engine in each training process (``--vllm_mode server`` switches both
to a ``trl vllm-serve`` server); without vLLM, Hugging Face ``generate`` does it all. ``--use_peft``
trains LoRA adapters instead of all weights.

Commands (run from the repository root; ``pip install -e .[train] vllm deepspeed``):

1 GPU (LoRA keeps a 7B model within one 80 GB GPU)::

    accelerate launch --num_processes 1 examples/train_qwen_gpu.py --use_peft

8 GPUs, DeepSpeed ZeRO-3, vLLM colocated with training::

    accelerate launch --config_file examples/accelerate_zero3.yaml examples/train_qwen_gpu.py

Multi-node (2 nodes x 8 GPUs; run on every node with its rank, MASTER_ADDR = node 0)::

    accelerate launch --config_file examples/accelerate_zero3.yaml \\
        --num_machines 2 --num_processes 16 --machine_rank $NODE_RANK \\
        --main_process_ip $MASTER_ADDR --main_process_port 29500 examples/train_qwen_gpu.py

A separate vLLM server (GPU 0 serves, GPUs 1-7 train)::

    CUDA_VISIBLE_DEVICES=0 trl vllm-serve --model Qwen/Qwen2.5-7B-Instruct --port 8000
    CUDA_VISIBLE_DEVICES=1,2,3,4,5,6,7 accelerate launch --config_file examples/accelerate_zero3.yaml \\
        --num_processes 7 examples/train_qwen_gpu.py --vllm_mode server

Any field of :class:`toolgym_train.config.ToolGymTrainConfig` can be overridden on the command line
(``--env_id ToolGym/MultiHop-v0``, ``--mode episode``, ``--iterations 20``, ...).
"""

from __future__ import annotations

import importlib.util
import sys

from toolgym_train.cli import main

PAPER_SETTINGS = [
    "--preset",
    "qwen2.5-7b-grpo",
    "--model",
    "Qwen/Qwen2.5-7B-Instruct",
    "--learning_rate",
    "1e-6",
    "--num_generations",
    "16",
    "--beta",
    "0.001",
    "--max_turns",
    "20",
    "--max_new_tokens",
    "1024",
]


def arguments(user_args: list[str]) -> list[str]:
    """The paper's settings, vLLM when installed, then the user's overrides (which win)."""
    return [*PAPER_SETTINGS, *generation_settings(user_args), *user_args]


def generation_settings(user_args: list[str]) -> list[str]:
    """vLLM for GRPO's completions and for the rollouts when vLLM is installed, in the user's
    ``--vllm_mode`` (colocate by default); Hugging Face ``generate`` otherwise."""
    if importlib.util.find_spec("vllm") is None:
        return ["--use_vllm", "False", "--rollout_backend", "hf"]
    mode = _user_value(user_args, "--vllm_mode") or "colocate"
    return ["--use_vllm", "True", "--vllm_mode", mode, "--rollout_backend", f"vllm-{mode}"]


def _user_value(user_args: list[str], flag: str) -> str | None:
    """The value the user gave ``flag`` (``--flag value`` or ``--flag=value``), else None."""
    for i, arg in enumerate(user_args):
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(user_args):
            return user_args[i + 1]
    return None


if __name__ == "__main__":
    sys.exit(main(arguments(sys.argv[1:])))
