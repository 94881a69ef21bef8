"""Held-out evaluation of a policy, through ToolGym's one episode loop and summary, and its report.

The held-out episodes are played by :func:`toolgym.evaluate.evaluate` with a
:class:`toolgym.hf.TokenAgent` over the run's generator (:func:`toolgym_train.generation.make_generator`;
greedy, batched, token-exact). On the ``hf`` backend that is ``toolgym eval``'s
:class:`~toolgym.hf.HFAgent`, so ``toolgym eval --env ENV_ID --env-kwargs ... --seed EVAL_SEED --limit N
--agent hf:CHECKPOINT`` reports the same figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolgym.evaluate import EvalReport
from toolgym_train.config import ToolGymTrainConfig


def episode_score(record: Mapping[str, Any]) -> float:
    """The headline score of one episode (or of a summary's ``overall``): Solve-F1, or for a
    stateful task, which has no sub-answers, its pass rate (tau-bench's pass^1).

    Example:
        >>> episode_score({"solve_f1": 0.5}), episode_score({"solve_f1": None, "passed": True})
        (0.5, 1.0)
    """
    if record.get("solve_f1") is not None:
        return float(record["solve_f1"])
    passed = record.get("passed", record.get("pass_rate"))
    return float(passed or 0.0)

__all__ = ["evaluate", "paired_gain", "plot_report", "write_report"]


def evaluate(model: Any, tokenizer: Any, config: ToolGymTrainConfig, batch_size: int | None = None) -> EvalReport:
    """Plays ``config.eval_episodes`` held-out episodes (seeds from ``config.eval_seed``) at
    ``config.eval_temperature`` (0: greedily), on the run's rollout backend.

    Args:
        model: The policy.
        tokenizer: Its tokenizer.
        config: The run's config.
        batch_size: Episodes played together; default 16 on ``hf``, all of them on vLLM.

    Returns:
        The :class:`~toolgym.evaluate.EvalReport`, with one record per episode in seed order.
    """
    import torch

    from toolgym.evaluate import evaluate as play
    from toolgym.hf import TokenAgent
    from toolgym_train.generation import make_generator
    from toolgym_train.policy import make_env

    generate = make_generator(config, model, tokenizer, temperature=config.eval_temperature)
    if batch_size is None:
        batch_size = 16 if config.rollout_backend == "hf" else max(1, config.eval_episodes)
    agent = TokenAgent(generate, tokenizer, config.max_length, batch_size, config.chat_template_kwargs)
    if config.eval_temperature > 0:  # as HFAgent(seed=...) does: sampled evaluations repeat
        torch.manual_seed(config.seed)
    env = make_env(config)
    try:
        return play(env, agent, limit=config.eval_episodes, seed=config.eval_seed, progress=False)
    finally:  # sandboxed suites hold a worker process per env
        env.close()


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


def write_report(
    out_dir: str | Path,
    stages: Mapping[str, EvalReport],
    curve: Sequence[dict[str, float]],
    plot: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Writes ``results.json`` (and ``report.png`` when ``plot``) under ``out_dir``; returns the JSON path.

    ``results.json`` holds ``stages`` (each stage's ``{"overall", "by_shape"}``, the keys of
    ``toolgym eval --json``), ``curve`` and ``extra``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results = {stage: report.to_dict() for stage, report in stages.items()}
    path.write_text(json.dumps({"stages": results, "curve": list(curve), **(extra or {})}, indent=2))
    if plot:
        plot_report(stages, curve, out / "report.png", (extra or {}).get("held_out_curve", []))
    return path


def plot_report(
    stages: Mapping[str, EvalReport], curve: Sequence[dict[str, float]], path: Path,
    held_out: Sequence[dict[str, float]] = (),
) -> None:
    """Draws the learning curves (held-out Solve-F1 and answer accuracy when evaluated during RL, and
    the training rollouts' Solve-F1 and reward) and held-out Solve-F1 per shape and stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    if curve:  # rollouts after iteration k: plotted at k + 1, where the held-out points of k + 1 are
        xs = [c["iteration"] + 1 for c in curve]
        left.plot(xs, [c["solve_f1"] for c in curve], alpha=0.4, label="training rollouts: Solve-F1")
        left.plot(xs, [c["reward"] for c in curve], alpha=0.4, label="training rollouts: episode reward")
    if held_out:
        xs = [p["iteration"] for p in held_out]
        left.plot(xs, [p["solve_f1"] for p in held_out], marker="o", linewidth=2, label="held-out Solve-F1")
        left.plot(xs, [p["answer_accuracy"] for p in held_out], marker="s", linewidth=2, label="held-out answer accuracy")
    if curve or held_out:
        left.legend()
    left.set(title="Learning curve (iteration 0: the warm start)", xlabel="RL iteration")
    shapes = [*sorted({s for report in stages.values() for s in report.by_shape}), "overall"]
    width = 0.8 / max(len(stages), 1)
    for i, (stage, report) in enumerate(stages.items()):
        rows = {**report.by_shape, "overall": report.overall}
        values = [rows.get(s, {}).get("solve_f1") or 0.0 for s in shapes]
        right.bar([j + i * width for j in range(len(shapes))], values, width, label=stage)
    right.set_xticks([j + width * (len(stages) - 1) / 2 for j in range(len(shapes))], shapes, rotation=20)
    right.set(title="Held-out Solve-F1 by stage", ylim=(0, 1))
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
