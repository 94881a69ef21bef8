"""`toolgym eval` against a served model: episodes per second by --concurrency, and ToolGym's share of a turn.

A stub OpenAI-compatible server (tests/openai_stub.py) runs in its own process on 127.0.0.1 and
waits ``--latency`` seconds (default 0.1) before each reply, as a model server would. Its policy
plays FTRL's test set like a weak model: for each episode, 1 to 3 turns that call the episode's
first tool with arguments built from its schema, then an answer. Every episode is played by
:func:`toolgym.evaluate.evaluate` with an ``openai:`` agent (the ``openai`` client package), as
``toolgym eval --concurrency N`` plays it, so the figures include the client, the episode loop,
the sandboxed tools and the reward.

    python benchmarks/bench_eval_concurrency.py [--concurrency 1 8 32] [--limit 200] [--json]

``episodes/s`` is end to end (the env copies and their sandboxes start inside the run);
``steady/s`` counts the episodes that finished in the middle half of the run over its duration,
once every env is up.

Each level runs in a fresh process (no warm caches from another level). At concurrency 1 it
also splits each turn's time: the agent's request (the server's wait and the
HTTP round trip through the client) against ToolGym's own work (reset, parsing, validation, the
tool calls in the sandbox, the reward, the episode loop).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym

ROOT = Path(__file__).resolve().parents[1]
FTRL_TEST = ROOT.parent / "shared" / "data" / "ftrl_test.jsonl"


def stub_policy(body: dict[str, Any]) -> dict[str, Any]:
    """1-3 calls of the first tool (by a hash of the question), then an answer."""
    messages = body["messages"]
    question = next(m["content"] for m in messages if m["role"] == "user")
    calls = 1 + hashlib.sha256(question.encode()).digest()[0] % 3
    if sum(m["role"] == "assistant" for m in messages) >= calls or not body.get("tools"):
        return {"role": "assistant", "content": "<answer>unknown</answer>"}
    from toolgym.agents import sample_arguments

    fn = body["tools"][0]["function"]
    arguments = json.dumps(sample_arguments(fn.get("parameters")))
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": fn["name"], "arguments": arguments}}]}


def _serve(port: Any, latency: float) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from openai_stub import StubOpenAI

    with StubOpenAI(stub_policy, delay=latency) as server:
        port.put(server.url)
        while True:
            time.sleep(3600)


class _TimedAgent:
    """Wraps an agent and adds up the time its ``act`` takes (the request to the server)."""

    def __init__(self, agent: Any) -> None:
        self.agent, self.seconds, self.turns = agent, 0.0, 0

    def act(self, observation: dict, env: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.agent.act(observation, env)
        finally:
            self.seconds += time.perf_counter() - start
            self.turns += 1


def run(url: str, scenarios: list, concurrency: int, samples: int = 1, isolation: str = "auto") -> dict[str, Any]:
    """Plays every scenario ``samples`` times; times the whole evaluation (env copies made inside
    and their sandboxes started included)."""
    from toolgym.agents import make_agent
    from toolgym.evaluate import evaluate

    agent = _TimedAgent(make_agent("openai:stub", base_url=url))
    env = gym.make("ToolGym/Suite-v0", scenarios=scenarios, sandbox={"isolation": isolation})
    finished: list[float] = []
    start = time.perf_counter()
    report = evaluate(env, agent if concurrency == 1 else agent.agent, progress=False, concurrency=concurrency,
                      samples=samples, on_record=lambda record: finished.append(time.perf_counter()))
    wall = time.perf_counter() - start
    env.close()
    turns = sum(e["turns"] for e in report.episodes)
    quarter = len(finished) // 4  # the middle half of the run: envs and their sandboxes are up
    steady = (len(finished) - 2 * quarter - 1) / (finished[-quarter - 1] - finished[quarter])
    out = {"concurrency": concurrency, "isolation": report.sandbox, "episodes": len(report.episodes), "turns": turns,
           "seconds": wall,
           "episodes_per_s": len(report.episodes) / wall, "steady_per_s": steady, "errors": report.overall["errors"]}
    if concurrency == 1:
        out["turn_ms"] = 1000 * wall / turns
        out["request_ms"] = 1000 * agent.seconds / agent.turns
        out["toolgym_ms"] = 1000 * (wall - agent.seconds) / turns
        out["toolgym_share"] = (wall - agent.seconds) / wall
    return out


def _in_fresh_process(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a forked child, so that no run inherits another's warm caches (compiled
    argument validators, gold hashes): each level pays ToolGym's one-time costs alike."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=lambda: out.put(fn(*args)))
    child.start()
    result = out.get()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--limit", type=int, default=200, help="episodes of FTRL's test set (default: all 200)")
    parser.add_argument("--latency", type=float, default=0.1, help="the server's wait per request, seconds")
    parser.add_argument("--samples", type=int, default=1, help="plays of each episode (default: 1)")
    parser.add_argument("--isolation", default="auto", choices=("auto", "os", "process"),
                        help="the sandbox's isolation for the rows' tools (default: auto)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from toolgym.suites import load_suite

    scenarios = load_suite(FTRL_TEST)[: args.limit]
    urls: Any = multiprocessing.get_context("fork").Queue()
    server = multiprocessing.get_context("fork").Process(target=_serve, args=(urls, args.latency), daemon=True)
    server.start()
    url = urls.get(timeout=60)
    try:
        results = [_in_fresh_process(run, url, scenarios, c, args.samples, args.isolation) for c in args.concurrency]
    finally:
        server.terminate()
    base = next((r for r in results if r["concurrency"] == 1), None)
    for r in results:
        r["speedup"] = r["episodes_per_s"] / base["episodes_per_s"] if base else None
        r["steady_speedup"] = r["steady_per_s"] / base["steady_per_s"] if base else None
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{len(scenarios)} episodes of FTRL's test set x {args.samples}, server latency {1000 * args.latency:.0f} ms "
          f"per request, sandbox isolation {results[0]['isolation']}")
    print(f"{'concurrency':>11} {'episodes/s':>10} {'speedup':>8} {'steady/s':>9} {'speedup':>8} {'turns':>6} "
          f"{'seconds':>8} {'errors':>6}")
    for r in results:
        speedup = "-" if r["speedup"] is None else f"{r['speedup']:.1f}x"
        steady = "-" if r["steady_speedup"] is None else f"{r['steady_speedup']:.1f}x"
        print(f"{r['concurrency']:>11} {r['episodes_per_s']:>10.2f} {speedup:>8} {r['steady_per_s']:>9.2f} {steady:>8} "
              f"{r['turns']:>6} {r['seconds']:>8.1f} {r['errors']:>6}")
    for r in results:
        if "turn_ms" in r:
            print(f"per turn at concurrency 1: {r['turn_ms']:.1f} ms = request {r['request_ms']:.1f} ms + "
                  f"ToolGym {r['toolgym_ms']:.1f} ms ({100 * r['toolgym_share']:.1f}% of the turn)")


if __name__ == "__main__":
    main()
