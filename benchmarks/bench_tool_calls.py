"""Benchmark: calling FTRL's source-text tools three ways, side by side.

(a) FTRL's way: ``exec`` the source on every call in a fresh namespace, under a thread-based 10 s
    timeout like the ``func_timeout`` package (one thread per call, joined with a timeout);
(b) ToolGym's :class:`~toolgym.tools.sandbox.SandboxRuntime`: one runtime, ``reset`` per
    environment, each tool called through the worker process; once per isolation
    (``process`` and ``os``, i.e. bubblewrap), side by side, plus (b') the same with the worker
    reused across environments;
(c) in-process exec-once: compile and exec once per environment, call the function directly
    (no isolation: the baseline for trusted code).

Every tool of the 200 environments of FTRL's test set is called once per sweep with arguments built
from its schema (required parameters only: first enum value, else a default per type). The data
holds no gold calls, so the outputs are mostly the tools' own validation messages, which is fine:
a tool that answers, even with an error message of its own, is *callable*.

It also times the zygote's start-up per isolation (from ``SandboxRuntime(...)`` to its first
loaded worker), counts the tools whose output differs between the isolations, and, where ``/proc``
exists, the CPU time per episode of this process and of the sandbox's processes (zygotes and
workers: forks, page faults, process exits), which bounds the episodes per second of a busy machine.

``--pause MS`` sleeps after each episode, untimed, as a model's generation does between an env's
episodes: the sandbox kills the last worker and forks the next in the background, so with a pause
that work leaves the timed episode (without one, back to back, it competes with the episode's
calls for the cores).

Usage:
    python benchmarks/bench_tool_calls.py [--data PATH] [--repeat 3] [--isolation process os]
        [--pause 0] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolgym.tools._bubblewrap import bwrap_problem  # noqa: E402
from toolgym.tools.sandbox import SandboxRuntime  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/ftrl_test.jsonl"
TYPE_DEFAULTS: dict[str, Any] = {
    "string": "test",
    "integer": 1,
    "number": 1.0,
    "boolean": True,
    "array": [],
    "object": {},
}


def ftrl_call(name: str, arguments: dict, code: str, timeout: float = 10, **kwargs: Any) -> str:
    """Calls a tool the way FTRL does: exec the source anew, run it in a thread with a timeout."""
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            namespace: dict[str, Any] = {}
            exec(code, namespace, namespace)
            if name not in namespace:
                raise NameError(f"name {name} is not defined")
            predict = namespace[name](**arguments, **kwargs)
            if type(predict) is dict or type(predict) is list:
                predict = json.dumps(predict, ensure_ascii=False)
            elif type(predict) is not str:
                predict = str(predict)
            outcome.append((True, predict))
        except Exception as error:
            outcome.append((False, error))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():  # the thread cannot be stopped: it keeps running, as with FTRL
        return f"an error occured when call {name}: timed out after {timeout} seconds"
    if not outcome:
        return f"an error occured when call {name}: the tool raised a BaseException"
    ok, value = outcome[0]
    return value if ok else f"an error occured when call {name}: {value}"


def schema_arguments(parameters: dict) -> dict:
    """Arguments for the required parameters: the first enum value, else a default per type."""
    properties = parameters.get("properties") or {}
    arguments = {}
    for name in parameters.get("required") or []:
        spec = properties.get(name) or {}
        if spec.get("enum"):
            arguments[name] = spec["enum"][0]
            continue
        kind = spec.get("type", "string")
        kind = kind[0] if isinstance(kind, list) and kind else kind
        arguments[name] = TYPE_DEFAULTS.get(kind, "test")
    return arguments


def load_environments(path: Path) -> list[dict]:
    """Each environment: its codes and one call (name, arguments) per tool."""
    if not path.exists():
        raise SystemExit(f"FTRL test set not found at {path}; pass --data PATH/ftrl_test.jsonl")
    environments = []
    with path.open() as lines:
        for line in lines:
            row = json.loads(line)
            codes = json.loads(row["codes"])
            calls = []
            for spec in json.loads(row["tools"]):
                fn = spec.get("function", spec)
                if fn["name"] in codes:
                    calls.append((fn["name"], schema_arguments(fn.get("parameters") or {})))
            environments.append({"codes": codes, "calls": calls})
    return environments


def classify(environments: list[dict], sandbox_outputs: dict) -> Counter:
    """Why each tool answered as it did, from a trusted in-process run (hangs and crashes skipped)."""
    counts: Counter = Counter()
    for env_index, env in enumerate(environments):
        for name, arguments in env["calls"]:
            output = sandbox_outputs[(env_index, name)]
            if "timed out after" in output:
                counts["timeout (sandbox)"] += 1
                continue
            if " crashed (exit code" in output or "broke the sandbox" in output:
                counts["crash (sandbox)"] += 1
                continue
            try:
                code = compile(env["codes"][name], name, "exec")
            except SyntaxError:
                counts["not callable: syntax error"] += 1
                continue
            namespace: dict[str, Any] = {}
            try:
                exec(code, namespace)
            except ImportError:
                counts["callable: a module is missing"] += 1
                continue
            if not callable(namespace.get(name)):
                counts["not callable: function not defined"] += 1
                continue
            try:
                namespace[name](**arguments)
                counts["callable: returned"] += 1
            except ImportError:
                counts["callable: a module is missing"] += 1
            except Exception:
                counts["callable: raised"] += 1
    return counts


def cpu_seconds() -> tuple[float, float | None]:
    """CPU seconds used so far by this process and by its descendants (None without /proc).

    A descendant's figure includes its reaped children (a zygote's exited workers), so the
    difference between two readings counts each process's CPU time in between once.
    """
    own = time.process_time()
    proc = Path("/proc")
    if not (proc / "self/stat").exists():
        return own, None
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited meanwhile
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(field) for field in fields[11:15])  # utime..cstime
    below, found = {os.getpid()}, True
    while found:
        found = False
        for pid, parent in parents.items():
            if parent in below and pid not in below:
                below.add(pid)
                found = True
    below.discard(os.getpid())
    return own, sum(times[pid] for pid in below) / ticks


def timed(sweep: Any, *args: Any) -> dict[str, float]:
    """Runs ``sweep(*args)`` and adds its CPU seconds: this process's and the sandbox's."""
    own, others = cpu_seconds()
    timing = sweep(*args)
    own_after, others_after = cpu_seconds()
    timing["cpu_self"] = own_after - own
    if others is not None and others_after is not None:
        timing["cpu_sandbox"] = others_after - others
    return timing


def sweep_ftrl(environments: list[dict], skip: set, pause: float = 0.0) -> dict[str, float]:
    calls, elapsed = 0, 0.0
    for env_index, env in enumerate(environments):
        start = time.perf_counter()
        for name, arguments in env["calls"]:
            if (env_index, name) not in skip:
                ftrl_call(name, arguments, env["codes"][name])
                calls += 1
        elapsed += time.perf_counter() - start
        time.sleep(pause)
    return {"calls": calls, "episode": elapsed, "first": elapsed, "repeat": elapsed}


def sweep_inprocess(environments: list[dict], skip: set, pause: float = 0.0) -> dict[str, float]:
    timing = {"calls": 0, "setup": 0.0, "first": 0.0, "repeat": 0.0}
    for env_index, env in enumerate(environments):
        functions = {}
        start = time.perf_counter()
        for name, code in env["codes"].items():
            namespace: dict[str, Any] = {}
            with contextlib.suppress(Exception):
                exec(compile(code, name, "exec"), namespace)
                functions[name] = namespace[name]
        timing["setup"] += time.perf_counter() - start
        for name, arguments in env["calls"]:
            if (env_index, name) in skip or name not in functions:
                continue
            timing["calls"] += 1
            for phase in ("first", "repeat"):
                start = time.perf_counter()
                try:
                    result = functions[name](**arguments)
                    _ = (
                        json.dumps(result, ensure_ascii=False)
                        if type(result) in (dict, list)
                        else str(result)
                    )
                except Exception:
                    pass
                timing[phase] += time.perf_counter() - start
        time.sleep(pause)
    timing["episode"] = timing["setup"] + timing["first"]
    return timing


def sweep_sandbox(
    runtime: SandboxRuntime, environments: list[dict], outputs: dict, pause: float = 0.0
) -> dict[str, float]:
    """Per environment: reset (timed up to the loaded worker), each tool twice, then ``pause`` s."""
    timing = {"calls": 0, "setup": 0.0, "first": 0.0, "repeat": 0.0}
    for env_index, env in enumerate(environments):
        start = time.perf_counter()
        runtime.reset(env["codes"])
        _ = runtime.limits_missing  # waits until the worker has loaded the codes (no extra call)
        timing["setup"] += time.perf_counter() - start
        for name, arguments in env["calls"]:
            timing["calls"] += 1
            for phase in ("first", "repeat"):  # the first call also runs the tool's module body
                start = time.perf_counter()
                outputs[(env_index, name)] = runtime.call(name, arguments).text
                timing[phase] += time.perf_counter() - start
        time.sleep(pause)  # untimed, as a model's turn: the sandbox's background work runs then
    timing["episode"] = timing["setup"] + timing["first"]
    return timing


def zygote_start_ms(isolation: str, starts: int) -> float:
    """Median ms from ``SandboxRuntime(...)`` until its first worker has loaded (empty codes)."""
    times = []
    for _ in range(starts):
        start = time.perf_counter()
        with SandboxRuntime({}, isolation=isolation) as runtime:
            _ = runtime.limits_missing  # waits for the zygote, its first fork and the load
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def available_isolations(requested: list[str]) -> list[str]:
    """The requested isolations this machine can run (``os`` needs bubblewrap)."""
    problem = bwrap_problem()
    if "os" in requested and problem is not None:
        print(f"isolation 'os' skipped: {problem}", file=sys.stderr)
    return [i for i in requested if i != "os" or problem is None]


def labels(isolations: list[str]) -> dict[str, str]:
    """Path key -> label, the sandbox paths once per isolation."""
    paths = {"ftrl": "(a) FTRL: exec + thread per call"}
    for isolation in isolations:
        paths[f"sandbox_{isolation}"] = f"(b) SandboxRuntime, isolation={isolation}"
        paths[f"fresh_{isolation}"] = f"(b'') same, a fresh worker every episode, {isolation}"
        paths[f"reuse_{isolation}"] = f"(b') same, worker always reused, {isolation}"
    paths["inprocess"] = "(c) in-process, exec once"
    return paths


def run_sweeps(
    environments: list[dict], isolations: list[str], repeat: int, pause: float = 0.0
) -> dict:
    """All paths, interleaved ``repeat`` times so that machine noise hits them alike."""
    runtimes = {}
    for isolation in isolations:
        runtimes[f"sandbox_{isolation}"] = SandboxRuntime({}, timeout=10.0, isolation=isolation)
        runtimes[f"fresh_{isolation}"] = SandboxRuntime(
            {}, timeout=10.0, isolation=isolation, reuse_clean_workers=False
        )
        runtimes[f"reuse_{isolation}"] = SandboxRuntime(
            {}, timeout=10.0, isolation=isolation, fresh_worker_per_episode=False
        )
    with contextlib.ExitStack() as stack, contextlib.redirect_stdout(io.StringIO()):
        for runtime in runtimes.values():
            stack.enter_context(runtime)
        outputs = {key: {} for key in runtimes}
        for key, runtime in runtimes.items():  # warm-up and probe
            sweep_sandbox(runtime, environments, outputs[key])
        first = outputs[f"sandbox_{isolations[0]}"]
        skip = {key for key, out in first.items() if "timed out after" in out or "crashed" in out}
        runs: dict[str, list[dict]] = {path: [] for path in labels(isolations)}
        for _ in range(repeat):
            runs["ftrl"].append(timed(sweep_ftrl, environments, skip, pause))
            for key, runtime in runtimes.items():
                runs[key].append(timed(sweep_sandbox, runtime, environments, {}, pause))
            runs["inprocess"].append(timed(sweep_inprocess, environments, skip, pause))
        restarts = sum(runtime.restarts for runtime in runtimes.values())
        reused = {key: runtime.workers_reused for key, runtime in runtimes.items() if key.startswith("sandbox_")}
        aside = {key: runtime.episodes_aside for key, runtime in runtimes.items() if key.startswith("sandbox_")}
    differ = {
        isolation: sum(outputs[f"sandbox_{isolation}"][k] != out for k, out in first.items())
        for isolation in isolations
    }
    return {"runs": runs, "outputs": first, "restarts": restarts, "outputs_differ": differ,
            "workers_reused": reused, "episodes_aside": aside, "episodes_per_runtime": len(environments) * (repeat + 1)}


def summarize(runs: dict[str, list[dict]], environments: int) -> dict:
    """Calls per second per phase, and ms per episode / us per call, best sweep of each path."""
    rates, per_episode_ms, per_call_us = {}, {}, {}
    for path, timings in runs.items():
        calls = timings[0]["calls"]
        best = {phase: min(t[phase] for t in timings) for phase in ("episode", "first", "repeat")}
        rates[path] = {phase: calls / seconds for phase, seconds in best.items()}
        per_episode_ms[path] = best["episode"] / environments * 1e3
        per_call_us[path] = best["repeat"] / calls * 1e6
    setup_ms = {
        path: min(t["setup"] for t in timings) / environments * 1e3
        for path, timings in runs.items()
        if "setup" in timings[0]
    }
    cpu_ms = {  # the least of the sweeps, as for the times
        path: {
            key: min(t[key] for t in timings) / environments * 1e3
            for key in ("cpu_self", "cpu_sandbox")
            if key in timings[0]
        }
        for path, timings in runs.items()
    }
    return {
        "calls_per_second": rates,
        "ratio_over_ftrl": {
            path: {phase: rate / rates["ftrl"][phase] for phase, rate in phases.items()}
            for path, phases in rates.items()
        },
        "episode_ms": per_episode_ms,
        "repeat_call_us": per_call_us,
        "setup_ms_per_environment": setup_ms,
        "cpu_ms_per_episode": cpu_ms,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FTRL test set (JSONL)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed sweeps per path (best is kept)"
    )
    parser.add_argument(
        "--isolation",
        nargs="+",
        default=["process", "os"],
        choices=["process", "os"],
        help="sandbox isolations to compare side by side (os needs bubblewrap)",
    )
    parser.add_argument("--starts", type=int, default=10, help="zygote starts timed per isolation")
    parser.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="ms of untimed sleep after each episode, as a model's generation between episodes",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    environments = load_environments(args.data)
    isolations = available_isolations(args.isolation)
    for isolation in isolations:
        zygote_start_ms(isolation, 1)  # warm-up: the bwrap probe runs once per process
    zygote_ms = {isolation: zygote_start_ms(isolation, args.starts) for isolation in isolations}
    sweeps = run_sweeps(environments, isolations, args.repeat, args.pause / 1e3)
    with contextlib.redirect_stdout(io.StringIO()):  # some tools print
        counts = classify(environments, sweeps["outputs"])
    result = {
        "environments": len(environments),
        "tools": sum(len(env["calls"]) for env in environments),
        "isolations": isolations,
        **summarize(sweeps["runs"], len(environments)),
        "zygote_start_ms": zygote_ms,
        "outputs_differ_from_first_isolation": sweeps["outputs_differ"],
        "sandbox_restarts": sweeps["restarts"],
        "workers_reused": sweeps["workers_reused"],
        "episodes_aside": sweeps["episodes_aside"],
        "episodes_per_runtime": sweeps["episodes_per_runtime"],
        "callable": sum(v for k, v in counts.items() if k.startswith("callable")),
        "outcomes": dict(sorted(counts.items())),
        "repeat": args.repeat,
        "pause_ms": args.pause,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


def print_table(result: dict) -> None:
    rates, ratios = result["calls_per_second"], result["ratio_over_ftrl"]
    print(
        f"{result['environments']} environments, {result['tools']} tools, "
        f"best of {result['repeat']} sweeps, {result['pause_ms']:g} ms untimed pause per episode"
    )
    print(
        "calls/s (x FTRL). episode: setup + each tool once; first / repeat: a tool's 1st / 2nd call"
    )
    print(f"{'path':<56}{'episode':>18}{'first call':>18}{'repeat call':>18}{'ms/episode':>12}")
    for path, label in labels(result["isolations"]).items():
        cells = "".join(
            f"{rates[path][p]:>10,.0f} ({ratios[path][p]:>5.2f})"
            for p in ("episode", "first", "repeat")
        )
        print(f"{label:<56}{cells}{result['episode_ms'][path]:>12.2f}")
    setup = result["setup_ms_per_environment"]
    print("setup per environment (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in setup.items()))
    print("CPU per episode (ms): this process + sandbox processes (zygotes, workers)")
    for path, cpu in result["cpu_ms_per_episode"].items():
        sandbox = f" + {cpu['cpu_sandbox']:.2f}" if "cpu_sandbox" in cpu else ""
        print(f"  {path:<20}{cpu['cpu_self']:>8.2f}{sandbox}")
    print(
        "zygote start-up (ms, median): "
        + ", ".join(f"{k} {v:.1f}" for k, v in result["zygote_start_ms"].items())
    )
    if "os" in result["isolations"] and "process" in result["isolations"]:
        ms = result["episode_ms"]
        print(f"os / process per episode: {ms['sandbox_os'] / ms['sandbox_process']:.3f}")
    print(
        f"outputs that differ from the first isolation: {result['outputs_differ_from_first_isolation']}"
    )
    print(
        f"callable tools: {result['callable']}/{result['tools']}; "
        f"sandbox restarts: {result['sandbox_restarts']}"
    )
    print(
        f"episodes whose worker was reused, of {result['episodes_per_runtime']} per runtime: "
        + ", ".join(f"{k} {v}" for k, v in result["workers_reused"].items())
        + "; run aside in a fresh worker while a clean one waited: "
        + ", ".join(f"{k} {v}" for k, v in result["episodes_aside"].items())
    )
    for outcome, count in result["outcomes"].items():
        print(f"  {outcome:<40}{count:>6}")


if __name__ == "__main__":
    main()
