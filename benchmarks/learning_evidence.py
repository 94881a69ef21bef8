"""Is the RL gain real? Several training seeds, an SFT control and the lower-layer-MLP comparison.

For each training seed this runs, through ``toolgym-train`` (one process per run, resumable: a run
whose ``results.json`` exists is read, not rerun):

1. ``rl``: the preset as it is (tiny model, SFT warm start, RL), held-out evaluation every
   ``--eval_every`` iterations, with a fault slice when ``--eval_fault_rate`` is given;
2. ``sft_control``: from that run's warm start, the same extra compute spent on more supervised
   steps on fresh oracle transcripts instead of RL (as many SFT steps as fit in the RL phase's
   seconds, at the warm start's measured steps per second);
3. ``rl_lower_mlp`` (``--lower_mlp``): RL from the same warm start training only the MLPs of the lower
   half of the layers, the rest frozen;
4. ``rl_faults`` (``--fault_rate R``): RL from the same warm start with transient tool faults on; its
   held-out fault slice (recovery rate) set against the plain run's;
5. ``analysis``: ``toolgym-train analyze`` of the warm start against the RL checkpoint.

It then writes ``summary.json`` and ``summary.md``: per seed the held-out Solve-F1 of the warm
start, after RL and after the control, each paired gain with its 95% bootstrap interval, and the
mean and spread of the gains over the seeds.

Usage:
    python benchmarks/learning_evidence.py --seeds 42 43 44 --output_dir runs/evidence
    python benchmarks/learning_evidence.py --seeds 42 --lower_mlp --output_dir runs/evidence -- --iterations 16
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

CONTROL_TRAIN_SEED = 50_000
"""First seed of the control's fresh oracle transcripts (apart from the warm start's and RL's)."""


def _train(args: list[str], out: Path) -> dict[str, Any]:
    """Runs ``toolgym-train`` into ``out`` unless it finished before; returns its results."""
    results = out / "results.json"
    if not results.is_file():
        command = [sys.executable, "-m", "toolgym_train.cli", *args, "--output_dir", str(out)]
        print("+", " ".join(command), flush=True)
        subprocess.run(command, check=True)
    return json.loads(results.read_text())


def _gain(results: dict[str, Any], before: str, after: str) -> dict[str, float]:
    return results["paired_solve_f1_gain"][f"{before} -> {after}"]


def _f1(results: dict[str, Any], stage: str) -> float:
    return results["stages"][stage]["overall"]["solve_f1"]


def run_seed(seed: int, root: Path, preset: str, extra: list[str], lower_mlp: bool,
             fault_rate: float = 0.0) -> dict[str, Any]:
    """Every run of one training seed; returns its row of the summary."""
    base = ["--preset", preset, "--seed", str(seed), *extra]
    rl = _train(base, root / "rl")
    warm = root / "rl" / "warm_start"
    timings = rl["timings"]
    sft_steps_per_s = _preset_value(preset, extra, "sft_max_steps") / timings["warm_start_s"]
    control_steps = max(1, round(timings["rl_s"] * sft_steps_per_s))
    from_warm = ["--preset", preset, "--seed", str(seed), *extra, "--model", str(warm)]
    control = _train([*from_warm, "--iterations", "0", "--sft_max_steps", str(control_steps),
                      "--train_seed", str(CONTROL_TRAIN_SEED), "--eval_every", "0"], root / "sft_control")
    row = {
        "seed": seed,
        "warm_start_solve_f1": _f1(rl, "warm_start"),
        "rl_solve_f1": _f1(rl, "after_step") if "after_step" in rl["stages"] else None,
        "rl_gain": _gain(rl, "warm_start", _last_stage(rl)),
        "control_sft_steps": control_steps,
        "control_solve_f1": _f1(control, "warm_start"),
        "control_gain": _gain(control, "untrained", "warm_start"),
        "timings": timings,
        "held_out_curve": rl.get("held_out_curve"),
        "fault_slice": rl.get("fault_slice"),
    }
    if lower_mlp:
        lower = _train([*from_warm, "--warm_start_episodes", "0", "--train_modules", "mlp",
                        "--train_layers", "lower_half"], root / "rl_lower_mlp")
        row["lower_mlp_gain"] = _gain(lower, "untrained", _last_stage(lower))
    if fault_rate:
        env_kwargs = {**_preset_value_raw(preset, "env_kwargs"), "fault_rate": fault_rate}
        faulty = _train([*from_warm, "--warm_start_episodes", "0", "--env_kwargs", json.dumps(env_kwargs),
                         "--eval_fault_rate", str(fault_rate)], root / "rl_faults")
        row["fault_slice_rl_with_faults"] = faulty.get("fault_slice")
    analysis = root / "analysis"
    if not (analysis / "analysis.json").is_file():
        subprocess.run([sys.executable, "-m", "toolgym_train.cli", "analyze", "--base", str(warm),
                        "--trained", str(root / "rl" / "final"), "--output_dir", str(analysis)], check=True)
    return row


