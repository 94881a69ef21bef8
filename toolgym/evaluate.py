"""Evaluation: play every scenario of a suite with an agent and report the paper's figures.

:func:`evaluate` is the reusable core (``toolgym eval`` and ``toolgym_train`` call it); it returns
an :class:`EvalReport` with Solve-P, Solve-R, Solve-F1 and answer accuracy (question scenarios),
pass rate (stateful tasks), overall and per shape, and one record per episode.

Example:
    >>> from toolgym.oracle import OracleAgent
    >>> from toolgym.generate import generate_suite
    >>> report = evaluate(generate_suite(4, seed=0), OracleAgent(), progress=False)
    >>> report.overall["solve_f1"], report.overall["answer_accuracy"]
    (1.0, 1.0)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from toolgym.error import InvalidKnob
from toolgym.scenario import SHAPES, Scenario

__all__ = ["FIGURES", "EvalReport", "add_eval_parser", "evaluate", "load_scenarios", "run_eval", "summarize"]

FIGURES = ("solve_precision", "solve_rate", "solve_f1", "answer_accuracy", "pass_rate")
"""The figures of a summary, in table order (each ``None`` where it does not apply)."""

_HEADERS = {"solve_precision": "Solve-P", "solve_rate": "Solve-R", "solve_f1": "Solve-F1",
            "answer_accuracy": "Answer", "pass_rate": "Pass"}


@dataclass
class EvalReport:
    """The figures of an evaluation, overall and per shape, and the episodes they come from.

    A summary maps each of :data:`FIGURES` to a mean in [0, 1] (or ``None``) and ``episodes`` to
    the count. Episode records hold ``scenario_id``, ``shape``, ``stateful``, ``rewards``,
    ``turns``, ``truncated``, the metrics and the final ``messages``.
    """

    overall: dict[str, Any]
    by_shape: dict[str, dict[str, Any]]
    episodes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, episodes: bool = False) -> dict[str, Any]:
        """``{"overall": ..., "by_shape": ...}`` (and ``"episodes"`` when asked)."""
        out: dict[str, Any] = {"overall": self.overall, "by_shape": self.by_shape}
        if episodes:
            out["episodes"] = self.episodes
        return out

    def to_json(self, episodes: bool = False, indent: int | None = None) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(episodes), indent=indent, ensure_ascii=False)

    def table(self) -> str:
        """A text table like the paper's: one row per shape, then the overall row, in percent."""
        width = max([len("overall"), len("shape"), *map(len, self.by_shape)])
        header = f"{'shape':<{width}}  {'episodes':>8}" + "".join(f"  {_HEADERS[k]:>8}" for k in FIGURES)
        lines = [header, "-" * len(header)]
        rows = [*self.by_shape.items(), ("overall", self.overall)]
        for i, (name, summary) in enumerate(rows):
            if i == len(rows) - 1:
                lines.append("-" * len(header))
            cells = "".join(f"  {_percent(summary[k]):>8}" for k in FIGURES)
            lines.append(f"{name:<{width}}  {summary['episodes']:>8}{cells}")
        return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(episodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The figures of some episode records: means over the episodes each figure applies to."""
    questions = [e for e in episodes if not e["stateful"]]
    tasks = [e for e in episodes if e["stateful"]]
    summary: dict[str, Any] = {k: _mean([e[k] for e in questions]) for k in FIGURES[:3]}
    summary["answer_accuracy"] = _mean([float(e["answer_correct"]) for e in questions])
    summary["pass_rate"] = _mean([float(e["passed"]) for e in tasks])
    summary["episodes"] = len(episodes)
    return summary


def _shape_order(shape: str) -> tuple[int, str]:
    """The paper's order (single-hop, parallel single-hop, multi-hop, parallel multi-hop), then by name."""
    base = shape.rsplit("/", 1)[-1]
    return (SHAPES.index(base) if base in SHAPES else len(SHAPES), shape)


def _suite_size(env: gym.Env) -> int | None:
    scenarios = getattr(env.unwrapped, "scenarios", None)
    if scenarios is None:
        scenarios = getattr(env.unwrapped, "scenarios", None)
    return None if scenarios is None else len(scenarios)


def _play(env: gym.Env, agent: Any, options: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """Plays one episode; returns its record."""
    obs, info = env.reset(seed=seed, options=options)
    scenario: Scenario = env.unwrapped.scenario
    rewards: list[float] = []
    terminated = truncated = False
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(agent.act(obs, env))
        rewards.append(float(reward))
    stateful = scenario.task is not None
    passed = bool(stateful and terminated and info["answer_correct"])
    return {
        "scenario_id": scenario.id,
        "shape": scenario.shape,
        "stateful": stateful,
        "turns": len(rewards),
        "rewards": rewards,
        "return": sum(rewards),
        "truncated": bool(truncated and not terminated),
        **{k: info[k] for k in ("solved", "calls", "sub_answers", "solve_precision", "solve_rate", "solve_f1")},
        "answer_correct": bool(info["answer_correct"]) and not stateful,
        "passed": passed if stateful else None,
        "messages": obs["messages"],
    }


def evaluate(
    env_or_scenarios: gym.Env | Sequence[Scenario],
    agent: Any,
    limit: int | None = None,
    progress: bool = True,
    seed: int | None = None,
) -> EvalReport:
    """Plays scenarios with ``agent`` and reports the figures.

    Args:
        env_or_scenarios: A ToolGym env (a suite env plays each scenario once, in order; a
            generator env plays ``limit`` episodes) or a sequence of scenarios.
        agent: Anything with ``act(observation, env) -> str | dict`` (see :mod:`toolgym.agents`).
        limit: Play at most this many episodes.
        progress: Show a tqdm progress bar on stderr.
        seed: Seed of the first reset (generator envs draw their scenarios from it).

    Raises:
        InvalidKnob: a generator env without ``limit``, or a negative ``limit``.
    """
    if limit is not None and limit < 0:
        raise InvalidKnob(f"limit must be >= 0, got {limit}.")
    own_env = not isinstance(env_or_scenarios, gym.Env)
    if own_env:
        env = gym.make("ToolGym/Suite-v0", scenarios=list(env_or_scenarios))
    else:
        env = env_or_scenarios
    try:
        size = _suite_size(env)
        if size is None and limit is None:
            raise InvalidKnob("evaluate() on a generator env needs limit= (how many episodes to play).")
        total = size if limit is None else limit if size is None else min(limit, size)
        episodes = _play_all(env, agent, total, size is not None, progress, seed)
    finally:
        if own_env:
            env.close()
    return _report(episodes)


def _play_all(env: gym.Env, agent: Any, total: int, suite: bool, progress: bool, seed: int | None) -> list[dict]:
    from tqdm.auto import tqdm

    episodes = []
    with tqdm(total=total, desc="eval", unit="episode", file=sys.stderr, disable=not progress) as bar:
        for i in range(total):
            options = {"index": i} if suite else {}
            episode_seed = seed if i == 0 else None
            episodes.append(_play(env, agent, options, episode_seed))
            bar.update()
    return episodes


def _report(episodes: list[dict[str, Any]]) -> EvalReport:
    shapes = sorted({e["shape"] for e in episodes}, key=_shape_order)
    by_shape = {shape: summarize([e for e in episodes if e["shape"] == shape]) for shape in shapes}
    return EvalReport(overall=summarize(episodes), by_shape=by_shape, episodes=episodes)


# -- the command ------------------------------------------------------------------------------


def load_scenarios(spec: str) -> list[Scenario]:
    """A suite file, or ``gen:N:SEED`` for N freshly generated scenarios (default seed 0)."""
    if spec.startswith("gen:"):
        parts = spec.split(":")
        try:
            n, seed = int(parts[1]), int(parts[2]) if len(parts) > 2 else 0
        except (IndexError, ValueError):
            raise InvalidKnob(f"--suite {spec!r}: expected gen:N or gen:N:SEED, e.g. gen:100:0.") from None
        from toolgym.generate import generate_suite

        return generate_suite(n, seed)
    from toolgym.suites import load_suite

    return load_suite(spec)


def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``eval`` command to the ``toolgym`` parser."""
    parser = subparsers.add_parser(
        "eval", help="play a suite with an agent and print Solve-P/R/F1, answer accuracy, pass rate",
        description="Plays every scenario of a suite with an agent and prints the paper's figures.",
    )
    parser.add_argument("--suite", required=True, help="suite file (JSONL/Parquet; ToolGym or FTRL rows) or gen:N:SEED")
    parser.add_argument("--agent", default="oracle",
                        help="oracle | replay | random | hf:PATH | openai:MODEL (default: oracle)")
    parser.add_argument("--limit", type=int, default=None, help="play only the first N scenarios")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random agent and the env (default: 0)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--out", default=None, help="write the episodes (messages, metrics) as JSONL here")
    parser.add_argument("--max-turns", type=int, default=20, help="turns per episode (default: 20, as FTRL)")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="generation budget per turn (hf:, openai:)")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible API root for openai:MODEL")
    parser.add_argument("--api-key", default=None, help="API key for openai:MODEL (default: $OPENAI_API_KEY)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _write_episodes(path: str, episodes: Sequence[Mapping[str, Any]]) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for episode in episodes:
            f.write(json.dumps(episode, ensure_ascii=False, default=str) + "\n")


def run_eval(args: argparse.Namespace) -> int:
    """Runs ``toolgym eval``; returns the exit code."""
    from toolgym.agents import make_agent

    if args.max_turns < 1:
        raise InvalidKnob(f"--max-turns must be at least 1, got {args.max_turns}.")
    scenarios = load_scenarios(args.suite)
    agent = make_agent(args.agent, seed=args.seed, base_url=args.base_url, api_key=args.api_key,
                       max_new_tokens=args.max_new_tokens)
    env = gym.make("ToolGym/Suite-v0", scenarios=scenarios, max_episode_steps=args.max_turns)
    try:
        report = evaluate(env, agent, limit=args.limit, progress=not args.no_progress, seed=args.seed)
    finally:
        env.close()
    if args.out:
        _write_episodes(args.out, report.episodes)
    print(report.to_json(indent=2) if args.json else report.table())
    return 0
