"""Benchmark: calling FTRL's source-text tools three ways, side by side.

(a) FTRL's way: ``exec`` the source on every call in a fresh namespace, under a thread-based 10 s
    timeout like the ``func_timeout`` package (one thread per call, joined with a timeout);
(b) ToolGym's :class:`~toolgym.tools.sandbox.SandboxRuntime`: one runtime, ``reset`` per
    environment, each tool called through the worker process;
(c) in-process exec-once: compile and exec once per environment, call the function directly
    (no isolation: the baseline for trusted code).

Every tool of the 200 environments of FTRL's test set is called once per sweep with arguments built
from its schema (required parameters only: first enum value, else a default per type). The data
holds no gold calls, so the outputs are mostly the tools' own validation messages, which is fine:
a tool that answers, even with an error message of its own, is *callable*.

Usage:
    python benchmarks/bench_tool_calls.py [--data PATH] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def sweep_ftrl(environments: list[dict], skip: set) -> dict[str, float]:
    calls, start = 0, time.perf_counter()
    for env_index, env in enumerate(environments):
        for name, arguments in env["calls"]:
            if (env_index, name) not in skip:
                ftrl_call(name, arguments, env["codes"][name])
                calls += 1
    elapsed = time.perf_counter() - start
    return {"calls": calls, "episode": elapsed, "first": elapsed, "repeat": elapsed}


def sweep_inprocess(environments: list[dict], skip: set) -> dict[str, float]:
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
    timing["episode"] = timing["setup"] + timing["first"]
    return timing


def sweep_sandbox(
    runtime: SandboxRuntime, environments: list[dict], outputs: dict
) -> dict[str, float]:
    """Per environment: reset (timed up to the loaded worker), then each tool twice."""
    timing = {"calls": 0, "setup": 0.0, "first": 0.0, "repeat": 0.0}
    for env_index, env in enumerate(environments):
        start = time.perf_counter()
        runtime.reset(env["codes"])
        runtime.get_state()  # one round trip: waits until the fresh worker has compiled the codes
        timing["setup"] += time.perf_counter() - start
        for name, arguments in env["calls"]:
            timing["calls"] += 1
            for phase in ("first", "repeat"):  # the first call also runs the tool's module body
                start = time.perf_counter()
                outputs[(env_index, name)] = runtime.call(name, arguments)
                timing[phase] += time.perf_counter() - start
    timing["episode"] = timing["setup"] + timing["first"]
    return timing


LABELS = {
    "ftrl": "(a) FTRL: exec + thread per call",
    "sandbox": "(b) SandboxRuntime",
    "sandbox_reuse": "(b') same, worker reused",
    "inprocess": "(c) in-process, exec once",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FTRL test set (JSONL)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed sweeps per path (best is kept)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    environments = load_environments(args.data)
    n_tools = sum(len(env["calls"]) for env in environments)

    reuse = SandboxRuntime({}, timeout=10.0, fresh_worker_per_episode=False)
    with (
        SandboxRuntime({}, timeout=10.0) as runtime,
        reuse,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        outputs: dict = {}
        sweep_sandbox(runtime, environments, outputs)  # warm-up and probe
        skip = {key for key, out in outputs.items() if "timed out after" in out or "crashed" in out}
        counts = classify(environments, outputs)
        runs: dict[str, list[dict]] = {path: [] for path in LABELS}
        for _ in range(args.repeat):
            runs["ftrl"].append(sweep_ftrl(environments, skip))
            runs["sandbox"].append(sweep_sandbox(runtime, environments, outputs))
            runs["sandbox_reuse"].append(sweep_sandbox(reuse, environments, {}))
            runs["inprocess"].append(sweep_inprocess(environments, skip))
        restarts = runtime.restarts + reuse.restarts

    rates = {}
    for path, timings in runs.items():
        calls = timings[0]["calls"]
        rates[path] = {
            phase: calls / min(t[phase] for t in timings)
            for phase in ("episode", "first", "repeat")
        }
    setup_ms = {
        path: min(t["setup"] for t in runs[path]) / len(environments) * 1e3
        for path in ("sandbox", "sandbox_reuse", "inprocess")
    }
    result = {
        "environments": len(environments),
        "tools": n_tools,
        "calls_per_second": rates,
        "ratio_over_ftrl": {
            path: {phase: rate / rates["ftrl"][phase] for phase, rate in phases.items()}
            for path, phases in rates.items()
        },
        "setup_ms_per_environment": setup_ms,
        "sandbox_restarts": restarts,
        "callable": sum(v for k, v in counts.items() if k.startswith("callable")),
        "outcomes": dict(sorted(counts.items())),
        "repeat": args.repeat,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


def print_table(result: dict) -> None:
    rates, ratios = result["calls_per_second"], result["ratio_over_ftrl"]
    print(
        f"{result['environments']} environments, {result['tools']} tools, best of {result['repeat']} sweeps"
    )
    print(
        "calls/s (x FTRL). episode: setup + each tool once; first / repeat: a tool's 1st / 2nd call"
    )
    print(f"{'path':<36}{'episode':>18}{'first call':>18}{'repeat call':>18}")
    for path, label in LABELS.items():
        cells = "".join(
            f"{rates[path][p]:>10,.0f} ({ratios[path][p]:>4.2f})"
            for p in ("episode", "first", "repeat")
        )
        print(f"{label:<36}{cells}")
    setup = result["setup_ms_per_environment"]
    print(
        f"setup per environment: sandbox reset {setup['sandbox']:.2f} ms (fresh worker + compile), "
        f"reused worker {setup['sandbox_reuse']:.2f} ms, in-process compile+exec {setup['inprocess']:.2f} ms"
    )
    print(
        f"callable tools: {result['callable']}/{result['tools']}; sandbox restarts: {result['sandbox_restarts']}"
    )
    for outcome, count in result["outcomes"].items():
        print(f"  {outcome:<40}{count:>6}")


if __name__ == "__main__":
    main()
