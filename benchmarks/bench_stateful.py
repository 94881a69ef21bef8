"""Generated stateful worlds: build rate, env steps, and the state-hash cost per episode.

Run: ``python benchmarks/bench_stateful.py [--n 200] [--episodes 100] [--records 1000]``.
Single process, one core (the sandbox worker runs the tools in a second process).

* scenarios built per second per core, per domain (default knobs: about 60 records);
* ``env.step`` throughput of the oracle on ``ToolGym/Stateful-v0`` (scripted user, sandboxed tools);
* the hash of the final data of an episode on a database of ``--records`` records: the full
  canonical hash (``state_hash``) against the incremental one (``StateHasher``), both on the
  oracle's final state, and the cost of fetching that state from the sandbox.
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np

import toolgym  # noqa: F401  (registers the ids)
from toolgym.generate.stateful import (
    DOMAINS,
    StatefulConfig,
    build_stateful_scenario,
    generate_stateful_suite,
)
from toolgym.oracle import OracleAgent
from toolgym.state_hash import StateHasher, state_hash


def build_rate(config: StatefulConfig, n: int) -> float:
    """Scenarios per second."""
    generate_stateful_suite(5, seed=99, config=config)  # warm the compiled tools
    start = time.perf_counter()
    generate_stateful_suite(n, seed=0, config=config)
    return n / (time.perf_counter() - start)


def step_rate(episodes: int) -> tuple[float, float]:
    """(steps per second, episodes per second) of the oracle on ToolGym/Stateful-v0."""
    env = gym.make("ToolGym/Stateful-v0")
    agent, steps = OracleAgent(env), 0
    env.reset(seed=10**6)  # start the sandbox worker
    start = time.perf_counter()
    for seed in range(episodes):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(agent.act(obs))
            done, steps = terminated or truncated, steps + 1
        assert info["answer_correct"], env.unwrapped.scenario.id
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed, episodes / elapsed


def _best_ms(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def hash_cost(records: int, domain: str, repeat: int) -> dict[str, float]:
    """Per-episode hash costs (ms) on the oracle's final state of a ``records``-record world."""
    config = StatefulConfig(domains=(domain,), shapes=("multi_write",), records=records)
    scenario = build_stateful_scenario(np.random.default_rng(0), config)
    env = gym.make("ToolGym/Suite-v0", scenarios=[scenario])
    agent = OracleAgent(env)
    obs, _ = env.reset(options={"index": 0})
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(agent.act(obs))
        done = terminated or truncated
    runner = env.unwrapped._runner
    final = runner.get_state()
    hasher = StateHasher(scenario.task.data)
    assert hasher.hexdigest(final) == state_hash(final) == scenario.task.target_hash
    out = {"records": float(sum(len(t) for t in final.values()))}
    out["full_ms"], out["full_median"] = _best_ms(lambda: state_hash(final), repeat)
    out["incremental_ms"], out["incremental_median"] = _best_ms(lambda: hasher.hexdigest(final), repeat)
    out["fetch_ms"], out["fetch_median"] = _best_ms(runner.get_state, repeat)
    out["hasher_setup_ms"], _ = _best_ms(lambda: StateHasher(scenario.task.data), 5)
    env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="scenarios per build row")
    parser.add_argument("--episodes", type=int, default=100, help="oracle episodes for the step rate")
    parser.add_argument("--records", type=int, default=1000, help="database size for the hash cost")
    parser.add_argument("--repeat", type=int, default=200, help="timings per hash figure")
    args = parser.parse_args()
    print(f"{'build':<16} {'scenarios/s':>12} {'ms/scenario':>12}")
    for label, config in [("all domains", StatefulConfig())] + [(d, StatefulConfig(domains=(d,))) for d in DOMAINS]:
        rate = build_rate(config, args.n)
        print(f"{label:<16} {rate:>12.0f} {1000 / rate:>12.2f}")
    steps, episodes = step_rate(args.episodes)
    print(f"\nToolGym/Stateful-v0 oracle: {steps:,.0f} steps/s, {episodes:,.1f} episodes/s")
    print(f"\n{'hash, ' + str(args.records) + ' records':<22} {'records':>8} {'full ms':>8} {'incr ms':>8} "
          f"{'median f/i':>11} {'fetch ms':>9} {'setup ms':>9}")
    for domain in DOMAINS:
        r = hash_cost(args.records, domain, args.repeat)
        print(f"{domain:<22} {r['records']:>8.0f} {r['full_ms']:>8.2f} {r['incremental_ms']:>8.2f} "
              f"{r['full_median']:>5.2f}/{r['incremental_median']:<5.2f} {r['fetch_ms']:>9.2f} "
              f"{r['hasher_setup_ms']:>9.2f}")


if __name__ == "__main__":
    main()
