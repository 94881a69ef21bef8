"""The training configuration: one dataclass, readable from YAML presets and the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MODES", "PRESETS_DIR", "ToolGymTrainConfig", "preset_path"]

MODES: tuple[str, ...] = ("step", "episode", "dpo")
"""Training modes: per-turn GRPO on prefixes (FTRL), whole-episode GRPO, DPO on env-ranked pairs."""

PRESETS_DIR = Path(__file__).parent / "presets"
"""Where the bundled YAML presets live."""


def preset_path(name: str) -> Path:
    """Returns the YAML file of preset ``name``.

    Raises:
        ValueError: When no such preset is bundled (the message lists the ones that are).
    """
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise ValueError(f"Unknown preset {name!r}. Bundled presets: {', '.join(names)}.")
    return path


def _help(text: str) -> dict[str, Any]:
    return {"help": text}


@dataclass
class ToolGymTrainConfig:
    """Everything one ``toolgym-train`` run needs: policy, env, warm start, RL, evaluation."""

    preset: str | None = field(
        default=None, metadata=_help("Bundled preset to start from (e.g. tiny-cpu).")
    )
    model: str = field(
        default="tiny",
        metadata=_help(
            "'tiny' builds the offline tiny Qwen2 model; else a local directory or a Hub id."
        ),
    )
    tokenizer: str | None = field(
        default=None, metadata=_help("Tokenizer path or id; defaults to `model`.")
    )
    output_dir: str = field(
        default="runs/toolgym", metadata=_help("Where checkpoints and reports go.")
    )
    env_id: str = field(
        default="ToolGym/Scenario-v0", metadata=_help("Gymnasium id of the ToolGym env.")
    )
    env_kwargs: dict | str | None = field(
        default=None,
        metadata=_help("gym.make keyword arguments (a dict, or JSON on the command line)."),
    )
    max_turns: int = field(default=20, metadata=_help("Turns per episode (max_episode_steps)."))
    mode: str = field(default="step", metadata=_help(f"Training mode, one of {MODES}."))
    algorithm: str = field(
        default="grpo", metadata=_help("RL algorithm for step/episode modes: grpo or rloo.")
    )
    iterations: int = field(
        default=3, metadata=_help("Collect-then-train iterations (K); 0 stops after the warm start.")
    )
    episodes_per_iteration: int = field(
        default=16, metadata=_help("Episodes rolled out per iteration.")
    )
    steps_per_iteration: int = field(default=4, metadata=_help("Optimizer steps per iteration."))
    num_generations: int = field(default=4, metadata=_help("Completions sampled per prompt (G)."))
    per_device_train_batch_size: int = field(
        default=8, metadata=_help("Completions per device per step.")
    )
    gradient_accumulation_steps: int = field(
        default=1, metadata=_help("Gradient accumulation steps.")
    )
    learning_rate: float = field(default=1e-6, metadata=_help("RL (and DPO) learning rate."))
    beta: float = field(default=0.001, metadata=_help("KL coefficient (GRPO/RLOO) or DPO beta."))
    temperature: float = field(default=1.0, metadata=_help("Sampling temperature for rollouts."))
    top_p: float = field(
        default=1.0, metadata=_help("Nucleus sampling mass of rollouts, DPO samples and GRPO's completions.")
    )
    max_new_tokens: int = field(default=1024, metadata=_help("Longest assistant turn in tokens."))
    max_length: int = field(
        default=8192, metadata=_help("Longest episode (prompt + turns) in tokens.")
    )
    warm_start_episodes: int = field(
        default=0, metadata=_help("Oracle episodes for the SFT warm start (0: none).")
    )
    sft_epochs: float = field(default=1.0, metadata=_help("SFT warm-start epochs."))
    sft_learning_rate: float = field(default=2e-5, metadata=_help("SFT warm-start learning rate."))
    sft_batch_size: int = field(default=8, metadata=_help("SFT per-device batch size."))
    sft_max_steps: int = field(
        default=0, metadata=_help("SFT optimizer steps; 0: as many as sft_epochs make.")
    )
    sft_lr_scheduler_type: str = field(
        default="cosine", metadata=_help("SFT learning-rate schedule (transformers' names).")
    )
    sft_warmup_steps: float = field(
        default=0.05, metadata=_help("SFT warmup: steps, or a fraction of them when below 1.")
    )
    eval_episodes: int = field(default=32, metadata=_help("Held-out episodes per evaluation."))
    eval_seed: int = field(
        default=1_000_000, metadata=_help("First held-out seed (training never uses it).")
    )
    train_seed: int = field(default=0, metadata=_help("First training seed."))
    eval_temperature: float = field(
        default=0.0, metadata=_help("Evaluation temperature (0 = greedy).")
    )
    seed: int = field(
        default=42, metadata=_help("Seed of torch, sampling and the tiny model's init.")
    )
    use_vllm: bool = field(
        default=False,
        metadata=_help("GRPO's/RLOO's own completions on vLLM (GPU, vllm installed): the process's one engine, "
                       "shared with a vLLM rollout_backend."),
    )
    vllm_mode: str = field(default="colocate", metadata=_help("vLLM mode: colocate or server."))
    rollout_backend: str = field(
        default="hf",
        metadata=_help("Engine of every other sample of the policy (multi-turn rollouts, episode mode, DPO pairs, "
                       "held-out evaluation): hf (model.generate), vllm-colocate (a vLLM engine in this process, "
                       "shared with --use_vllm), vllm-server (TRL's client to `trl vllm-serve`, weights pushed "
                       "after each optimizer step). The vLLM ones need vllm and a GPU."),
    )
    vllm_gpu_memory_utilization: float = field(
        default=0.3, metadata=_help("GPU memory share of the colocated vLLM engine (the rest trains).")
    )
    vllm_server_base_url: str = field(
        default="http://localhost:8000", metadata=_help("URL of the `trl vllm-serve` server (vllm-server, vllm_mode server).")
    )
    use_peft: bool = field(
        default=False, metadata=_help("Train LoRA adapters (peft) instead of all weights.")
    )
    train_modules: str = field(
        default="all",
        metadata=_help("RL trains only these modules, the rest frozen: all, or some of embed, attn, mlp, norm, "
                       "lm_head, attn.q, ..., mlp.down (comma-separated); LoRA targets with --use_peft."),
    )
    train_layers: str = field(
        default="all", metadata=_help("RL trains only these layers: all, lower_half, upper_half, or ranges like 0-13,20.")
    )
    enable_thinking: bool | None = field(
        default=None,
        metadata=_help("Reasoning mode: passed to the chat template (Qwen3's switch) in rollouts, training "
                       "prompts, SFT rows and evaluation; unset: not passed."),
    )
    eval_every: int = field(
        default=0,
        metadata=_help("Held-out evaluation every K RL iterations too (0: only before and after); the held-out "
                       "learning curve starts at the warm start."),
    )
    filter_groups: bool = field(
        default=False,
        metadata=_help("Step mode, dynamic sampling (DAPO): before each iteration sample num_generations completions "
                       "per prefix and train only on prefixes whose rewards differ (groups with a learning signal)."),
    )
    eval_fault_rate: float = field(
        default=0.0,
        metadata=_help("Also play the held-out seeds with this env fault_rate (transient, retryable tool "
                       "failures) at each evaluation and report the recovery rate (0: no fault slice)."),
    )
    curriculum: bool = field(
        default=False,
        metadata=_help("Move the training envs' difficulty (levels 1-5 of toolgym.generate.difficulty, from "
                       "env_kwargs' difficulty or 1) by the rollouts' Solve-F1 (toolgym.wrappers.Curriculum); "
                       "held-out evaluation keeps env_kwargs as given. results.json gets the level history."),
    )
    curriculum_window: int = field(
        default=16, metadata=_help("Training episodes of one level whose mean Solve-F1 decides a move.")
    )
    curriculum_up: float = field(default=0.8, metadata=_help("Mean Solve-F1 at or above which the level rises."))
    curriculum_down: float = field(default=0.3, metadata=_help("Mean Solve-F1 at or below which the level falls."))
    lora_r: int = field(default=16, metadata=_help("LoRA rank."))
    lora_alpha: int = field(default=32, metadata=_help("LoRA alpha."))
    bf16: bool = field(default=False, metadata=_help("Train in bfloat16 (GPU)."))
    gradient_checkpointing: bool = field(default=False, metadata=_help("Trade compute for memory."))
    tiny_hidden_size: int = field(default=192, metadata=_help("Tiny model width."))
    tiny_layers: int = field(default=3, metadata=_help("Tiny model depth."))
    tiny_vocab_size: int = field(default=3000, metadata=_help("Tiny tokenizer vocabulary size."))
    tiny_tokenizer_episodes: int = field(
        default=2000, metadata=_help("Oracle episodes the tiny BPE is trained on.")
    )
    report_to: str = field(
        default="none", metadata=_help("Trainer logging integrations (none, wandb, ...).")
    )
    logging_steps: int = field(default=1, metadata=_help("Log every N optimizer steps."))
    plot: bool = field(
        default=True, metadata=_help("Draw the learning curve and before/after bars (PNG).")
    )

    @property
    def chat_template_kwargs(self) -> dict[str, Any]:
        """Extra chat-template variables of every rendering (``enable_thinking`` when set)."""
        return {} if self.enable_thinking is None else {"enable_thinking": self.enable_thinking}

    def __post_init__(self) -> None:
        self.env_kwargs = _parse_dict(self.env_kwargs, "env_kwargs")
        self._check_choices()
        self._check_sizes()
        self._check_targeting()
        self._check_model()
        self.make_curriculum()  # checks the curriculum settings

    def make_curriculum(self) -> Any:
        """A fresh :class:`toolgym.wrappers.CurriculumSchedule` of the run (None without ``curriculum``).

        Raises:
            ValueError: ``curriculum`` with a suite env, or bad curriculum settings.
        """
        if not self.curriculum:
            return None
        if self.env_id == "ToolGym/Suite-v0" or "path" in self.env_kwargs or "scenarios" in self.env_kwargs:
            raise ValueError("curriculum moves the builder's difficulty; it needs a generator env_id such as "
                             "ToolGym/Scenario-v0, not a suite.")
        from toolgym.wrappers import CurriculumSchedule

        return CurriculumSchedule(window=self.curriculum_window, up=self.curriculum_up, down=self.curriculum_down,
                                  start=self.env_kwargs.get("difficulty") or 1)

    def _check_choices(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not a training mode. Use one of {MODES}.")
        if self.algorithm not in ("grpo", "rloo"):
            raise ValueError(f"algorithm={self.algorithm!r} is unknown. Use 'grpo' or 'rloo'.")
        if self.mode == "episode" and self.algorithm != "grpo":
            raise ValueError(
                "mode='episode' runs through GRPO's rollout_func; set --algorithm grpo."
            )
        if self.mode == "dpo" and self.beta <= 0:
            raise ValueError(
                "mode='dpo' needs beta > 0 (DPO's loss is flat at beta=0); try --beta 0.1."
            )
        if self.vllm_mode not in ("colocate", "server"):
            raise ValueError(
                f"vllm_mode={self.vllm_mode!r} is unknown. Use 'colocate' or 'server'."
            )
        self._check_backend()

    def _check_backend(self) -> None:
        from toolgym_train.generation import BACKENDS

        if self.rollout_backend not in BACKENDS:
            raise ValueError(f"rollout_backend={self.rollout_backend!r} is unknown. Use one of {tuple(BACKENDS)}.")
        vllm_backend = self.rollout_backend in ("vllm-colocate", "vllm-server")
        if vllm_backend and self.use_vllm and self.rollout_backend != f"vllm-{self.vllm_mode}":
            raise ValueError(
                f"rollout_backend={self.rollout_backend!r} with use_vllm and vllm_mode={self.vllm_mode!r} would hold "
                f"two vLLM engines. Set --vllm_mode {self.rollout_backend.removeprefix('vllm-')}, or "
                f"--rollout_backend vllm-{self.vllm_mode}."
            )
        if not 0 < self.top_p <= 1 or not 0 < self.vllm_gpu_memory_utilization < 1:
            raise ValueError(
                f"top_p={self.top_p} must be in (0, 1] and vllm_gpu_memory_utilization="
                f"{self.vllm_gpu_memory_utilization} in (0, 1)."
            )

    def _check_sizes(self) -> None:
        if self.num_generations < 2:
            raise ValueError(
                f"num_generations={self.num_generations}: group-relative methods need at least 2 "
                "completions per prompt (and DPO needs 2 to make a pair). Set --num_generations 2 or more."
            )
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if batch % self.num_generations:
            raise ValueError(
                f"per_device_train_batch_size * gradient_accumulation_steps = {batch} is not divisible by "
                f"num_generations = {self.num_generations}: every prompt's group must fit in a batch. "
                f"Use a batch that is a multiple of {self.num_generations}, or change num_generations."
            )
        for name in (
            "episodes_per_iteration",
            "steps_per_iteration",
            "max_turns",
            "max_new_tokens",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1.")
        if self.eval_episodes < 0 or self.warm_start_episodes < 0 or self.iterations < 0:
            raise ValueError(
                "eval_episodes, warm_start_episodes and iterations must be 0 or more "
                "(iterations=0 stops after the warm start)."
            )
        train_end = self.train_seed + max(
            self.warm_start_episodes + self.iterations * self.episodes_per_iteration,
            self.tiny_tokenizer_episodes if self.model == "tiny" else 0,
        )
        eval_end = self.eval_seed + self.eval_episodes
        if self.eval_episodes and self.eval_seed < train_end and self.train_seed < eval_end:
            raise ValueError(
                f"The held-out seeds [{self.eval_seed}, {eval_end}) overlap the training seeds "
                f"[{self.train_seed}, {train_end}); held-out seeds must be apart. Move --eval_seed "
                f"to {train_end} or more (e.g. 1000000)."
            )

    def _check_targeting(self) -> None:
        from toolgym_train.targeting import parse_layers, parse_modules

        parse_modules(self.train_modules)
        if self.train_layers.strip() not in ("all", "lower_half", "upper_half"):
            parse_layers(self.train_layers, 10**6)  # the form; the range is checked against the model
        if self.eval_every < 0:
            raise ValueError(f"eval_every={self.eval_every} must be 0 (off) or a number of iterations.")
        if not 0 <= self.eval_fault_rate < 1:
            raise ValueError(f"eval_fault_rate={self.eval_fault_rate} must be from 0 up to (not including) 1.")

    def _check_model(self) -> None:
        for name in ("model", "tokenizer"):
            value = getattr(self, name)
            if value is None or value == "tiny" or os.path.isdir(value):
                continue
            looks_like_path = value.startswith((".", "/", "~")) or value.count("/") > 1
            if looks_like_path:
                raise ValueError(
                    f"{name}={value!r} does not exist. Pass a directory written by save_pretrained, a Hub id "
                    "such as 'Qwen/Qwen2.5-7B-Instruct' (needs network or the HF cache), or 'tiny' for the "
                    "offline tiny model."
                )
        if self.tokenizer == "tiny" and self.model != "tiny":
            raise ValueError(
                "tokenizer='tiny' only goes with model='tiny'; leave --tokenizer unset."
            )

    def trainer_kwargs(self, run_dir: str) -> dict[str, Any]:
        """The TrainingArguments every stage shares (SFT, GRPO/RLOO, DPO), for one run directory."""
        return {
            "output_dir": run_dir,
            "bf16": self.bf16,
            "gradient_checkpointing": self.gradient_checkpointing,
            "report_to": self.report_to,
            "logging_steps": self.logging_steps,
            "save_strategy": "no",
            "seed": self.seed,
        }

    def iteration_kwargs(self, run_dir: str) -> dict[str, Any]:
        """The TrainingArguments of one RL iteration (GRPO/RLOO or DPO): shared ones plus optimizer."""
        return {
            **self.trainer_kwargs(run_dir),
            "max_steps": self.steps_per_iteration,
            "learning_rate": self.learning_rate,
            "beta": self.beta,
            "per_device_train_batch_size": self.per_device_train_batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "lr_scheduler_type": "constant",
        }

    @property
    def global_batch(self) -> int:
        """Completions per optimizer step on one process."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps


def _parse_dict(value: dict | str | None, name: str) -> dict:
    import json

    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{name} must be a JSON object, e.g. '{{\"num_distractors\": 3}}': {err}"
        ) from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{name} must be a JSON object, got {type(parsed).__name__}.")
    return parsed
