"""Can RL find anything better than the warm start's greedy turn? Sampled turns at the policy's own prefixes.

Plays ``--episodes`` episodes of the tiny-cpu env greedily with a checkpoint (seeds 2,000,000..,
apart from training and evaluation), cuts them into per-turn prefixes as step-mode GRPO does, and
at each prefix samples 16 turns at ``--temperature`` and scores them with the env (the per-turn
reward GRPO trains on). Per kind of prefix (the opening turn; after a tool's answer; after an error
with a "Did you mean" hint; after another error) it prints how many prefixes have a sampled turn
that beats the greedy one, and how many have reward spread at all: an upper bound on what RL from
these samples can teach.

Usage:
    python benchmarks/exploration_probe.py runs/tiny-cpu/warm_start --episodes 48
"""

from __future__ import annotations

import argparse
import collections
import time

import torch

from toolgym.hf import load_pretrained
from toolgym_train.cli import expand_preset, make_parser
from toolgym_train.generation import make_generator
from toolgym_train.policy import make_env
from toolgym_train.rollout import rollout
from toolgym_train.step import PrefixReward, prefix_rows


def kind_of(prompt: str) -> str:
    last = prompt.rsplit("<|im_start|>", 2)[-2] if "<|im_start|>" in prompt else ""
    if "Did you mean" in last:
        return "error with hint"
    if "Error" in last:
        return "other error"
    if "tool" in last[:20] or "<tool_response>" in last:
        return "after a tool answer"
    return "opening turn"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--episodes", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--samples", type=int, default=16)
    args = parser.parse_args()
    torch.manual_seed(0)
    (config,) = make_parser().parse_args_and_config(expand_preset(["--preset", "tiny-cpu"]))
    model, tokenizer = load_pretrained(args.checkpoint)
    model.eval()
    greedy = make_generator(config, model, tokenizer, temperature=0.0)
    sample = make_generator(config, model, tokenizer, temperature=args.temperature)
    envs = [make_env(config) for _ in range(args.episodes)]
    start = time.perf_counter()
    episodes = rollout(envs, greedy, tokenizer, seeds=list(range(2_000_000, 2_000_000 + args.episodes)),
                       max_length=config.max_length)
    reward = PrefixReward(lambda: make_env(config))
    stats = collections.defaultdict(list)
    for row in prefix_rows(episodes, tokenizer):
        ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        n = args.samples
        texts = tokenizer.batch_decode(sample([ids] * n), skip_special_tokens=True)
        scores = reward(texts, scenario=[row["scenario"]] * n, replay=[row["replay"]] * n)
        best = tokenizer.batch_decode(greedy([ids]), skip_special_tokens=True)
        own = reward(best, scenario=[row["scenario"]], replay=[row["replay"]])[0]
        stats[kind_of(row["prompt"])].append((own, sum(s > own for s in scores), max(scores) > min(scores)))
    print(f"| prefix kind | prefixes | greedy turn's mean reward | a sample beats greedy | reward spread "
          f"| samples better than greedy (mean of {args.samples}) |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, rows in stats.items():
        print(f"| {kind} | {len(rows)} | {sum(r[0] for r in rows) / len(rows):.3f} | "
              f"{sum(r[1] > 0 for r in rows)} | {sum(r[2] for r in rows)} | "
              f"{sum(r[1] for r in rows) / len(rows):.2f} |")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
