"""Errors raised for library misuse. Agent mistakes never raise: they become tool messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BackendError", "InvalidKnob", "InvalidPack", "InvalidScenario", "SandboxError", "SuiteError", "ToolError", "ToolGymError",
    "did_you_mean",
]


class ToolGymError(Exception):
    """Base class of every error ToolGym raises."""


class InvalidKnob(ToolGymError, ValueError):
    """A `gym.make` keyword argument or config value is unknown or out of range."""


class InvalidPack(InvalidKnob):
    """A domain pack file is malformed or clashes with a loaded pack; the message names file and field."""


class InvalidScenario(ToolGymError, ValueError):
    """A scenario or suite row is malformed."""


class SuiteError(ToolGymError, ValueError):
    """A suite file cannot be read or written."""


class SandboxError(ToolGymError):
    """The sandbox for untrusted tool code failed or cannot isolate as asked on this machine."""


class BackendError(ToolGymError):
    """A model server (the agent's or the simulated user's) kept failing: an infrastructure fault, never scored."""


class ToolError(ToolGymError):
    """A tool rejected a call; the message is shown to the agent as the tool's output."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Returns ' Did you mean X?' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""
