"""The ``toolgym`` command: ``generate``, ``show``, ``eval``, ``stats``, ``report``, ``export`` and ``serve``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from toolgym.error import InvalidKnob, SuiteError, ToolGymError

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
    _add_stats_parser(sub)
    report = sub.add_parser("report", help="the paper's results table from `toolgym eval --out` files",
                            description="A row per run (episode file), a column per benchmark's headline figure.")
    report.add_argument("runs", nargs="+", help="episode files written by `toolgym eval --out`")
    report.add_argument("--format", choices=("text", "markdown", "json"), default="text", help="output (default: text)")
    from toolgym.integrations.commands import add_commands

    add_commands(sub)  # export (verl rows), serve (OpenEnv)
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
    parser.add_argument("--out", default=None,
                        help="append each episode (messages, metrics) to this JSONL file as it finishes; a rerun "
                             "with the same file skips the episodes already there (resume)")
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
    _add_user_and_scale_args(parser)


def _add_user_and_scale_args(parser: argparse.ArgumentParser) -> None:
    """The simulated user of stateful tasks, and the flags for evaluating served models at scale."""
    from toolgym.openai_api import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT

    parser.add_argument("--user", default=None,
                        help="simulated user of stateful tasks (tau-bench): scripted | openai:MODEL | hf:PATH "
                             "(default: scripted, offline: states the instruction, stops at the first reply)")
    parser.add_argument("--user-base-url", default=None, help="API root for --user openai:MODEL (default: --base-url)")
    parser.add_argument("--user-api-key", default=None, help="API key for --user openai:MODEL (default: --api-key)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="episodes in flight at once, in threads (openai: agents and users; default: 1)")
    parser.add_argument("--n", type=int, default=1, help="trials per episode, for pass^k (default: 1)")
    parser.add_argument("--max-retries", type=int, default=DEFAULT_MAX_RETRIES,
                        help=f"retries of a failed request (429, 5xx, timeout), with backoff (default: {DEFAULT_MAX_RETRIES})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds per request to a model server (default: {DEFAULT_TIMEOUT:g})")


def _add_stats_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "stats", help="figures of a suite (tools, parameters, answer kinds, question variety), beside a reference",
        description="Measures a suite (toolgym.stats): tools per env, parameters and required parameters per "
                    "tool, parameter types, distinct tool names, answer kinds, question length, distinct "
                    "question templates, distinct-2 of the questions, hops; with --reference, side by side.",
    )
    parser.add_argument("suite", nargs="?", default=None,
                        help="suite file or folder (JSONL/Parquet; ToolGym or FTRL rows) or gen:N:SEED")
    parser.add_argument("--env", default=None, help="instead of a suite: the scenarios of this env id on seeds "
                                                    "--seed, --seed + 1, ... (needs --limit), as toolgym eval --env")
    parser.add_argument("--env-kwargs", default=None, help="gym.make keyword arguments of --env (knobs), as JSON")
    parser.add_argument("--limit", type=int, default=None, help="measure only the first N scenarios")
    parser.add_argument("--seed", type=int, default=0, help="first seed of --env (default: 0)")
    parser.add_argument("--reference", default=None,
                        help="a second suite (file or gen:N:SEED) printed beside, e.g. FTRL's test set")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                        help="output (default: text)")


def _env_scenarios(env_id: str, env_kwargs: str | None, limit: int | None, seed: int) -> list:
    """The scenarios an env id draws on seeds ``seed .. seed + limit - 1`` (with a progress bar)."""
    import gymnasium as gym
    from tqdm import tqdm

    if limit is None or limit < 1:
        raise InvalidKnob("--env draws scenarios on seeds: say how many with --limit N (at least 1).")
    kwargs = _env_kwargs(env_kwargs)
    _check_env_id(env_id)
    env = gym.make(env_id, **kwargs)
    try:
        scenarios = []
        for offset in tqdm(range(limit), desc=env_id, unit="scenario"):
            env.reset(seed=seed + offset)
            scenarios.append(env.unwrapped.scenario)
        return scenarios
    finally:
        env.close()


def _stats(args: argparse.Namespace) -> int:
    from toolgym.stats import format_stats, suite_stats

    if (args.suite is None) == (args.env is None):
        raise InvalidKnob("toolgym stats measures a SUITE (a file or gen:N:SEED) or --env ID: give exactly one.")
    if args.suite is not None:
        if args.env_kwargs:
            raise InvalidKnob("--env-kwargs applies to --env, not to a suite.")
        scenarios, name = load_scenarios(args.suite, progress=True)[: args.limit], args.suite
    else:
        scenarios = _env_scenarios(args.env, args.env_kwargs, args.limit, args.seed)
        name = args.env + (f" {args.env_kwargs}" if args.env_kwargs else "")
    columns = {_column_name(name): suite_stats(scenarios)}
    if args.reference is not None:
        columns.setdefault(_column_name(args.reference), suite_stats(load_scenarios(args.reference, progress=True)))
    print(format_stats(columns, args.format))
    return 0


def _column_name(spec: str) -> str:
    """A suite's column heading: a file's name, else the spec."""
    path = Path(spec)
    return path.name if path.exists() else spec


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
    if record["solve_precision"] is None:  # stateful tasks, RoTBench, ToolHop: no Solve-P/R/F1
        passed = record["passed"] if record["stateful"] else record["answer_correct"]
        print(f"rewards per turn: {[round(r, 3) for r in record['rewards']]}  passed: {passed}")
        return 0
    print(
        f"rewards per turn: {[round(r, 3) for r in record['rewards']]}  Solve-P {record['solve_precision']:.2f}  "
        f"Solve-R {record['solve_rate']:.2f}  Solve-F1 {record['solve_f1']:.2f}  "
        f"answer correct: {record['answer_correct']}"
    )
    return 0


def load_scenarios(spec: str, progress: bool = False) -> list:
    """A suite file, or ``gen:N:SEED`` for N freshly generated scenarios (default seed 0; a
    tqdm bar on stderr with ``progress``)."""
    if spec.startswith("gen:"):
        parts = spec.split(":")
        try:
            n, seed = int(parts[1]), int(parts[2]) if len(parts) > 2 else 0
        except (IndexError, ValueError):
            raise InvalidKnob(f"--suite {spec!r}: expected gen:N or gen:N:SEED, e.g. gen:100:0.") from None
        from toolgym.generate import generate_suite, iter_suite

        return list(iter_suite(n, seed, progress=True)) if progress else generate_suite(n, seed)
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
        from toolgym.env import suite_turn_limit

        longest = suite_turn_limit(scenarios, args.max_turns)  # the env applies each scenario's own limit
        return gym.make("ToolGym/Suite-v0", scenarios=scenarios, max_turns=args.max_turns, max_episode_steps=longest,
                        user=_eval_user(args))
    if args.limit is None:
        raise InvalidKnob("--env plays generated episodes: say how many with --limit N.")
    kwargs = _env_kwargs(args.env_kwargs)
    _check_env_id(args.env)
    if args.user is not None:
        kwargs["user"] = _eval_user(args)
    return gym.make(args.env, max_episode_steps=args.max_turns or DEFAULT_MAX_TURNS, **kwargs)


def _env_kwargs(text: str | None) -> dict[str, Any]:
    """``--env-kwargs``: a JSON object of ``gym.make`` keyword arguments ({} when not given)."""
    try:
        kwargs = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise InvalidKnob(f"--env-kwargs is not valid JSON: {exc}.") from None
    if not isinstance(kwargs, dict):
        raise InvalidKnob("--env-kwargs must be a JSON object of gym.make keyword arguments.")
    return kwargs


def _check_env_id(env_id: str) -> None:
    """Raises InvalidKnob naming the close ToolGym ids when ``env_id`` is not registered."""
    import gymnasium as gym

    if env_id not in gym.registry:
        from toolgym.error import did_you_mean

        known = [k for k in gym.registry if k.startswith("ToolGym/")]
        raise InvalidKnob(f"Unknown env id {env_id!r}.{did_you_mean(env_id, known)} ToolGym ids: {', '.join(known)}.")


def _eval_user(args: argparse.Namespace) -> Any:
    """The simulated user of stateful tasks (None: the scripted one); its server defaults to the agent's."""
    if args.user is None:
        return None
    from toolgym.users import make_user

    return make_user(args.user, base_url=args.user_base_url or args.base_url,
                     api_key=args.user_api_key if args.user_api_key is not None else args.api_key,
                     timeout=args.timeout, max_retries=args.max_retries)


