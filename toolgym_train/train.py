"""One training run: load or build the policy, warm start, K iterations of RL, evaluate, report."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from toolgym.evaluate import EvalReport, summarize
from toolgym_train.config import ToolGymTrainConfig
from toolgym_train.evaluate import episode_score, evaluate, paired_gain, write_report
from toolgym_train.generation import check_backends, make_generator
from toolgym_train.rollout import Episode, rollout

__all__ = ["collect", "rollout_stats", "run", "train_iteration"]


def collect(model: Any, tokenizer: Any, config: ToolGymTrainConfig, seeds: list[int], curriculum: Any = None) -> list:
    """Rolls out the current policy on training ``seeds`` (sampling at ``config.temperature``), every
    live episode's turn in one call of the run's generator (:func:`~toolgym_train.generation.make_generator`);
    with a curriculum schedule, at its level, and the episodes move it."""
    from toolgym_train.policy import make_env

    generate = make_generator(config, model, tokenizer)
    envs = [make_env(config, curriculum) for _ in seeds]
    try:
        return rollout(envs, generate, tokenizer, seeds=seeds, max_length=config.max_length,
                       chat_template_kwargs=config.chat_template_kwargs)
    finally:  # sandboxed suites hold a worker process per env
        for env in envs:
            env.close()


def train_iteration(
    model: Any, tokenizer: Any, config: ToolGymTrainConfig, iteration: int, curriculum: Any = None
) -> tuple[Any, dict[str, float], list[dict]]:
    """Runs one collect-then-train iteration of ``config.mode`` (its rollouts at the level of the
    curriculum schedule, when given, which they move).

    Returns:
        The trained model, the training rollouts' figures (:func:`rollout_stats`) and TRL's log.
    """
    first = (
        config.train_seed + config.warm_start_episodes + iteration * config.episodes_per_iteration
    )
    seeds = list(range(first, first + config.episodes_per_iteration))
    run_dir = str(Path(config.output_dir) / f"iter{iteration}")
    if not config.use_peft and (config.train_modules, config.train_layers) != ("all", "all"):
        from toolgym_train.targeting import apply_targeting

        apply_targeting(model, config.train_modules, config.train_layers)
    if config.mode == "episode":
        from toolgym_train.episode import train_episode_mode

        model, log = train_episode_mode(model, tokenizer, config, seeds, run_dir, curriculum)
        return model, _episode_log_stats(log), log
    episodes = collect(model, tokenizer, config, seeds, curriculum)
    if config.mode == "dpo":
        from toolgym_train.dpo import train_dpo_mode

        model, log = train_dpo_mode(model, tokenizer, config, episodes, run_dir)
    else:
        from toolgym_train.step import train_step_mode

        model, log = train_step_mode(model, tokenizer, config, episodes, run_dir)
    return model, rollout_stats(episodes), log


def rollout_stats(episodes: list[Episode]) -> dict[str, float]:
    """Mean episode reward, Solve-F1 and answer accuracy of training rollouts."""
    summary = summarize([ep.record for ep in episodes])
    return {
        "reward": sum(ep.episode_reward for ep in episodes) / len(episodes),
        "solve_f1": episode_score(summary),
        "answer_accuracy": float(summary["answer_accuracy"] or 0.0),
    }


def _episode_log_stats(log: list[dict]) -> dict[str, float]:
    rollouts = [e for e in log if "rollout_solve_f1" in e]
    if not rollouts:
        return {"reward": 0.0, "solve_f1": 0.0}
    return {
        "reward": sum(e["rollout_reward"] for e in rollouts) / len(rollouts),
        "solve_f1": sum(e["rollout_solve_f1"] for e in rollouts) / len(rollouts),
    }


def run(config: ToolGymTrainConfig) -> dict[str, Any]:
    """Runs the whole pipeline of ``config`` and writes ``results.json`` / ``report.png``.

    Returns:
        ``{"stages": {stage: EvalReport}, "curve": [...], "held_out_curve": [...], "gains": {...},
        "report": path, "fault_slice": {...}}``: ``curve`` is the training rollouts' figures per iteration,
        ``held_out_curve`` held-out Solve-F1 and answer accuracy at iteration 0 (the warm start),
        every ``eval_every`` iterations and at the end; ``fault_slice`` (with ``eval_fault_rate``) the
        held-out figures and recovery rate of each stage under transient tool faults; ``curriculum``
        (with ``--curriculum``) the schedule's settings, final level and per-episode level history.
    """
    import torch

    from toolgym_train.policy import check_env_id, load_policy

    check_env_id(config.env_id)
    check_backends(config)
    torch.manual_seed(config.seed)
    model, tokenizer = load_policy(config)
    curriculum = config.make_curriculum()  # None unless --curriculum
    per_episode: dict[str, list[float]] = {}
    faults: dict[str, dict[str, Any]] = {}  # the fault slice per stage (eval_fault_rate)
    stages = {"untrained": _eval(model, tokenizer, config, "untrained", per_episode, faults)}
    timings: dict[str, float] = {}  # seconds of each training phase, evaluations excluded
    if config.warm_start_episodes:
        from toolgym_train.sft import warm_start

        began = time.perf_counter()
        model, _ = warm_start(model, tokenizer, config, str(Path(config.output_dir) / "sft"))
        timings["warm_start_s"] = time.perf_counter() - began
        _save(model, tokenizer, Path(config.output_dir) / "warm_start")  # the base of `analyze`
        stages["warm_start"] = _eval(model, tokenizer, config, "warm_start", per_episode, faults)
    curve, held_out = [], _held_out_point(stages.get("warm_start") or stages["untrained"], 0)
    timings["rl_s"] = 0.0
    for iteration in range(config.iterations):
        began = time.perf_counter()
        model, stats, _ = train_iteration(model, tokenizer, config, iteration, curriculum)
        timings["rl_s"] += time.perf_counter() - began
        curve.append({"iteration": iteration, **{k: float(v) for k, v in stats.items()},
                      **({"difficulty": curriculum.level} if curriculum else {})})
        print(f"[toolgym-train] iteration {iteration}: rollout {curve[-1]}", flush=True)
        done = iteration + 1
        if config.eval_every and done % config.eval_every == 0 and done < config.iterations:
            held_out += _held_out_point(_eval(model, tokenizer, config, f"iteration {done}", {}), done)
    if config.iterations:
        stage = f"after_{config.mode}"
        stages[stage] = _eval(model, tokenizer, config, stage, per_episode, faults)
        held_out += _held_out_point(stages[stage], config.iterations)
    stages = {name: report for name, report in stages.items() if report is not None}
    if stages:
        print(EvalReport.compare(stages), flush=True)
    gains = _gains(per_episode)
    path = write_report(
        config.output_dir,
        stages,
        curve,
        plot=config.plot,
        extra={"paired_solve_f1_gain": gains, "per_episode_solve_f1": per_episode, "held_out_curve": held_out,
               "timings": timings, **({"fault_slice": faults} if faults else {}),
               **({"curriculum": curriculum.to_dict()} if curriculum else {})},
    )
    _save(model, tokenizer, Path(config.output_dir) / "final")
    return {"stages": stages, "curve": curve, "held_out_curve": held_out, "gains": gains, "report": str(path),
            "fault_slice": faults, "curriculum": curriculum.to_dict() if curriculum else None}


def _held_out_point(report: EvalReport | None, iteration: int) -> list[dict[str, float]]:
    """One point of the held-out learning curve (none without a held-out evaluation)."""
    if report is None:
        return []
    overall = report.overall
    return [{"iteration": iteration, "solve_f1": episode_score(overall), "answer_accuracy": overall["answer_accuracy"]}]


def _save(model: Any, tokenizer: Any, path: Path) -> None:
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def _gains(per_episode: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Paired Solve-F1 gain of each stage over the one before it, on the same held-out episodes."""
    stages = list(per_episode)
    gains = {}
    for before, after in zip(stages, stages[1:], strict=False):
        gain = paired_gain(per_episode[before], per_episode[after])
        gains[f"{before} -> {after}"] = gain
        print(
            f"[toolgym-train] {before} -> {after}: held-out Solve-F1 {gain['mean']:+.3f} "
            f"(95% paired bootstrap CI {gain['ci95_low']:+.3f} .. {gain['ci95_high']:+.3f}; "
            f"{gain['better']} episodes better, {gain['worse']} worse, {gain['same']} same)",
            flush=True,
        )
    return gains


