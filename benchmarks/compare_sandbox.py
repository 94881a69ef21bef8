"""Benchmark: two checkouts' sandboxes against FTRL's exec, in alternating processes.

On a small virtual machine the speed of cross-process round trips drifts by tens of percent over
minutes, and two runtimes in one process disturb each other, so a change to the sandbox is judged
here by many short runs, each in a process of its own, alternating between the checkouts: each run
warms one ``SandboxRuntime`` (``process`` isolation) up on the 200 environments of FTRL's test set,
then interleaves FTRL's way and the sandbox, best of ``--sweeps`` sweeps, and reports the sandbox's
ratio over FTRL (per episode, first calls, repeat calls; see ``bench_tool_calls.py``). The medians
over the runs are printed per checkout.

Usage:
    git worktree add /tmp/base <commit>
    python benchmarks/compare_sandbox.py --checkouts /tmp/base . [--runs 6] [--sweeps 4]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PHASES = ("episode", "first", "repeat")


def one_run(checkout: str, sweeps: int, warm_up: int) -> dict[str, float]:
    """In this process: the sandbox of ``checkout`` against FTRL; ratios per phase."""
    sys.path.insert(0, str(HERE))
    from bench_tool_calls import DEFAULT_DATA, load_environments, sweep_ftrl, sweep_sandbox

    for name in [m for m in sys.modules if m == "toolgym" or m.startswith("toolgym.")]:
        del sys.modules[name]  # bench_tool_calls imported this checkout's; use the one asked for
    sys.path.insert(0, checkout)
    from toolgym.tools.sandbox import SandboxRuntime

    environments = load_environments(DEFAULT_DATA)
    ftrl, sandbox = [], []
    with SandboxRuntime({}, isolation="process") as runtime, contextlib.redirect_stdout(io.StringIO()):
        for _ in range(warm_up):
            sweep_sandbox(runtime, environments, {})
        for _ in range(sweeps):
            ftrl.append(sweep_ftrl(environments, set()))
            sandbox.append(sweep_sandbox(runtime, environments, {}))
    best_ftrl = min(t["first"] for t in ftrl)  # FTRL's way costs the same on every call
    return {phase: best_ftrl / min(t[phase] for t in sandbox) for phase in PHASES}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", nargs="+", required=True, help="repository roots to compare")
    parser.add_argument("--runs", type=int, default=6, help="runs per checkout (alternating)")
    parser.add_argument("--sweeps", type=int, default=4, help="timed sweeps per run (best is kept)")
    parser.add_argument("--warm_up", type=int, default=3, help="untimed sweeps before them")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: a single run, as JSON
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(args.one, args.sweeps, args.warm_up)))
        return
    checkouts = [str(Path(c).resolve()) for c in args.checkouts]
    for checkout in checkouts:
        if not (Path(checkout) / "toolgym/tools/sandbox.py").exists():
            raise SystemExit(f"{checkout} is not a ToolGym checkout (no toolgym/tools/sandbox.py)")
    results: dict[str, list[dict[str, float]]] = {c: [] for c in checkouts}
    for run in range(args.runs):
        for checkout in checkouts:
            command = [sys.executable, __file__, "--checkouts", checkout, "--one", checkout,
                       "--sweeps", str(args.sweeps), "--warm_up", str(args.warm_up)]
            line = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[checkout].append(json.loads(line.strip().splitlines()[-1]))
            print(f"run {run + 1}/{args.runs} {checkout}: "
                  + ", ".join(f"{p} {results[checkout][-1][p]:.2f}x" for p in PHASES), flush=True)
    print("\nmedian over runs (x FTRL's exec per call), with each run's figure:")
    for checkout, runs in results.items():
        print(checkout)
        for phase in PHASES:
            values = [r[phase] for r in runs]
            print(f"  {phase:<8}{statistics.median(values):6.2f}x   "
                  + " ".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    main()
