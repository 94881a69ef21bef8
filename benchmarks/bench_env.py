"""Env throughput: steps per second per core with the oracle's actions, and memory per live env.

Each step is the whole path: parse the text, validate the arguments, run the tools, score. The
episodes are played by ToolGym's one episode loop (:func:`toolgym.evaluate.play_episode`), so the
figure includes its bookkeeping and the reset to a given scenario.

    python benchmarks/bench_env.py [--episodes 2000] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

import gymnasium as gym

import toolgym
from toolgym.evaluate import play_episode
from toolgym.oracle import oracle_turns


class _Scripted:
    """Plays fixed turns, prepared before the clock starts, so the agent costs nothing."""

    def __init__(self, turns: list[str]) -> None:
        self._turns = iter(turns)

    def act(self, observation: dict, env: object) -> str:
        return next(self._turns)


def _episodes(env_id: str, n: int) -> list:
    env = gym.make(env_id)
    out = []
    for seed in range(n):
        env.reset(seed=seed)
        scenario = env.unwrapped.scenario
        out.append((scenario, oracle_turns(scenario)))
    return out


def steps_per_second(env_id: str, episodes: int) -> dict:
    """Times whole episodes of the oracle's turns (scenarios are built before the clock starts)."""
    env = gym.make(env_id)
    plays = _episodes(env_id, episodes)
    steps, calls = 0, 0
    start = time.perf_counter()
    for scenario, turns in plays:
        record = play_episode(env, _Scripted(turns), options={"scenario": scenario})
        steps += record["turns"]
        calls += record["calls"]
    elapsed = time.perf_counter() - start
    return {"env_id": env_id, "steps": steps, "steps_per_s": steps / elapsed, "calls_per_s": calls / elapsed}


def reset_per_second(env_id: str, episodes: int) -> float:
    """Times reset(seed=...), which builds a fresh scenario."""
    env = gym.make(env_id)
    start = time.perf_counter()
    for seed in range(episodes):
        env.reset(seed=seed)
    return episodes / (time.perf_counter() - start)


def memory_per_env(count: int = 200) -> float:
    """KiB of Python heap per live env after reset (tracemalloc)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    envs = [gym.make("ToolGym/Scenario-v0") for _ in range(count)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / count / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [steps_per_second(i, args.episodes) for i in toolgym.ENV_IDS if i != "ToolGym/Suite-v0"]
    for row in rows:
        row["resets_per_s"] = reset_per_second(row["env_id"], args.episodes // 4)
    report = {"rows": rows, "kib_per_live_env": memory_per_env()}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{'env id':<32}{'steps/s':>12}{'tool calls/s':>14}{'resets/s':>12}")
    for row in rows:
        print(
            f"{row['env_id']:<32}{row['steps_per_s']:>12,.0f}{row['calls_per_s']:>14,.0f}"
            f"{row['resets_per_s']:>12,.0f}"
        )
    print(f"memory per live env: {report['kib_per_live_env']:.1f} KiB")


if __name__ == "__main__":
    main()
