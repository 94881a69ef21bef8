"""The ``toolgym export`` and ``toolgym serve`` subcommands: their arguments and their runners.

This module imports nothing heavy, so ``toolgym --help`` works without the optional stacks; each
runner imports its adapter (:mod:`toolgym.integrations.verl`, :mod:`toolgym.integrations.openenv`)
when it runs. ``toolgym.cli`` adds the subcommands with :func:`add_commands` and hands a parsed
command to :func:`run_command`, with its suite loader (``load(spec)``: a file or ``gen:N:SEED``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from toolgym.error import InvalidKnob

__all__ = ["COMMANDS", "add_commands", "run_command"]

COMMANDS = ("export", "serve")
"""The subcommands this module adds."""

Loader = Callable[[str], Sequence[Any]]
"""Suite spec (a file or ``gen:N:SEED``) -> scenarios."""


def add_commands(subparsers: Any) -> None:
    """Adds ``export`` and ``serve`` to the ``toolgym`` command's subparsers."""
    _add_export_parser(subparsers)
    _add_serve_parser(subparsers)


def run_command(args: argparse.Namespace, load: Loader) -> int:
    """Runs ``toolgym export`` or ``toolgym serve``; returns the exit code."""
    if args.command == "export":
        return _export(args, load)
    return _serve(args, load)


# -- export -------------------------------------------------------------------------------------


def _add_export_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export", help="write a suite as training rows of another stack (verl)",
        description="Writes one row per scenario's opening prompt (and with --prefixes one per tool "
                    "round of its oracle transcript) in verl's dataset convention, with FTRL's columns.",
    )
    parser.add_argument("--suite", required=True, help="suite file (JSONL/Parquet; ToolGym or FTRL rows) or gen:N:SEED")
    parser.add_argument("--format", choices=("verl",), default="verl", help="row convention (default: verl)")
    parser.add_argument("-o", "--output", required=True, help="output file (.parquet for verl, else JSONL)")
    parser.add_argument("--prefixes", action="store_true",
                        help="also one row per tool round of each oracle transcript (FTRL's per-turn training)")
    parser.add_argument("--tools-in-prompt", action="store_true",
                        help="also write the tool schemas into the system message (stock verl renders the "
                             "prompt without the tools column)")


def _export(args: argparse.Namespace, load: Loader) -> int:
    from toolgym.integrations.verl import export_verl

    scenarios = load(args.suite)
    count = export_verl(scenarios, args.output, prefixes=args.prefixes, tools_in_prompt=args.tools_in_prompt)
    print(f"wrote {count} {args.format} rows ({len(scenarios)} scenarios) to {args.output}")
    return 0


# -- serve --------------------------------------------------------------------------------------


def _add_serve_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve ToolGym envs through OpenEnv (one env per session)",
        description="Serves ToolGym envs with OpenEnv's server (needs `pip install toolgym[openenv]`): "
                    "every WebSocket session plays its own env; idle sessions are closed.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--suite", default=None, help="play this suite (file or gen:N:SEED); reset picks "
                                                      "scenario i with options={'index': i}")
    source.add_argument("--env", default="ToolGym/Scenario-v0", help="env id of generated scenarios "
                                                                     "(default: ToolGym/Scenario-v0)")
    parser.add_argument("--env-kwargs", default=None, help="gym.make keyword arguments (knobs), as JSON")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--max-turns", type=int, default=20, help="turns per episode (default: 20)")
    parser.add_argument("--max-sessions", type=int, default=256,
                        help="sessions open at once, at least the generation batch (default: 256)")
    parser.add_argument("--session-timeout", type=float, default=600.0,
                        help="close a session idle this many seconds; 0: never (default: 600)")
    parser.add_argument("--log-level", default="info", help="uvicorn's log level (default: info)")


def _serve(args: argparse.Namespace, load: Loader) -> int:
    """``toolgym serve``; ``args.env_kwargs`` comes parsed (a dict) from :func:`toolgym.cli.main`."""
    try:
        from toolgym.integrations.openenv import EnvSpec, serve
    except ImportError as exc:
        raise InvalidKnob(f"toolgym serve needs OpenEnv: pip install 'toolgym[openenv]' ({exc}).") from None
    if args.max_turns < 1:
        raise InvalidKnob(f"--max-turns must be at least 1, got {args.max_turns}.")
    scenarios = tuple(load(args.suite)) if args.suite else None
    spec = EnvSpec(env_id=args.env, env_kwargs=args.env_kwargs, scenarios=scenarios,
                   max_turns=args.max_turns)
    serve(spec, host=args.host, port=args.port, max_sessions=args.max_sessions,
          session_timeout=args.session_timeout or None, log_level=args.log_level)
    return 0