def _eval(
    model: Any,
    tokenizer: Any,
    config: ToolGymTrainConfig,
    stage: str,
    per_episode: dict[str, list[float]],
    faults: dict[str, dict[str, Any]] | None = None,
) -> EvalReport | None:
    if not config.eval_episodes:
        return None
    report = evaluate(model, tokenizer, config)
    per_episode[stage] = [episode_score(e) for e in report.episodes]
    overall = report.overall
    print(
        f"[toolgym-train] {stage}: held-out Solve-F1 (pass^1 on stateful tasks) {episode_score(overall):.3f}, "
        f"answer accuracy {overall['answer_accuracy'] or 0.0:.3f}",
        flush=True,
    )
    if config.eval_fault_rate and faults is not None:
        faults[stage] = _fault_slice(model, tokenizer, config, stage)
    return report


def _fault_slice(model: Any, tokenizer: Any, config: ToolGymTrainConfig, stage: str) -> dict[str, Any]:
    """The held-out seeds played with transient tool faults: how often the policy recovers."""
    env_kwargs = {**(config.env_kwargs or {}), "fault_rate": config.eval_fault_rate}
    overall = evaluate(model, tokenizer, replace(config, env_kwargs=env_kwargs)).overall
    point = {key: overall.get(key) for key in ("solve_f1", "answer_accuracy", "faulted_episodes", "recovery_rate")}
    rate = "-" if point["recovery_rate"] is None else f"{point['recovery_rate']:.3f}"
    print(f"[toolgym-train] {stage} with fault_rate {config.eval_fault_rate}: held-out Solve-F1 "
          f"{episode_score(overall):.3f}, recovery rate {rate} of {point['faulted_episodes'] or 0} "
          "faulted episodes", flush=True)
    return point