def _resume_out(path: str) -> list[dict[str, Any]]:
    """The finished episodes of an earlier run's ``--out`` file, to resume from.

    Records of episodes that failed with an infrastructure error, repeated episode ids and a last
    line cut short (a killed run) are dropped from the file, so the rerun plays those episodes
    again and appends each once.
    """
    out = Path(path)
    if not out.is_file():
        return []
    text = out.read_text(encoding="utf-8")
    lines = text.splitlines()
    kept: dict[str, dict[str, Any]] = {}
    for lineno, line in enumerate(lines, 1):
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            if lineno == len(lines):  # cut short by a kill: played again
                continue
            raise SuiteError(f"{path}:{lineno}: not valid JSON; --out resumes only episode files of toolgym eval.") from None
        if record is not None and (not isinstance(record, dict) or "benchmark" not in record):
            raise SuiteError(f"{path}:{lineno}: not an episode record of `toolgym eval --out`; give another --out file.")
        if record is not None and not record.get("error"):
            kept.setdefault(str(record.get("episode_id", record.get("scenario_id"))), record)
    body = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in kept.values())
    if body != text:
        out.with_name(out.name + ".tmp").write_text(body, encoding="utf-8")
        os.replace(out.with_name(out.name + ".tmp"), out)
    print(f"toolgym eval: resuming {path}: {len(kept)} finished episodes kept", file=sys.stderr)
    return list(kept.values())


