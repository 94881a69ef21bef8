"""Train with TRL's GRPO on ToolGym envs served through OpenEnv (``toolgym serve``).

    pip install -e ".[train,openenv]"
    toolgym serve --suite gen:512:0 --port 8000 --max-sessions 256 &
    python examples/openenv_trl.py --server http://127.0.0.1:8000 --model Qwen/Qwen2.5-0.5B-Instruct \\
        --num-scenarios 512 --num-generations 8 --max-steps 100
    # offline smoke run on a CPU: a tiny model built locally, one step
    python examples/openenv_trl.py --server http://127.0.0.1:8000 --tiny --num-scenarios 8 --max-steps 1

Each GRPO prompt is a scenario of the served suite (its opening chat rendered by the chat template
with that scenario's tools). The rollout function plays one whole episode per generation, each in
its own server session (:class:`toolgym.integrations.openenv.RemoteToolEnv`), with the trainer's
current model, token-exact (:class:`toolgym.hf.TokenAgent`: each turn's sampled ids are kept and
the tool messages appended as the template renders them). It returns the ids, ``env_mask`` (tool
tokens out of the loss) and the episode's return, which is GRPO's reward.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from toolgym.evaluate import play_batch
from toolgym.hf import HFGenerator, TokenAgent
from toolgym.integrations.openenv import RemoteToolEnv


def opening_prompts(server: str, tokenizer: Any, count: int) -> dict[str, int]:
    """Opening prompt text -> index of its scenario on the server, for the first ``count``."""
    env, prompts = RemoteToolEnv(server), {}
    try:
        for index in range(count):
            obs, _ = env.reset(options={"index": index})
            text = tokenizer.apply_chat_template(obs["messages"], tools=obs["tools"] or None, tokenize=False,
                                                 add_generation_prompt=True)
            prompts[text] = index
    finally:
        env.close()
    return prompts


def episode_return(completions: Sequence[Any], episode_return: Sequence[float], **kwargs: Any) -> list[float]:
    """GRPO's reward: the episode's return, which the rollout function computed."""
    return [float(r) for r in episode_return]


class RemoteRollout:
    """TRL ``rollout_func``: one episode per prompt on the server, with the trainer's model.

    Args:
        server: The ``toolgym serve`` URL.
        prompts: Opening prompt text -> scenario index (:func:`opening_prompts`).
        max_new_tokens: Tokens per assistant turn.
        max_length: Tokens per episode.
    """

    def __init__(self, server: str, prompts: dict[str, int], max_new_tokens: int = 256, max_length: int = 4096):
        self.server, self.prompts = server, prompts
        self.max_new_tokens, self.max_length = max_new_tokens, max_length
        self.envs: list[RemoteToolEnv] = []

    def __call__(self, prompts: list[str], trainer: Any) -> dict[str, list]:
        while len(self.envs) < len(prompts):  # one session per generation, kept across steps
            self.envs.append(RemoteToolEnv(self.server))
        envs, tokenizer = self.envs[: len(prompts)], trainer.processing_class
        model = trainer.accelerator.unwrap_model(trainer.model)
        agent = TokenAgent(HFGenerator(model, tokenizer, self.max_new_tokens, temperature=1.0), tokenizer,
                           max_length=self.max_length)
        records = play_batch(envs, agent, options=[{"index": self.prompts[p]} for p in prompts])
        traces = [agent.trace(env) for env in envs]
        return {
            "prompt_ids": [t.prompt_ids for t in traces],
            "completion_ids": [t.completion_ids for t in traces],
            "logprobs": None,
            "env_mask": [t.env_mask for t in traces],
            "episode_return": [r["return"] for r in records],
        }

    def close(self) -> None:
        """Ends every session."""
        for env in self.envs:
            env.close()
        self.envs = []


def load_model(args: argparse.Namespace) -> tuple[Any, Any]:
    """The policy and its tokenizer: a hub id or path, or (``--tiny``) a tiny model built here."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = args.model
    if args.tiny:  # saved, so that TRL can load the reference model from its path
        from toolgym_train.tiny import build_tiny, oracle_transcripts

        path = f"{args.output_dir}/tiny-model"
        build_tiny(oracle_transcripts(200), out_dir=path, vocab_size=1500)
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    return AutoModelForCausalLM.from_pretrained(path), tokenizer


def train(args: argparse.Namespace) -> Any:
    """Runs GRPO for ``args.max_steps`` steps; returns the trainer."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    model, tokenizer = load_model(args)
    prompts = opening_prompts(args.server, tokenizer, args.num_scenarios)
    rollout = RemoteRollout(args.server, prompts, args.max_new_tokens, args.max_length)
    config = GRPOConfig(
        output_dir=args.output_dir, max_steps=args.max_steps, learning_rate=args.learning_rate,
        per_device_train_batch_size=args.num_generations, num_generations=args.num_generations,
        max_completion_length=args.max_length, beta=0.001, logging_steps=1, report_to="none",
        save_strategy="no", bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        vllm_importance_sampling_correction=False,  # the rollouts return no sampling logprobs
    )
    trainer = GRPOTrainer(model=model, reward_funcs=[episode_return], args=config, processing_class=tokenizer,
                          train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]), rollout_func=rollout)
    try:
        trainer.train()
    finally:
        rollout.close()
    return trainer


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8000", help="the `toolgym serve` URL")
    parser.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct", help="hub id or local path")
    parser.add_argument("--tiny", action="store_true", help="build a tiny model locally instead (CPU smoke run)")
    parser.add_argument("--num-scenarios", type=int, default=64, help="scenarios of the served suite to train on")
    parser.add_argument("--num-generations", type=int, default=8, help="episodes per scenario (GRPO group)")
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=1e-6)
    parser.add_argument("--max-new-tokens", type=int, default=256, help="tokens per assistant turn")
    parser.add_argument("--max-length", type=int, default=4096, help="tokens per episode")
    parser.add_argument("--output-dir", default="runs/openenv-grpo")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    train(make_parser().parse_args(argv))


if __name__ == "__main__":
    main()
