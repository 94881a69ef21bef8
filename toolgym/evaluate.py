"""Playing episodes and reporting the paper's figures: the one episode loop and the one summary.

:func:`play_batch` (and :func:`play_episode`, one env) is the only reset/step loop in ToolGym:
``toolgym eval``, ``toolgym show``, the training rollouts, the SFT transcripts and the benchmarks
all play through it, and :class:`EvalReport` is the only summary, so the same model gets the same
figures everywhere. An episode's record is a JSON-ready dict (:func:`episode_record`).

Example:
    >>> from toolgym.oracle import OracleAgent
    >>> from toolgym.generate import generate_suite
    >>> report = evaluate(generate_suite(4, seed=0), OracleAgent(), progress=False)
    >>> report.overall["solve_f1"], report.overall["answer_accuracy"]
    (1.0, 1.0)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from toolgym.error import InvalidKnob, ToolGymError
from toolgym.scenario import SHAPES, AnswerGrading, ReplyGrading, Scenario

__all__ = [
    "FIGURES",
    "EvalReport",
    "benchmark_of",
    "episode_record",
    "evaluate",
    "play_batch",
    "play_episode",
    "reset_to_prefix",
    "summarize",
]

FIGURES = (
    "solve_precision", "solve_rate", "solve_f1", "answer_accuracy", "pass_rate",
    "tool_selection", "parameter_identification", "content_filling",
)
"""The figures of a summary, in table order, each a mean over the episodes it applies to (``None``
where it applies to none): Solve-P/R/F1 to episodes with sub-answers (generated scenarios, FTRL
rows), answer accuracy to questions (those and ToolHop), the pass rate (pass^1) to stateful tasks,
RoTBench's tool selection, parameter identification and content filling to its replies."""

_HEADERS = {"solve_precision": "Solve-P", "solve_rate": "Solve-R", "solve_f1": "Solve-F1",
            "answer_accuracy": "Answer", "pass_rate": "Pass", "tool_selection": "TS",
            "parameter_identification": "PI", "content_filling": "CF"}
_COUNTS = ("solved", "calls", "sub_answers")
_SOLVE = ("solve_precision", "solve_rate", "solve_f1")
_REPLY = ("tool_selection", "parameter_identification", "content_filling")


# -- the episode loop -------------------------------------------------------------------------


def episode_record(
    env: gym.Env,
    actions: Sequence[Any],
    rewards: Sequence[float],
    info: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
    *,
    terminated: bool,
    seed: int | None = None,
) -> dict[str, Any]:
    """The record of one finished episode: what was played, how it scored, the final chat.

    Keys: ``scenario_id``, ``shape``, ``benchmark`` (:func:`benchmark_of`), ``stateful``, ``seed``,
    ``turns``, ``actions`` (as the agent gave them), ``rewards``, ``return``, ``truncated`` (the
    episode ended without a final answer: turn limit, or the agent stopped), the counts ``solved``,
    ``calls``, ``sub_answers``, and each figure of :data:`FIGURES` that applies (else None):
    Solve-P/R/F1, ``answer_correct``, ``passed``, RoTBench's three; and ``messages``.
    """
    scenario: Scenario = env.unwrapped.scenario
    stateful = scenario.task is not None
    reply = isinstance(scenario.grading, ReplyGrading)
    question = not stateful and not reply
    solve = question and info["sub_answers"] > 0
    return {
        "scenario_id": scenario.id,
        "shape": scenario.shape,
        "benchmark": benchmark_of(scenario),
        "stateful": stateful,
        "seed": seed,
        "turns": len(rewards),
        "actions": list(actions),
        "rewards": [float(r) for r in rewards],
        "return": float(sum(rewards)),
        "truncated": not terminated,
        **{k: info[k] for k in _COUNTS},
        **{k: info[k] if solve else None for k in _SOLVE},
        "answer_correct": bool(info["answer_correct"]) if question else None,
        "passed": bool(terminated and info["answer_correct"]) if stateful else None,
        **{k: float(info.get(k, 0.0)) if reply else None for k in _REPLY},
        "messages": list(messages),
    }


