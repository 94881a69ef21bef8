"""Train Qwen2.5-7B-Instruct in ToolGym envs with FTRL's settings (step-mode GRPO), on GPUs.

Settings from the paper: learning rate 1e-6, 16 samples per prompt (prefix), KL beta 0.001, 20 turns,
1024 new tokens per turn. Generation goes through vLLM when it is installed (``--use_vllm``, TRL's
colocate mode by default); ``--use_peft`` trains LoRA adapters instead of all weights.

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
    has_vllm = importlib.util.find_spec("vllm") is not None
    return [*PAPER_SETTINGS, "--use_vllm", str(has_vllm), *user_args]


if __name__ == "__main__":
    sys.exit(main(arguments(sys.argv[1:])))
