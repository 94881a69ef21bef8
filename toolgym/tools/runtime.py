"""Tool execution: generated tools run in-process, tools given as source text run in a sandbox."""

from __future__ import annotations

from typing import Any

from toolgym.error import ToolError
from toolgym.scenario import Scenario, SourceImpl, Tool
from toolgym.tools.result import ToolResult

__all__ = ["ToolRunner", "truncate"]


def truncate(text: str, limit: int) -> str:
    """Cuts ``text`` to ``limit`` characters and says how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n... [output truncated: {len(text) - limit} more characters]"


class ToolRunner:
    """Runs the tools of one scenario at a time; an env owns one and reloads it on every reset.

    Generated tools (lookups, calculators) are trusted and run in-process in microseconds. Tools
    given as Python source run in a persistent :class:`~toolgym.tools.sandbox.SandboxRuntime`
    worker, created on first need and reused across episodes.

    Args:
        max_output_chars: longer tool outputs are truncated with a note.
        sandbox_options: keyword arguments for the sandbox (``timeout``, ``memory_mb``, ...).
    """

    def __init__(self, *, max_output_chars: int = 4096, sandbox_options: dict[str, Any] | None = None):
        self.max_output_chars = max_output_chars
        self.sandbox_options = dict(sandbox_options or {})
        self._tools: dict[str, Tool] = {}
        self._sandbox: Any = None

    def load(self, scenario: Scenario, state: dict[str, Any] | None = None) -> None:
        """Makes ``scenario``'s tools callable, with a fresh state (``state`` for stateful tasks)."""
        self._tools = {tool.name: tool for tool in scenario.tools}
        codes = {t.name: t.impl.code for t in scenario.tools if isinstance(t.impl, SourceImpl)}
        if codes or state is not None:
            self._sandbox_runtime().reset(codes, state=state)

    def _sandbox_runtime(self) -> Any:
        if self._sandbox is None:
            from toolgym.tools.sandbox import SandboxRuntime

            options = {"max_output_chars": self.max_output_chars, **self.sandbox_options}
            self._sandbox = SandboxRuntime({}, **options)
        return self._sandbox

    @property
    def isolation(self) -> str | None:
        """How the sandbox isolates source tools (``"os"`` or ``"process"``); None if none ran."""
        return None if self._sandbox is None else self._sandbox.isolation

    def get_state(self) -> dict[str, Any] | None:
        """The sandbox's current data (stateful tasks), or None when no sandbox runs."""
        return None if self._sandbox is None else self._sandbox.get_state()

    def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """Runs one call; a failure comes back as a :class:`ToolResult` with ``ok`` False."""
        tool = self._tools.get(name)
        if tool is None:
            return ToolResult.error(f"unknown tool {name!r}.")
        if isinstance(tool.impl, SourceImpl):
            result = self._sandbox_runtime().call(name, arguments)
        else:
            result = self._run_builtin(tool, arguments)
        return result._replace(text=truncate(result.text, self.max_output_chars))

    @staticmethod
    def _run_builtin(tool: Tool, arguments: dict[str, Any]) -> ToolResult:
        from toolgym.tools.builtin import run_builtin

        try:
            return ToolResult(run_builtin(tool, arguments))
        except ToolError as exc:
            return ToolResult.error(str(exc))
        except Exception as exc:  # a bug in a generated tool must not end the episode
            return ToolResult.error(f"{tool.name} failed: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Stops the sandbox worker, if one runs."""
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
