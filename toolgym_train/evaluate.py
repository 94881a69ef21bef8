"""Evaluation on held-out seeds: Solve-P/R/F1 and answer accuracy per shape; table, JSON and PNG."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolgym_train.config import ToolGymTrainConfig
from toolgym_train.rollout import Episode, HFGenerator, rollout

__all__ = [
    "METRICS",
    "evaluate",
    "evaluate_episodes",
    "format_table",
    "paired_gain",
    "plot_report",
    "summarize",
    "write_report",
]

METRICS: tuple[str, ...] = ("solve_precision", "solve_rate", "solve_f1", "answer_correct")
"""The env's info keys reported per shape (Solve-P, Solve-R, Solve-F1, answer accuracy)."""


def summarize(episodes: Sequence[Episode]) -> dict[str, dict[str, float]]:
    """Mean of each metric per scenario shape and over all (``"all"``), plus episode counts (``"n"``)."""
    groups: dict[str, list[Episode]] = defaultdict(list)
    for ep in episodes:
        groups[str(getattr(ep.scenario, "shape", "unknown"))].append(ep)
        groups["all"].append(ep)
    return {shape: _means(eps) for shape, eps in sorted(groups.items())}


def _means(episodes: Sequence[Episode]) -> dict[str, float]:
    out = {m: sum(float(ep.info.get(m, 0.0)) for ep in episodes) / len(episodes) for m in METRICS}
    out["reward"] = sum(ep.episode_reward for ep in episodes) / len(episodes)
    out["n"] = float(len(episodes))
    return out


def evaluate(
    model: Any, tokenizer: Any, config: ToolGymTrainConfig, batch_size: int = 16
) -> dict[str, dict[str, float]]:
    """Plays ``config.eval_episodes`` held-out episodes (seeds from ``config.eval_seed``) and summarizes."""
    return summarize(evaluate_episodes(model, tokenizer, config, batch_size))


def evaluate_episodes(
    model: Any, tokenizer: Any, config: ToolGymTrainConfig, batch_size: int = 16
) -> list[Episode]:
    """Plays the held-out episodes (greedy at ``eval_temperature`` 0), in seed order."""
    from toolgym_train.policy import make_env

    generate = HFGenerator(model, tokenizer, config.max_new_tokens, config.eval_temperature)
    seeds = list(range(config.eval_seed, config.eval_seed + config.eval_episodes))
    envs = [make_env(config) for _ in range(min(batch_size, len(seeds)))]
    episodes: list[Episode] = []
    try:
        for start in range(0, len(seeds), len(envs)):
            chunk = seeds[start : start + len(envs)]
            episodes += rollout(
                envs[: len(chunk)], generate, tokenizer, seeds=chunk, max_length=config.max_length
            )
    finally:  # sandboxed suites hold a worker process per env
        for env in envs:
            env.close()
    return episodes


def paired_gain(
    before: Sequence[float], after: Sequence[float], resamples: int = 10_000, seed: int = 0
) -> dict[str, float]:
    """Mean per-episode gain of ``after`` over ``before`` on the same held-out episodes.

    Returns the mean difference, a 95% paired bootstrap interval, and how many episodes got better,
    worse or stayed the same, so a gain can be told apart from evaluation noise.

    Example:
        >>> gain = paired_gain([0.0, 0.5, 1.0, 0.0], [1.0, 0.5, 1.0, 0.0])
        >>> gain["mean"], gain["better"], gain["worse"]
        (0.25, 1, 0)
    """
    import numpy as np

    if len(before) != len(after) or not before:
        raise ValueError("paired_gain needs two equally long, non-empty lists (the same episodes).")
    diff = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return {
        "mean": float(diff.mean()),
        "ci95_low": float(low),
        "ci95_high": float(high),
        "better": int((diff > 0).sum()),
        "worse": int((diff < 0).sum()),
        "same": int((diff == 0).sum()),
        "episodes": len(diff),
    }


def format_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A plain-text table: one row per (stage, shape), columns Solve-P/R/F1, answer accuracy, n."""
    header = f"{'stage':<12} {'shape':<20} {'Solve-P':>8} {'Solve-R':>8} {'Solve-F1':>9} {'Ans-Acc':>8} {'n':>5}"
    lines = [header, "-" * len(header)]
    for stage, by_shape in results.items():
        for shape, m in by_shape.items():
            lines.append(
                f"{stage:<12} {shape:<20} {m['solve_precision']:>8.3f} {m['solve_rate']:>8.3f} "
                f"{m['solve_f1']:>9.3f} {m['answer_correct']:>8.3f} {int(m['n']):>5}"
            )
    return "\n".join(lines)


def write_report(
    out_dir: str | Path,
    results: dict[str, Any],
    curve: Sequence[dict[str, float]],
    plot: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Writes ``results.json`` (and ``report.png`` when ``plot``) under ``out_dir``; returns the JSON path."""
    extra = extra or {}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps({"stages": results, "curve": list(curve), **extra}, indent=2))
    if plot:
        plot_report(results, curve, out / "report.png")
    return path


def plot_report(
    results: dict[str, dict[str, dict[str, float]]], curve: Sequence[dict[str, float]], path: Path
) -> None:
    """Draws the learning curve (rollout Solve-F1 per iteration) and before/after bars per shape."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    if curve:
        xs = [c["iteration"] for c in curve]
        left.plot(xs, [c["solve_f1"] for c in curve], marker="o", label="rollout Solve-F1")
        left.plot(xs, [c["reward"] for c in curve], marker="s", label="mean episode reward")
        left.legend()
    left.set(title="Learning curve (training rollouts)", xlabel="iteration")
    shapes = sorted({s for by_shape in results.values() for s in by_shape})
    width = 0.8 / max(len(results), 1)
    for i, (stage, by_shape) in enumerate(results.items()):
        values = [by_shape.get(s, {}).get("solve_f1", 0.0) for s in shapes]
        right.bar([j + i * width for j in range(len(shapes))], values, width, label=stage)
    right.set_xticks(
        [j + width * (len(results) - 1) / 2 for j in range(len(shapes))], shapes, rotation=20
    )
    right.set(title="Held-out Solve-F1 by stage", ylim=(0, 1))
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
