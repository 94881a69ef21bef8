"""``toolgym-train``: train a causal LM in ToolGym envs from a preset, a YAML file and CLI overrides.

Examples:
    toolgym-train --preset tiny-cpu
    toolgym-train --preset tiny-cpu --mode dpo --iterations 2
    toolgym-train --config my_run.yaml --learning_rate 1e-6
    accelerate launch -m toolgym_train.cli --preset qwen2.5-7b-grpo
    toolgym-train analyze --base runs/tiny-cpu/warm_start --trained runs/tiny-cpu/final --output_dir runs/analysis
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["expand_preset", "main", "make_parser"]


def make_parser() -> Any:
    """Returns TRL's parser for :class:`~toolgym_train.config.ToolGymTrainConfig` (``--config`` YAML)."""
    from trl import TrlParser

    from toolgym_train.config import ToolGymTrainConfig

    return TrlParser(
        (ToolGymTrainConfig,), prog="toolgym-train", description=__doc__.splitlines()[0]
    )


def expand_preset(argv: Sequence[str]) -> list[str]:
    """Turns ``--preset NAME`` into ``--config <bundled NAME.yaml>`` (kept as a field too).

    Raises:
        ValueError: When the preset is unknown, listing the bundled ones.
    """
    from toolgym_train.config import preset_path

    args = list(argv)
    if "--preset" not in args:
        return args
    i = args.index("--preset")
    if i + 1 >= len(args):
        raise ValueError("--preset needs a name, e.g. --preset tiny-cpu.")
    path = preset_path(args[i + 1])
    if "--config" in args:
        raise ValueError(
            "Use either --preset or --config, not both (a preset is a bundled --config file)."
        )
    return ["--config", str(path), *args]


def main(argv: Sequence[str] | None = None) -> int:
    """Parses the arguments, runs training and prints the before/after table; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["analyze"]:  # where the learning happens: two checkpoints, layer x module
        from toolgym_train.analyze import main as analyze

        return analyze(argv[1:])
    try:
        parser = make_parser()
        (config,) = parser.parse_args_and_config(expand_preset(argv))
    except ValueError as err:
        print(f"toolgym-train: error: {err}", file=sys.stderr)
        return 2
    from toolgym_train.train import run

    try:
        result = run(config)
    except ValueError as err:  # bad input found once the env / model are loaded
        print(f"toolgym-train: error: {err}", file=sys.stderr)
        return 2
    print(f"toolgym-train: report written to {result['report']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
