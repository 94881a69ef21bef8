"""The ``toolgym`` command: ``generate``, ``show`` and ``eval``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
from collections.abc import Sequence

from toolgym.error import ToolGymError

__all__ = ["main", "make_parser"]


def _add_knobs(parser: argparse.ArgumentParser) -> None:
    from toolgym.generate import GenerateConfig

    hints = typing.get_type_hints(GenerateConfig)
    for field in dataclasses.fields(GenerateConfig):
        hint = str(hints[field.name])
        flag = "--" + field.name.replace("_", "-")
        help_text = field.metadata.get("help", "") + f" (default: {field.default})"
        if "tuple" in hint:
            parser.add_argument(flag, nargs="+", default=None, help=help_text)
        elif hint.startswith("<class 'bool'>") or hint == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif "float" in hint:
            parser.add_argument(flag, type=float, default=None, help=help_text)
        elif "int" in hint:
            parser.add_argument(flag, type=int, default=None, help=help_text)
        else:
            parser.add_argument(flag, default=None, help=help_text)


def _knobs(args: argparse.Namespace) -> dict:
    from toolgym.generate import GenerateConfig

    knobs = {}
    for field in dataclasses.fields(GenerateConfig):
        value = getattr(args, field.name, None)
        if value is not None:
            knobs[field.name] = tuple(value) if isinstance(value, list) else value
    return knobs


def make_parser() -> argparse.ArgumentParser:
    """Builds the argument parser of the ``toolgym`` command."""
    parser = argparse.ArgumentParser(prog="toolgym", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="build a suite of scenarios (JSONL)")
    gen.add_argument("--n", type=int, default=100, help="number of scenarios (default: 100)")
    gen.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    gen.add_argument("-o", "--output", required=True, help="output file (.jsonl)")
    gen.add_argument("--format", choices=("toolgym", "ftrl"), default="toolgym",
                     help="row format: ToolGym scenarios or FTRL rows (default: toolgym)")
    _add_knobs(gen)

    show = sub.add_parser("show", help="print a scenario and the oracle solving it")
    show.add_argument("suite", help="suite file")
    show.add_argument("--index", type=int, default=0, help="which scenario (default: 0)")

    from toolgym.evaluate import add_eval_parser

    add_eval_parser(sub)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from toolgym.generate import GenerateConfig, iter_suite
    from toolgym.suites import save_suite

    config = GenerateConfig.from_kwargs(**_knobs(args))
    if args.n < 1:
        raise ToolGymError(f"--n must be at least 1, got {args.n}.")
    scenarios = iter_suite(args.n, args.seed, config, progress=True)
    count = save_suite(scenarios, args.output, format=args.format)
    print(f"wrote {count} scenarios to {args.output}")
    return 0


def _show(args: argparse.Namespace) -> int:
    import gymnasium as gym

    from toolgym.oracle import OracleAgent
    from toolgym.suites import load_suite

    scenarios = load_suite(args.suite)
    if not 0 <= args.index < len(scenarios):
        raise ToolGymError(f"--index must be in [0, {len(scenarios)}), got {args.index}.")
    env = gym.make("ToolGym/Suite-v0", scenarios=scenarios, render_mode="ansi")
    obs, info = env.reset(options={"index": args.index})
    agent = OracleAgent()
    print(f"# {info['scenario_id']} ({info['shape']}), {len(obs['tools'])} tools")
    for tool in obs["tools"]:
        fn = tool["function"]
        print(f"  - {fn['name']}({', '.join(fn['parameters'].get('properties', {}))})")
    done = truncated = False
    rewards = []
    while not (done or truncated):
        obs, reward, done, truncated, info = env.step(agent.act(obs, env))
        rewards.append(reward)
    print(env.render())
    print(
        f"rewards per turn: {[round(r, 3) for r in rewards]}  Solve-P {info['solve_precision']:.2f}  "
        f"Solve-R {info['solve_rate']:.2f}  Solve-F1 {info['solve_f1']:.2f}  "
        f"answer correct: {info['answer_correct']}"
    )
    env.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``toolgym`` command; returns the exit code."""
    args = make_parser().parse_args(argv)
    try:
        if args.command == "generate":
            return _generate(args)
        if args.command == "show":
            return _show(args)
        from toolgym.evaluate import run_eval

        return run_eval(args)
    except ToolGymError as exc:
        print(f"toolgym {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `toolgym show ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