def benchmark_of(scenario: Scenario) -> str:
    """The benchmark a scenario belongs to: ``rotbench``, ``toolhop``, ``tau-bench`` (stateful
    tasks), ``ftrl`` (FTRL's own test-set rows) or ``toolgym`` (generated scenarios)."""
    if isinstance(scenario.grading, ReplyGrading):
        return "rotbench"
    if isinstance(scenario.grading, AnswerGrading):
        return "toolhop"
    if scenario.task is not None:
        return "tau-bench"
    return "ftrl" if "data_source" in scenario.meta else "toolgym"


@dataclass
class _Playing:
    """One episode in flight inside :func:`play_batch`."""

    env: gym.Env
    seed: int | None
    obs: dict[str, Any]
    info: dict[str, Any]
    actions: list[Any] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    terminated: bool = False
    done: bool = False


def _act(agent: Any, playing: Sequence[_Playing]) -> list[Any]:
    """One action per episode: the agent's ``act_batch`` when it has one, else ``act`` each."""
    batch = getattr(agent, "act_batch", None)
    if batch is not None:
        actions = list(batch([p.obs for p in playing], [p.env for p in playing]))
        if len(actions) != len(playing):
            raise TypeError(f"act_batch returned {len(actions)} actions for {len(playing)} observations.")
        return actions
    return [agent.act(p.obs, p.env) for p in playing]


def play_batch(
    envs: Sequence[gym.Env],
    agent: Any,
    seeds: Sequence[int | None] | None = None,
    options: Sequence[dict[str, Any] | None] | None = None,
) -> list[dict[str, Any]]:
    """Plays one episode in each env, turn by turn together, and returns their records.

    Args:
        envs: ToolGym envs, one episode each (distinct env objects).
        agent: Anything with ``act(observation, env)``; an agent with
            ``act_batch(observations, envs)`` gets every live episode's turn in one call (a model
            generates them as one batch). An action of ``None`` gives the episode up (e.g. the
            model's context is full): it ends there, recorded as truncated.
        seeds: Reset seed per env.
        options: Reset options per env (``{"index": i}``, ``{"scenario": s}``, ...).

    Returns:
        One :func:`episode_record` per env, in order.
    """
    seeds = list(seeds) if seeds is not None else [None] * len(envs)
    options = list(options) if options is not None else [None] * len(envs)
    playing = []
    for env, seed, option in zip(envs, seeds, options, strict=True):
        obs, info = env.reset(seed=seed, options=option)
        playing.append(_Playing(env, seed, obs, info))
    while live := [p for p in playing if not p.done]:
        for p, action in zip(live, _act(agent, live), strict=True):
            if action is None:
                p.done = True
                continue
            p.obs, reward, p.terminated, truncated, p.info = p.env.step(action)
            p.actions.append(action)
            p.rewards.append(float(reward))
            p.done = p.terminated or truncated
    return [
        episode_record(p.env, p.actions, p.rewards, p.info, p.obs["messages"], terminated=p.terminated, seed=p.seed)
        for p in playing
    ]


