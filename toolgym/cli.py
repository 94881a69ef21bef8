"""The ``toolgym`` command: ``generate``, ``show``, ``eval`` and ``report``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolgym.error import InvalidKnob, ToolGymError

__all__ = ["main", "make_parser"]

DEFAULT_MAX_TURNS = 20
"""Turns per episode where a scenario sets none (FTRL's default on its own test set)."""


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

    _add_eval_parser(sub)
    report = sub.add_parser("report", help="the paper's results table from `toolgym eval --out` files",
                            description="A row per run (episode file), a column per benchmark's headline figure.")
    report.add_argument("runs", nargs="+", help="episode files written by `toolgym eval --out`")
    report.add_argument("--format", choices=("text", "markdown", "json"), default="text", help="output (default: text)")
    return parser


def _add_eval_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval", help="play a suite with an agent and print Solve-P/R/F1, answer accuracy, pass rate",
        description="Plays every scenario of a suite (or held-out seeds of an env) with an agent and "
                    "prints the paper's figures.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--suite", help="suite file (JSONL/Parquet; ToolGym or FTRL rows) or gen:N:SEED")
    source.add_argument("--env", help="a ToolGym env id to play on seeds --seed, --seed + 1, ... (needs --limit), "
                                      "as toolgym-train's held-out evaluation does")
    parser.add_argument("--env-kwargs", default=None, help="gym.make keyword arguments of --env, as JSON")
    parser.add_argument("--agent", default="oracle",
                        help="oracle | replay | random | hf:PATH | openai:MODEL (default: oracle)")
    parser.add_argument("--limit", type=int, default=None, help="play only the first N scenarios")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random agent and the env (default: 0)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--out", default=None, help="write the episodes (messages, metrics) as JSONL here")
    parser.add_argument("--max-turns", type=int, default=None,
                        help="turns per episode (default: each benchmark's, as FTRL's scripts: 20, ToolHop 9, "
                             "RoTBench 1, tau-bench 30)")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="generation budget per turn (hf:, openai:)")
    parser.add_argument("--max-length", type=int, default=8192, help="tokens per episode (hf:)")
    parser.add_argument("--batch-size", type=int, default=None, help="episodes played together (hf: 16)")
    parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default: 0, greedy)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (default: 1)")
    parser.add_argument("--enable-thinking", action=argparse.BooleanOptionalAction, default=None,
                        help="reasoning mode: passed to the chat template (hf:) or as chat_template_kwargs (openai:)")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible API root for openai:MODEL")
    parser.add_argument("--api-key", default=None, help="API key for openai:MODEL (default: $OPENAI_API_KEY)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


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

    from toolgym.evaluate import play_episode
    from toolgym.oracle import OracleAgent
    from toolgym.suites import load_suite

    scenarios = load_suite(args.suite)
    if not 0 <= args.index < len(scenarios):
        raise ToolGymError(f"--index must be in [0, {len(scenarios)}), got {args.index}.")
    env = gym.make("ToolGym/Suite-v0", scenarios=scenarios, render_mode="ansi")
    try:
        record = play_episode(env, OracleAgent(), options={"index": args.index})
        scenario = env.unwrapped.scenario
        print(f"# {scenario.id} ({scenario.shape}), {len(scenario.tools)} tools")
        for doc in scenario.tool_docs:
            fn = doc["function"]
            print(f"  - {fn['name']}({', '.join(fn['parameters'].get('properties', {}))})")
        print(env.render())
    finally:
        env.close()
    print(
        f"rewards per turn: {[round(r, 3) for r in record['rewards']]}  Solve-P {record['solve_precision']:.2f}  "
        f"Solve-R {record['solve_rate']:.2f}  Solve-F1 {record['solve_f1']:.2f}  "
        f"answer correct: {record['answer_correct']}"
    )
    return 0


def load_scenarios(spec: str) -> list:
    """A suite file, or ``gen:N:SEED`` for N freshly generated scenarios (default seed 0)."""
    if spec.startswith("gen:"):
        parts = spec.split(":")
        try:
            n, seed = int(parts[1]), int(parts[2]) if len(parts) > 2 else 0
        except (IndexError, ValueError):
            raise InvalidKnob(f"--suite {spec!r}: expected gen:N or gen:N:SEED, e.g. gen:100:0.") from None
        from toolgym.generate import generate_suite

        return generate_suite(n, seed)
    from toolgym.suites import load_suite

    return load_suite(spec)


def _eval_env(args: argparse.Namespace) -> Any:
    import gymnasium as gym

    if args.max_turns is not None and args.max_turns < 1:
        raise InvalidKnob(f"--max-turns must be at least 1, got {args.max_turns}.")
    if args.suite is not None:
        if args.env_kwargs:
            raise InvalidKnob("--env-kwargs applies to --env, not to --suite.")
        scenarios = load_scenarios(args.suite)
        # the env applies each scenario's own limit; TimeLimit only has to let the longest through
        longest = args.max_turns or max(s.max_turns or DEFAULT_MAX_TURNS for s in scenarios)
        return gym.make("ToolGym/Suite-v0", scenarios=scenarios, max_turns=args.max_turns, max_episode_steps=longest)
    if args.limit is None:
        raise InvalidKnob("--env plays generated episodes: say how many with --limit N.")
    try:
        kwargs = json.loads(args.env_kwargs) if args.env_kwargs else {}
    except json.JSONDecodeError as exc:
        raise InvalidKnob(f"--env-kwargs is not valid JSON: {exc}.") from None
    if not isinstance(kwargs, dict):
        raise InvalidKnob("--env-kwargs must be a JSON object of gym.make keyword arguments.")
    if args.env not in gym.registry:
        from toolgym.error import did_you_mean

        known = [k for k in gym.registry if k.startswith("ToolGym/")]
        raise InvalidKnob(f"Unknown env id {args.env!r}.{did_you_mean(args.env, known)} ToolGym ids: {', '.join(known)}.")
    return gym.make(args.env, max_episode_steps=args.max_turns or DEFAULT_MAX_TURNS, **kwargs)


def _write_episodes(path: str, episodes: Sequence[Mapping[str, Any]]) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for episode in episodes:
            f.write(json.dumps(episode, ensure_ascii=False, default=str) + "\n")


def _eval(args: argparse.Namespace) -> int:
    from toolgym.agents import make_agent
    from toolgym.evaluate import evaluate

    env = _eval_env(args)
    try:
        agent = make_agent(args.agent, seed=args.seed, base_url=args.base_url, api_key=args.api_key,
                           max_new_tokens=args.max_new_tokens, batch_size=args.batch_size or 16,
                           max_length=args.max_length, temperature=args.temperature, top_p=args.top_p,
                           enable_thinking=args.enable_thinking)
        report = evaluate(env, agent, limit=args.limit, progress=not args.no_progress, seed=args.seed,
                          batch_size=args.batch_size)
    finally:
        env.close()
    if args.out:
        _write_episodes(args.out, report.episodes)
    print(report.to_json(indent=2) if args.json else report.table())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``toolgym`` command; returns the exit code."""
    args = make_parser().parse_args(argv)
    try:
        if args.command == "generate":
            return _generate(args)
        if args.command == "show":
            return _show(args)
        if args.command == "report":
            from toolgym.report import build_report, format_report, read_runs

            print(format_report(build_report(read_runs(args.runs)), args.format))
            return 0
        return _eval(args)
    except ToolGymError as exc:
        print(f"toolgym {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `toolgym show ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