@contextlib.contextmanager
def _appending(path: str | None) -> Iterator[Callable[[dict[str, Any]], None] | None]:
    """A writer that appends each record to ``path`` as a JSON line and flushes it (None: no file)."""
    if path is None:
        yield None
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:

        def write(record: dict[str, Any]) -> None:
            f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            f.flush()

        yield write


def _eval(args: argparse.Namespace) -> int:
    from toolgym.agents import make_agent
    from toolgym.evaluate import evaluate

    done = _resume_out(args.out) if args.out else []
    env = _eval_env(args)
    try:
        agent = make_agent(args.agent, seed=args.seed, base_url=args.base_url, api_key=args.api_key,
                           max_new_tokens=args.max_new_tokens, batch_size=args.batch_size or 16,
                           max_length=args.max_length, temperature=args.temperature, top_p=args.top_p,
                           enable_thinking=args.enable_thinking, timeout=args.timeout, max_retries=args.max_retries)
        with _appending(args.out) as write:
            report = evaluate(env, agent, limit=args.limit, progress=not args.no_progress, seed=args.seed,
                              batch_size=args.batch_size, concurrency=args.concurrency, samples=args.n,
                              resume=done, on_record=write)
    finally:
        env.close()
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
        if args.command == "stats":
            return _stats(args)
        if args.command == "report":
            from toolgym.report import build_report, format_report, read_runs

            print(format_report(build_report(read_runs(args.runs)), args.format))
            return 0
        if args.command in ("export", "serve"):
            from toolgym.integrations.commands import run_command

            if args.command == "serve":  # parsed here, as for eval and stats: one reading of the flag
                args.env_kwargs = _env_kwargs(args.env_kwargs)
            return run_command(args, load_scenarios)
        return _eval(args)
    except ToolGymError as exc:
        print(f"toolgym {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `toolgym show ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
