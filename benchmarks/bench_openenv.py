"""OpenEnv session throughput: ToolGym envs served by ``toolgym serve``, played by many sessions.

A server process (``toolgym serve --suite gen:N:0``) and this client process share the machine.
For each count of concurrent sessions, every session plays whole episodes of the oracle's turns
(prepared before the clock starts, as ``bench_env.py`` does) over its WebSocket, back to back, for
``--seconds``; the figures are steps (assistant turns) and episodes per second over all sessions,
and the step latency a session sees. The same episodes played in-process give the baseline.

    python benchmarks/bench_openenv.py [--sessions 1 16 64] [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from statistics import quantiles

import gymnasium as gym

from toolgym.evaluate import play_episode
from toolgym.generate import generate_suite
from toolgym.integrations.openenv import (
    ToolGymEnvClient,  # imported before any clock: it takes seconds
)
from toolgym.oracle import oracle_turns

SUITE_SIZE = 256


class _Scripted:
    def __init__(self, turns: list[str]) -> None:
        self._turns = iter(turns)

    def act(self, observation: dict, env: object) -> str:
        return next(self._turns)


def in_process_steps_per_second(turns: list[list[str]]) -> float:
    """The same episodes, played by one in-process env (the baseline)."""
    env = gym.make("ToolGym/Suite-v0", scenarios=generate_suite(SUITE_SIZE, 0))
    start, steps = time.perf_counter(), 0
    for index, episode in enumerate(turns):
        steps += play_episode(env, _Scripted(episode), options={"index": index})["turns"]
    return steps / (time.perf_counter() - start)


def start_server(max_sessions: int) -> tuple[subprocess.Popen, str]:
    """``toolgym serve`` on a free loopback port; returns the process and its URL once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "toolgym.cli", "serve", "--suite", f"gen:{SUITE_SIZE}:0", "--port", str(port),
               "--max-sessions", str(max_sessions), "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return process, url
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode()) from None
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not answer within 180 s")


async def _session(url: str, turns: list[list[str]], offset: int, stop_at: float, latencies: list[float]) -> tuple[int, int]:
    steps = episodes = 0
    async with ToolGymEnvClient(base_url=url) as client:
        index = offset
        while time.monotonic() < stop_at:
            await client.reset(options={"index": index % len(turns)})
            for turn in turns[index % len(turns)]:
                start = time.perf_counter()
                await client.step(turn)
                latencies.append(time.perf_counter() - start)
                steps += 1
            episodes += 1
            index += 1
    return steps, episodes


async def sessions_throughput(url: str, turns: list[list[str]], sessions: int, seconds: float) -> dict:
    """Steps and episodes per second over ``sessions`` concurrent sessions, and step latency."""
    latencies: list[float] = []
    start = time.monotonic()
    results = await asyncio.gather(*(_session(url, turns, i * 7, start + seconds, latencies) for i in range(sessions)))
    elapsed = time.monotonic() - start
    steps, episodes = sum(r[0] for r in results), sum(r[1] for r in results)
    cuts = quantiles(latencies, n=20)
    return {"sessions": sessions, "steps_per_s": steps / elapsed, "episodes_per_s": episodes / elapsed,
            "latency_p50_ms": 1000 * cuts[9], "latency_p95_ms": 1000 * cuts[18]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    turns = [oracle_turns(s) for s in generate_suite(SUITE_SIZE, 0)]
    baseline = in_process_steps_per_second(turns)
    process, url = start_server(max(args.sessions) + 8)
    try:
        asyncio.run(sessions_throughput(url, turns, 4, 2.0))  # warm-up: first calls compile validators
        rows = [asyncio.run(sessions_throughput(url, turns, n, args.seconds)) for n in args.sessions]
    finally:
        process.terminate()
        process.wait(timeout=30)
    if args.json:
        print(json.dumps({"in_process_steps_per_s": baseline, "cpus": os.cpu_count(), "rows": rows}, indent=2))
        return
    print(f"in-process: {baseline:,.0f} steps/s (one env, no server)")
    print(f"{'sessions':>8} {'steps/s':>9} {'episodes/s':>11} {'p50 ms':>7} {'p95 ms':>7}")
    for row in rows:
        print(f"{row['sessions']:>8} {row['steps_per_s']:>9,.0f} {row['episodes_per_s']:>11,.1f} "
              f"{row['latency_p50_ms']:>7.2f} {row['latency_p95_ms']:>7.2f}")


if __name__ == "__main__":
    main()