def play_episode(
    env: gym.Env, agent: Any, seed: int | None = None, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Plays one episode of ``env`` with ``agent``; returns its :func:`episode_record`.

    Example:
        >>> import gymnasium as gym, toolgym
        >>> from toolgym.oracle import OracleAgent
        >>> env = gym.make("ToolGym/SingleHop-v0")
        >>> record = play_episode(env, OracleAgent(), seed=0)
        >>> record["solve_f1"], record["answer_correct"], record["truncated"]
        (1.0, True, False)
    """
    return play_batch([env], agent, [seed], [options])[0]


def reset_to_prefix(
    env: gym.Env, actions: Sequence[Any], *, seed: int | None = None, options: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resets ``env`` and plays ``actions``, resuming the episode at that prefix.

    The actions are stepped through every wrapper, so ``TimeLimit`` counts them as turns.

    Returns:
        The observation and info after the last action, as ``reset`` returns them.

    Raises:
        ToolGymError: the episode ends before the last action.

    Example:
        >>> import gymnasium as gym, toolgym
        >>> env = gym.make("ToolGym/SingleHop-v0", max_episode_steps=3)
        >>> obs, info = reset_to_prefix(env, ["<tool_call>{}</tool_call>"] * 2, seed=0)
        >>> info["turn"], env.step("<tool_call>{}</tool_call>")[3]  # the third turn is the last
        (2, True)
    """
    obs, info = env.reset(seed=seed, options=options)
    for i, action in enumerate(actions):
        obs, _, terminated, truncated, info = env.step(action)
        if (terminated or truncated) and i < len(actions) - 1:
            raise ToolGymError(f"The episode ended at turn {i + 1} of the {len(actions)} actions to replay.")
    return obs, info


# -- the summary ------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(episodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The figures of some episode records: each of :data:`FIGURES`, the mean over the episodes it
    applies to (None where it applies to none), and the count of ``episodes``."""
    record_keys = {"answer_accuracy": "answer_correct", "pass_rate": "passed"}
    summary: dict[str, Any] = {}
    for figure in FIGURES:
        key = record_keys.get(figure, figure)
        summary[figure] = _mean([float(e[key]) for e in episodes if e.get(key) is not None])
    summary["episodes"] = len(episodes)
    return summary


_ORDER = (*SHAPES, "direct", "mandatory", "free")
"""The paper's shapes in its order, then ToolHop's modes in FTRL's."""


def _shape_order(shape: str) -> tuple[str, int, str]:
    """By benchmark (``self/``, ``toolhop/``, ...), then the paper's order of shapes and modes, then by name."""
    prefix, _, base = shape.rpartition("/")
    return (prefix, _ORDER.index(base) if base in _ORDER else len(_ORDER), shape)


def _table(rows: Iterable[tuple[tuple[str, ...], Mapping[str, Any]]], labels: tuple[str, ...]) -> str:
    """Rows of summaries in percent; a figure that applies to none of the rows gets no column."""
    rows = list(rows)
    figures = [k for k in FIGURES if any(summary.get(k) is not None for _, summary in rows)] or list(FIGURES[:3])
    widths = [max([len(label), *(len(key[i]) for key, _ in rows)]) for i, label in enumerate(labels)]
    left = "  ".join(f"{label:<{w}}" for label, w in zip(labels, widths, strict=True))
    header = f"{left}  {'episodes':>8}" + "".join(f"  {_HEADERS[k]:>8}" for k in figures)
    lines = [header, "-" * len(header)]
    for key, summary in rows:
        names = "  ".join(f"{name:<{w}}" for name, w in zip(key, widths, strict=True))
        cells = "".join(f"  {_percent(summary.get(k)):>8}" for k in figures)
        lines.append(f"{names}  {summary['episodes']:>8}{cells}")
    return "\n".join(lines)


@dataclass
class EvalReport:
    """The figures of an evaluation, overall and per shape, and the episodes they come from.

    A summary maps each of :data:`FIGURES` to a mean in [0, 1] (or ``None``) and ``episodes`` to
    the count (see :func:`summarize`); ``episodes`` holds the :func:`episode_record` of each.
    """

    overall: dict[str, Any]
    by_shape: dict[str, dict[str, Any]]
    episodes: list[dict[str, Any]] = field(default_factory=list)
    sandbox: str | None = None
    """How tools given as source were isolated (``"os"``, ``"process"``), None when none ran."""

    @classmethod
    def from_records(cls, episodes: Sequence[Mapping[str, Any]]) -> EvalReport:
        """Summarizes episode records overall and per shape (shapes in the paper's order)."""
        shapes = sorted({e["shape"] for e in episodes}, key=_shape_order)
        by_shape = {shape: summarize([e for e in episodes if e["shape"] == shape]) for shape in shapes}
        return cls(overall=summarize(episodes), by_shape=by_shape, episodes=[dict(e) for e in episodes])

    def to_dict(self, episodes: bool = False) -> dict[str, Any]:
        """``{"overall": ..., "by_shape": ...}`` (and ``"episodes"`` when asked)."""
        out: dict[str, Any] = {"overall": self.overall, "by_shape": self.by_shape}
        if self.sandbox is not None:
            out["sandbox"] = self.sandbox
        if episodes:
            out["episodes"] = self.episodes
        return out

    def to_json(self, episodes: bool = False, indent: int | None = None) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(episodes), indent=indent, ensure_ascii=False)

    def table(self) -> str:
        """A text table like the paper's: one row per shape, then the overall row, in percent."""
        rows = [((shape,), summary) for shape, summary in self.by_shape.items()]
        table = _table([*rows, (("overall",), self.overall)], ("shape",))
        return table if self.sandbox is None else f"{table}\nsandboxed tools ran with {self.sandbox} isolation"

    @staticmethod
    def compare(reports: Mapping[str, EvalReport]) -> str:
        """One table of several reports (e.g. training stages): a row per (name, shape) and overall."""
        rows = []
        for name, report in reports.items():
            rows += [((name, shape), summary) for shape, summary in report.by_shape.items()]
            rows.append(((name, "overall"), report.overall))
        return _table(rows, ("run", "shape"))


