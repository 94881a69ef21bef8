"""Playing episodes: the one episode loop, and evaluation runs over it.

:func:`play_batch` (and :func:`play_episode`, one env) is the only reset/step loop in ToolGym:
``toolgym eval``, ``toolgym show``, the training rollouts, the SFT transcripts and the benchmarks
all play through it, and :class:`~toolgym.summary.EvalReport` (re-exported here) is the only
summary, so the same model gets the same figures everywhere. An episode's record is a JSON-ready
dict (:func:`episode_record`).

:func:`evaluate` plays a plan of episodes through :func:`play_batch`: batched turn by turn for
agents that generate a batch (``act_batch``), or ``concurrency`` episodes at once in threads, each
on its own env, for agents served elsewhere (``openai:``). A model server that keeps failing
(:class:`~toolgym.error.BackendError`) fails that episode only: its record holds ``"error"``, the
figures leave it out and count it as ``errors``. Records reach ``on_record`` as they finish, and
``resume=`` skips the episodes already played, so a run killed midway loses nothing that finished.

Example:
    >>> from toolgym.oracle import OracleAgent
    >>> from toolgym.generate import generate_suite
    >>> report = evaluate(generate_suite(4, seed=0), OracleAgent(), progress=False)
    >>> report.overall["solve_f1"], report.overall["answer_accuracy"]
    (1.0, 1.0)
"""

from __future__ import annotations

import dataclasses
import queue
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from toolgym.env import suite_turn_limit
from toolgym.error import BackendError, InvalidKnob, ToolGymError
from toolgym.scenario import AnswerGrading, ReplyGrading, Scenario
from toolgym.summary import FIGURES, EvalReport, pass_hat_k, summarize

