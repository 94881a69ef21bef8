"""Scenarios per second per core of the procedural builder, for default knobs and per shape.

Run: ``python benchmarks/bench_generate.py [--n 2000] [--seed 0]``. Single process, one core.
"""

from __future__ import annotations

import argparse
import time

from toolgym.generate import GenerateConfig, generate_suite
from toolgym.scenario import SHAPES


def measure(config: GenerateConfig, n: int, seed: int) -> tuple[float, float, float]:
    """Returns (scenarios per wall second, per CPU second of this process, mean sub-tasks per
    scenario) for ``n`` scenarios. On a shared machine the CPU-time rate is the per-core figure."""
    generate_suite(20, seed + 1, config)  # warm caches (Faker instance, lru caches)
    start, cpu = time.perf_counter(), time.process_time()
    suite = generate_suite(n, seed, config)
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    return n / elapsed, n / used, sum(len(s.subtasks) for s in suite) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="scenarios per row")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = [("default (all shapes)", GenerateConfig())]
    rows += [(shape, GenerateConfig(shapes=(shape,))) for shape in SHAPES]
    rows += [("difficulty=5", GenerateConfig.from_kwargs(difficulty=5)),
             ("core, plain (tiny-cpu)", GenerateConfig(domains=("core",), doc_style="plain"))]
    print(f"{'knobs':<22} {'scenarios/s':>12} {'per CPU s':>10} {'ms/scenario':>12} {'subtasks':>9}")
    for label, config in rows:
        rate, cpu_rate, subtasks = measure(config, args.n, args.seed)
        print(f"{label:<22} {rate:>12.0f} {cpu_rate:>10.0f} {1000 / rate:>12.2f} {subtasks:>9.2f}")


if __name__ == "__main__":
    main()