# -- evaluate ---------------------------------------------------------------------------------


def _suite_size(env: gym.Env) -> int | None:
    scenarios = getattr(env.unwrapped, "scenarios", None)
    return None if scenarios is None else len(scenarios)


def _episode_plan(env: gym.Env, limit: int | None, seed: int | None) -> list[tuple[int | None, dict | None]]:
    """(seed, options) per episode: a suite's scenarios in order, or seeds ``seed, seed + 1, ...``."""
    if limit is not None and (isinstance(limit, bool) or limit < 0):
        raise InvalidKnob(f"limit must be >= 0, got {limit}.")
    size = _suite_size(env)
    if size is None:
        if limit is None:
            raise InvalidKnob("evaluate() on a generator env needs limit= (how many episodes to play).")
        first = 0 if seed is None else seed
        return [(first + i, None) for i in range(limit)]
    total = size if limit is None else min(limit, size)
    return [(seed if i == 0 else None, {"index": i}) for i in range(total)]


def evaluate(
    env_or_scenarios: gym.Env | Sequence[Scenario],
    agent: Any,
    limit: int | None = None,
    progress: bool = True,
    seed: int | None = None,
    batch_size: int | None = None,
) -> EvalReport:
    """Plays scenarios with ``agent`` and reports the figures.

    Args:
        env_or_scenarios: A ToolGym env or a sequence of scenarios. A suite env plays each scenario
            once, in order; a generator env plays ``limit`` episodes with reset seeds ``seed``,
            ``seed + 1``, ... (held-out seeds, as ``toolgym-train`` evaluates).
        agent: Anything with ``act(observation, env) -> str | dict`` (see :mod:`toolgym.agents`).
        limit: Play at most this many episodes.
        progress: Show a tqdm progress bar on stderr.
        seed: A generator env's first seed (default 0); a suite env's first reset seed.
        batch_size: Episodes played together (default: the agent's ``batch_size``, else 1). More
            than one plays on copies of the env made from its spec.

    Raises:
        InvalidKnob: a generator env without ``limit``, or a negative ``limit``.
    """
    own = not isinstance(env_or_scenarios, gym.Env)
    env = gym.make("ToolGym/Suite-v0", scenarios=list(env_or_scenarios)) if own else env_or_scenarios
    envs = [env]
    try:
        plan = _episode_plan(env, limit, seed)
        size = max(1, int(batch_size or getattr(agent, "batch_size", 1) or 1))
        while len(envs) < min(size, len(plan)):
            envs.append(gym.make(env.spec))
        episodes = _play_plan(envs, agent, plan, progress)
        isolations = {getattr(e.unwrapped, "sandbox_isolation", None) for e in envs} - {None}
    finally:
        for made in envs[0 if own else 1 :]:
            made.close()
    report = EvalReport.from_records(episodes)
    report.sandbox = "+".join(sorted(isolations)) or None
    return report


def _play_plan(envs: list[gym.Env], agent: Any, plan: list, progress: bool) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    episodes: list[dict[str, Any]] = []
    with tqdm(total=len(plan), desc="eval", unit="episode", file=sys.stderr, disable=not progress) as bar:
        for start in range(0, len(plan), len(envs)):
            chunk = plan[start : start + len(envs)]
            seeds, options = [s for s, _ in chunk], [o for _, o in chunk]
            episodes += play_batch(envs[: len(chunk)], agent, seeds, options)
            bar.update(len(chunk))
    return episodes