__all__ = [
    "FIGURES",
    "EvalReport",
    "benchmark_of",
    "episode_record",
    "evaluate",
    "pass_hat_k",
    "play_batch",
    "play_episode",
    "reset_to_prefix",
    "summarize",
]

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
    ``calls``, ``sub_answers``, ``faults`` (transient tool failures, the env's ``fault_rate``), and each figure of :data:`FIGURES` that applies (else None):
    Solve-P/R/F1, ``answer_correct``, ``passed``, RoTBench's three; ``error`` (None; the record of
    an episode a model server failed holds the reason, see :func:`play_batch`) and ``messages``
    (a stateful task's chat holds both sides of the conversation).
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
        "faults": int(info.get("faults", 0)),
        **{k: info[k] if solve else None for k in _SOLVE},
        "answer_correct": bool(info["answer_correct"]) if question else None,
        "passed": bool(terminated and info["answer_correct"]) if stateful else None,
        **{k: float(info.get(k, 0.0)) if reply else None for k in _REPLY},
        "error": None,
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
    obs: dict[str, Any] = field(default_factory=lambda: {"messages": [], "tools": []})
    info: dict[str, Any] = field(default_factory=dict)
    actions: list[Any] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    terminated: bool = False
    done: bool = False
    error: str | None = None


@contextmanager
def _backend_faults(playing: _Playing) -> Iterator[None]:
    """A model server that kept failing ends this episode as an infrastructure error, not the run."""
    try:
        yield
    except BackendError as exc:
        playing.error, playing.done = str(exc), True


def _act(agent: Any, playing: Sequence[_Playing]) -> list[Any]:
    """One action per episode: the agent's ``act_batch`` when it has one, else ``act`` each."""
    batch = getattr(agent, "act_batch", None)
    if batch is None:
        actions = [None] * len(playing)
        for i, p in enumerate(playing):
            with _backend_faults(p):
                actions[i] = agent.act(p.obs, p.env)
        return actions
    actions = list(batch([p.obs for p in playing], [p.env for p in playing]))
    if len(actions) != len(playing):
        raise TypeError(f"act_batch returned {len(actions)} actions for {len(playing)} observations.")
    return actions


def _step(p: _Playing, action: Any) -> None:
    if action is None:  # given up (e.g. the model's context is full): recorded as truncated
        p.done = True
        return
    with _backend_faults(p):  # a simulated user answers inside step
        p.obs, reward, p.terminated, truncated, p.info = p.env.step(action)
        p.actions.append(action)
        p.rewards.append(float(reward))
        p.done = p.terminated or truncated


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
        One :func:`episode_record` per env, in order. An episode whose agent or simulated user
        kept failing (:class:`~toolgym.error.BackendError`) ends there: its record holds the
        reason as ``"error"`` and no figure, and the other episodes go on.
    """
    seeds = list(seeds) if seeds is not None else [None] * len(envs)
    options = list(options) if options is not None else [None] * len(envs)
    playing = []
    for env, seed, option in zip(envs, seeds, options, strict=True):
        p = _Playing(env, seed)
        with _backend_faults(p):  # a simulated user opens a stateful task's chat in reset
            p.obs, p.info = env.reset(seed=seed, options=option)
        playing.append(p)
    while live := [p for p in playing if not p.done]:
        for p, action in zip(live, _act(agent, live), strict=True):
            if not p.done:
                _step(p, action)
    return [_record(p) for p in playing]


def _record(p: _Playing) -> dict[str, Any]:
    if p.error is None:
        return episode_record(p.env, p.actions, p.rewards, p.info, p.obs["messages"],
                              terminated=p.terminated, seed=p.seed)
    scenario: Scenario | None = p.env.unwrapped.scenario  # reset picks it before anything can fail
    return {
        "scenario_id": scenario.id if scenario else None,
        "shape": scenario.shape if scenario else None,
        "benchmark": benchmark_of(scenario) if scenario else None,
        "stateful": scenario.task is not None if scenario else None,
        "seed": p.seed, "turns": len(p.rewards), "actions": list(p.actions), "rewards": list(p.rewards),
        "return": float(sum(p.rewards)), "truncated": True,
        **dict.fromkeys((*_COUNTS, "faults", *_SOLVE, "answer_correct", "passed", *_REPLY)),
        "error": p.error,
        "messages": list(p.obs["messages"]),
    }


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


# -- evaluate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    """One episode of an evaluation's plan: how to reset for it and its id in the records."""

    seed: int | None
    options: dict[str, Any] | None
    episode_id: str
    sample: int = 0


def _episode_plan(env: gym.Env, limit: int | None, seed: int | None, samples: int = 1) -> list[_Planned]:
    """A suite's scenarios in order, or seeds ``seed, seed + 1, ...``; each ``samples`` times.

    Episode ids: the scenario id (``@index`` added where a suite repeats an id), or ``seed-N`` for
    a generator env; sample k > 0 of an episode adds ``#k``.
    """
    if limit is not None and (isinstance(limit, bool) or limit < 0):
        raise InvalidKnob(f"limit must be >= 0, got {limit}.")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise InvalidKnob(f"samples must be an int >= 1, got {samples!r}.")
    scenarios = getattr(env.unwrapped, "scenarios", None)
    if scenarios is None:
        if limit is None:
            raise InvalidKnob("evaluate() on a generator env needs limit= (how many episodes to play).")
        first = 0 if seed is None else seed
        base = [(first + i, None, f"seed-{first + i}") for i in range(limit)]
    else:
        ids = [s.id for s in scenarios[: len(scenarios) if limit is None else limit]]
        repeated = {i for i, n in Counter(ids).items() if n > 1}
        base = [(seed if i == 0 else None, {"index": i}, f"{sid}@{i}" if sid in repeated else sid)
                for i, sid in enumerate(ids)]
    return [_Planned(s, o, eid if k == 0 else f"{eid}#{k}", k) for s, o, eid in base for k in range(samples)]


def evaluate(
    env_or_scenarios: gym.Env | Sequence[Scenario],
    agent: Any,
    limit: int | None = None,
    progress: bool = True,
    seed: int | None = None,
    batch_size: int | None = None,
    *,
    concurrency: int = 1,
    samples: int = 1,
    resume: Sequence[Mapping[str, Any]] = (),
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> EvalReport:
    """Plays scenarios with ``agent`` and reports the figures.

    Args:
        env_or_scenarios: A ToolGym env or a sequence of scenarios. A suite env plays each scenario
            once, in order; a generator env plays ``limit`` episodes with reset seeds ``seed``,
            ``seed + 1``, ... (held-out seeds, as ``toolgym-train`` evaluates).
        agent: Anything with ``act(observation, env) -> str | dict`` (see :mod:`toolgym.agents`).
        limit: Play at most this many episodes (scenarios, before ``samples``).
        progress: Show a tqdm progress bar on stderr.
        seed: A generator env's first seed (default 0); a suite env's first reset seed.
        batch_size: Episodes played together, turn by turn (default: the agent's ``batch_size``,
            else 1). More than one plays on copies of the env made from its spec.
        concurrency: Episodes in flight at once, each in its own thread and env copy, for agents
            that act one episode at a time (``openai:``; the agent's ``act`` must be thread-safe).
        samples: Trials per episode (pass^k); each record holds its ``sample`` index.
        resume: Records of episodes already played (a previous run's ``--out``): their episode
            ids are skipped and they join the report. Records with an ``error`` are played again.
        on_record: Called with each new record as its episode finishes (e.g. to append it to a
            file), in the caller's thread.

    Returns:
        The report over the plan's episodes, in plan order; records carry ``episode_id`` and
        ``sample``.

    Raises:
        InvalidKnob: a generator env without ``limit``, a negative ``limit``, or ``concurrency``
            with a batched agent.
    """
    own = not isinstance(env_or_scenarios, gym.Env)
    if own:
        scenarios = list(env_or_scenarios)
        env = gym.make("ToolGym/Suite-v0", scenarios=scenarios, max_episode_steps=suite_turn_limit(scenarios))
    else:
        env = env_or_scenarios
    pool = _EnvPool(env, own)
    try:
        plan = _episode_plan(env, limit, seed, samples)
        done = {str(r.get("episode_id", r.get("scenario_id"))): dict(r) for r in resume if not r.get("error")}
        todo = [e for e in plan if e.episode_id not in done]
        slots = min(_slots(agent, batch_size, concurrency), max(1, len(todo)))
        done.update(_play_plan(pool, slots, agent, todo, progress, concurrency > 1, on_record))
    finally:
        pool.close()
    report = EvalReport.from_records([done[e.episode_id] for e in plan if e.episode_id in done])
    report.sandbox = pool.isolation()
    return report


def _slots(agent: Any, batch_size: int | None, concurrency: int) -> int:
    """How many envs play at once: threads for ``concurrency``, else the batch size."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidKnob(f"concurrency must be an int >= 1, got {concurrency!r}.")
    if concurrency == 1:
        return max(1, int(batch_size or getattr(agent, "batch_size", 1) or 1))
    if hasattr(agent, "act_batch"):
        raise InvalidKnob(
            "concurrency runs episodes in threads for agents that act one episode at a time "
            "(openai:, oracle, random); a batched agent (hf:) plays episodes together with batch_size."
        )
    if batch_size not in (None, 1):
        raise InvalidKnob("Give concurrency or batch_size, not both.")
    return concurrency


class _EnvPool:
    """The evaluated env and the copies made of it, from its spec, for episodes played at once.

    The suite and the simulated user are shared by the copies, not deep-copied (scenarios are
    frozen, users thread-safe), and the spec is read once (a wrapper's ``spec`` deep-copies them).
    """

    _SHARED = ("scenarios", "user")

    def __init__(self, env: gym.Env, own: bool) -> None:
        self.env, self.own, self.copies = env, own, []
        self._spec: Any = None
        self._lock = threading.Lock()

    def make(self) -> gym.Env:
        """A new copy (thread-safe)."""
        with self._lock:
            if self._spec is None:
                spec, given = _spec_of(self.env), self.env.unwrapped.spec.kwargs
                self._shared = {k: given[k] for k in self._SHARED if k in given}
                self._spec = dataclasses.replace(spec, kwargs={k: v for k, v in spec.kwargs.items()
                                                               if k not in self._shared})
        copy = gym.make(self._spec, **self._shared)
        with self._lock:
            self.copies.append(copy)
        return copy

    def isolation(self) -> str | None:
        """How the envs' sandboxed tools were isolated (``"os"``, ``"process"``), None if none ran."""
        found = {getattr(e.unwrapped, "sandbox_isolation", None) for e in [self.env, *self.copies]} - {None}
        return "+".join(sorted(found)) or None

    def close(self) -> None:
        for env in [self.env] * self.own + self.copies:
            env.close()


def _spec_of(env: gym.Env) -> Any:
    """``env.spec`` without its cost: a wrapper's ``spec`` deep-copies the kwargs (the whole suite)
    once per wrapper, seconds for FTRL's test set. The wrappers ``gym.make`` applies are read off
    the chain; an env with any other wrapper falls back to ``env.spec``."""
    from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

    steps, order, checker, layer = None, False, False, env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, TimeLimit):
            steps = layer._max_episode_steps
        elif isinstance(layer, OrderEnforcing):
            order = True
        elif isinstance(layer, PassiveEnvChecker):
            checker = True
        else:
            return env.spec
        layer = layer.env
    return dataclasses.replace(env.unwrapped.spec, max_episode_steps=steps, order_enforce=order,
                               disable_env_checker=not checker)


def _play_plan(
    pool: _EnvPool, slots: int, agent: Any, plan: list[_Planned], progress: bool, threaded: bool,
    on_record: Callable[[dict[str, Any]], None] | None,
) -> dict[str, dict[str, Any]]:
    """Plays the plan on ``slots`` envs: in threads, or in batches turn by turn; records by episode id."""
    from tqdm.auto import tqdm

    records: dict[str, dict[str, Any]] = {}
    with tqdm(total=len(plan), desc="eval", unit="episode", file=sys.stderr, disable=not progress) as bar:

        def finish(entry: _Planned, record: dict[str, Any]) -> None:
            records[entry.episode_id] = record = {"episode_id": entry.episode_id, "sample": entry.sample, **record}
            if on_record is not None:
                on_record(record)
            bar.update(1)

        if threaded:
            _play_threaded(pool, slots, agent, plan, finish)
            return records
        envs = [pool.env, *(pool.make() for _ in range(slots - 1))]
        for start in range(0, len(plan), len(envs)):
            chunk = plan[start : start + len(envs)]
            played = play_batch(envs[: len(chunk)], agent, [e.seed for e in chunk], [e.options for e in chunk])
            for entry, record in zip(chunk, played, strict=True):
                finish(entry, record)
    return records


def _play_threaded(
    pool: _EnvPool, slots: int, agent: Any, plan: list[_Planned], finish: Callable[[_Planned, dict[str, Any]], None]
) -> None:
    """``slots`` threads, each with its env (the pool's, or a copy it makes), playing the plan's next
    episode through :func:`play_batch` until none is left; records are handed to ``finish`` in this
    thread as episodes end. On an error (or Ctrl-C) the episodes not yet begun are dropped; the
    threads are daemons, so none outlives the process."""
    todo: queue.SimpleQueue[_Planned] = queue.SimpleQueue()
    results: queue.SimpleQueue[tuple[_Planned, Any]] = queue.SimpleQueue()
    for entry in plan:
        todo.put(entry)

    def work(env: gym.Env | None) -> None:
        while True:
            try:
                entry = todo.get_nowait()
            except queue.Empty:
                return
            try:
                env = env or pool.make()  # copies start in parallel, each in its own thread
                results.put((entry, play_batch([env], agent, [entry.seed], [entry.options])[0]))
            except BaseException as exc:  # handed to the main thread, which raises it
                results.put((entry, exc))
                return

    for slot in range(slots):
        threading.Thread(target=work, args=(pool.env if slot == 0 else None,), daemon=True,
                         name="toolgym-eval").start()
    try:
        for _ in plan:
            entry, out = _next_result(results)
            if isinstance(out, BaseException):
                raise out
            finish(entry, out)
    finally:
        while not todo.empty():
            todo.get_nowait()


def _next_result(results: queue.SimpleQueue) -> Any:
    while True:  # a timeout, so that Ctrl-C reaches this thread at once
        try:
            return results.get(timeout=0.2)
        except queue.Empty:
            continue