def _last_stage(results: dict[str, Any]) -> str:
    return list(results["stages"])[-1]


def _preset_value_raw(preset: str, name: str) -> Any:
    import yaml

    from toolgym_train.config import preset_path

    return yaml.safe_load(preset_path(preset).read_text())[name]


def _preset_value(preset: str, extra: list[str], name: str) -> float:
    """A config value as the run sees it: ``--name VALUE`` in ``extra``, else the preset's."""
    flag = f"--{name}"
    if flag in extra:
        return float(extra[extra.index(flag) + 1])
    return float(_preset_value_raw(preset, name))


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and spread of the gains over the seeds, and whether RL beat the control on each."""
    def stats(key: str) -> dict[str, float] | None:
        values = [row[key]["mean"] for row in rows if row.get(key)]
        if not values:
            return None
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return {"mean": statistics.fmean(values), "std": spread, "min": min(values), "max": max(values)}

    return {
        "seeds": [row["seed"] for row in rows],
        "rl_gain": stats("rl_gain"),
        "control_gain": stats("control_gain"),
        "lower_mlp_gain": stats("lower_mlp_gain"),
        "every_rl_gain_positive": all(row["rl_gain"]["mean"] > 0 for row in rows),
        "rl_beats_control_every_seed": all(row["rl_gain"]["mean"] > row["control_gain"]["mean"] for row in rows),
    }


def markdown(rows: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The per-seed table and the summary, in Markdown."""
    def gain(g: dict[str, float] | None) -> str:
        return "-" if not g else f"{g['mean']:+.3f} ({g['ci95_low']:+.3f} .. {g['ci95_high']:+.3f})"

    lines = ["| seed | warm start | after RL | RL gain (95% CI) | SFT control gain (95% CI) | control SFT steps "
             "| lower-MLP RL gain (95% CI) |", "|---:|---:|---:|---|---|---:|---|"]
    for row in rows:
        lines.append(f"| {row['seed']} | {row['warm_start_solve_f1']:.3f} | {row['rl_solve_f1']:.3f} | "
                     f"{gain(row['rl_gain'])} | {gain(row['control_gain'])} | {row['control_sft_steps']} | "
                     f"{gain(row.get('lower_mlp_gain'))} |")
    lines.append("")
    for key in ("rl_gain", "control_gain", "lower_mlp_gain"):
        if summary[key]:
            s = summary[key]
            lines.append(f"- {key}: mean {s['mean']:+.3f}, std {s['std']:.3f}, min {s['min']:+.3f}, "
                         f"max {s['max']:+.3f} over {len(rows)} seeds")
    lines.append(f"- every RL gain positive: {summary['every_rl_gain_positive']}; RL beats the SFT control on "
                 f"every seed: {summary['rl_beats_control_every_seed']}")
    for row in rows:
        for label, key in (("plain RL", "fault_slice"), ("RL with faults", "fault_slice_rl_with_faults")):
            for stage, point in (row.get(key) or {}).items():
                rate = "-" if point["recovery_rate"] is None else f"{point['recovery_rate']:.3f}"
                lines.append(f"- seed {row['seed']}, {label} run, {stage}: fault-slice Solve-F1 "
                             f"{point['solve_f1']:.3f}, recovery {rate} of {point['faulted_episodes'] or 0} faulted")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--preset", default="tiny-cpu")
    parser.add_argument("--output_dir", default="runs/evidence")
    parser.add_argument("--lower_mlp", action="store_true", help="also RL on the lower half's MLPs only")
    parser.add_argument("--fault_rate", type=float, default=0.0,
                        help="also RL from the warm start with this env fault_rate, and compare recovery "
                             "on a held-out fault slice (give --eval_fault_rate too, for the plain run's slice)")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    out = Path(args.output_dir)
    rows = [run_seed(seed, out / f"seed{seed}", args.preset, extra, args.lower_mlp, args.fault_rate)
            for seed in args.seeds]
    summary = summarize(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    (out / "summary.md").write_text(markdown(rows, summary))
    print(markdown(rows, summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
