"""A sandbox for untrusted tool code that arrives as Python source text (FTRL rows, LLM-written tools).

:class:`SandboxRuntime` runs the tools of one scenario in a worker process, never in the caller's.
Each tool is a source string that defines a function named as the tool. A call costs one pipe round
trip (tens of microseconds); the source is compiled once per episode, not per call.

How it works. The runtime starts one *zygote* process (this file run as a script), which imports the
standard modules tools use and then forks one *episode worker* at a time. The worker compiles the
codes, executes each tool's module body on its first call (in a fresh namespace per tool), and
answers calls over a pipe. :meth:`SandboxRuntime.reset` swaps in a freshly forked worker (about a
millisecond), so nothing a tool did to its process (globals, monkey patches, ``decimal`` contexts,
leaked memory) leaks into the next episode. When a worker hangs past the per-call timeout, crashes
(segfault, ``os._exit``), runs out of memory or leaves child processes behind, the zygote kills its
whole process group and forks a replacement, which reloads the current codes and the episode's
initial state; the call returns a failed :class:`~toolgym.tools.result.ToolResult` and later calls
go on. A failure to read the state raises :class:`~toolgym.error.SandboxError` instead: it is the
infrastructure's fault, never the agent's.

State. Stateful tools take a parameter named ``data``: the domain's data dict, which they may
mutate. The dict lives in the worker: ``reset(state=...)`` installs it, every call of a function
with a ``data`` parameter receives it, and :meth:`SandboxRuntime.get_state` returns a JSON copy.
When a worker is replaced, its state is lost and the replacement starts again from the state given
to the last ``reset`` (the start of the episode); the error message of that call says so.

Isolation and threat model. Both levels stop hangs (wall-clock timeout; optional CPU limit),
crashes, memory bombs (``RLIMIT_AS``), big files (``RLIMIT_FSIZE``), core dumps, process creation
(best effort: fork and exec are disabled in the worker, ``RLIMIT_NPROC`` is 0 for non-root users,
a tool's processes die with the worker's process group), output on fds 0-2 (``/dev/null``; the
protocol uses other descriptors and is validated), huge outputs (truncated), and any change to the
caller's state (separate process; replies are JSON, never pickle). ``isolation="process"`` does NOT
stop network access, reading or writing the user's files, reading environment variables, or
``ctypes``, which undoes the guards (as root, the limits too): a robustness boundary for buggy
code. ``isolation="os"`` starts the zygote in bubblewrap (:mod:`toolgym.tools._bubblewrap`), and
every worker it forks inherits kernel-enforced walls that ``ctypes`` cannot undo: no network, a
read-only view of only the Python installation and system libraries, a private ``/tmp`` emptied
between episodes, an empty environment, its own PID namespace (nothing a tool starts outlives its
worker), no capabilities. It does NOT stop reading what is in that view, kernel exploits, or
exhausting the machine beyond the per-process limits (no cgroups). ``"auto"`` (the default) takes
``"os"`` where ``bwrap`` works, else warns once and takes ``"process"``;
:attr:`SandboxRuntime.isolation` says which runs, :attr:`SandboxRuntime.limits_missing` which limits
the machine refused (warned once). Within one episode a tool can still break its own worker (by
patching ``builtins``, say); the next ``reset`` starts clean. POSIX only; ``"os"`` needs Linux.

Example:
    >>> codes = {"add": "def add(a, b):\\n    return {'sum': a + b}"}
    >>> with SandboxRuntime(codes, timeout=5) as runtime:
    ...     runtime.call("add", {"a": 1, "b": 2})
    ToolResult(text='{"sum": 3}', ok=True)
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Mapping
from typing import Any

from toolgym.error import InvalidKnob, InvalidScenario, SandboxError, ToolGymError, did_you_mean
from toolgym.tools import _bubblewrap
from toolgym.tools._sandbox_worker import _HEADER  # one wire format for both sides
from toolgym.tools.result import ToolResult

__all__ = ["SandboxRuntime"]


class _Failure(Exception):
    """The worker did not answer: ``kind`` is timeout, crash, recycle, or broken (zygote lost)."""

    def __init__(self, kind: str, detail: str = "", status: int | None = None) -> None:
        super().__init__(kind, detail)
        self.kind, self.detail, self.status = kind, detail, status


class SandboxRuntime:
    """Runs tools given as Python source in a sandboxed worker process.

    Args:
        codes: Tool name -> Python source that defines a function of that name.
        timeout: Wall-clock seconds a call may take before the worker is killed and replaced.
        memory_mb: Address-space limit of the worker, in MiB.
        cpu_seconds: CPU seconds a single call may use (None: only the wall-clock timeout).
        max_output_chars: Longer outputs are cut and end with ``... [truncated N characters]``.
        fresh_worker_per_episode: True: every ``reset`` forks a fresh worker, so nothing a tool
            did to its process leaks into the next episode (a few ms). False: ``reset`` reuses
            the worker and only renews the tool namespaces and the state (about 1 ms cheaper
            per tool set on a quiet machine; module-level changes such as monkey patches or
            ``decimal`` contexts then survive into later episodes).
        isolation: ``"process"``: the worker is an ordinary process of this user (limits and
            guards only). ``"os"``: the zygote runs in bubblewrap (no network, read-only view of
            the Python installation only, private ``/tmp``, empty environment, own PID
            namespace); raises :class:`~toolgym.error.SandboxError` where ``bwrap`` is missing or
            cannot create namespaces. ``"auto"``: ``"os"`` where it works, else ``"process"``
            with a warning (once per process). :attr:`isolation` says which one runs.

    The runtime is thread-safe (calls are serialized) but not shareable across processes; give
    each env process its own runtime.
    """

    def __init__(
        self,
        codes: Mapping[str, str],
        *,
        timeout: float = 10.0,
        memory_mb: int = 1024,
        cpu_seconds: int | None = None,
        max_output_chars: int = 8192,
        fresh_worker_per_episode: bool = True,
        isolation: str = "auto",
    ) -> None:
        _check_positive("timeout", timeout)
        _check_positive("memory_mb", memory_mb)
        _check_positive("max_output_chars", max_output_chars)
        if cpu_seconds is not None:
            _check_positive("cpu_seconds", cpu_seconds)
        self.timeout = float(timeout)
        self.memory_mb = int(memory_mb)
        self.cpu_seconds = cpu_seconds
        self.max_output_chars = int(max_output_chars)
        self.fresh_worker_per_episode = bool(fresh_worker_per_episode)
        self.isolation = _bubblewrap.choose_isolation(isolation)
        """The isolation that runs: ``"os"`` (bubblewrap) or ``"process"``."""
        self.restarts = 0
        """How many times a worker was replaced after a failure (not counting resets)."""
        self._codes = _check_codes(codes)
        self._state_json = "null"
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self._closed = False
        self._limits_missing: tuple[str, ...] = ()
        self._warned_limits = False
        self._spawn()

    # ------------------------------------------------------------------ public API

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools of the current codes."""
        return list(self._codes)

    def call(self, name: str, arguments: Mapping[str, Any], **extra_kwargs: Any) -> ToolResult:
        """Calls tool ``name``; every failure is a result with ``ok`` False, never an exception.

        A ``dict``/``list`` result becomes JSON (``ensure_ascii=False``), anything else ``str()``,
        as in FTRL. Functions with a ``data`` parameter receive the worker's state dict unless
        ``extra_kwargs`` (JSON values) say otherwise; mutations of an explicit ``data`` are not kept.
        ``ok`` is True exactly when the tool function returned (whatever its text says).
        """
        with self._lock:
            if name not in self._codes:
                available = ", ".join(self._codes) or "none"
                hint = did_you_mean(name, self._codes)
                return ToolResult.error(
                    f"unknown tool {name!r}. Available tools: {available}.{hint}"
                )
            if not isinstance(arguments, Mapping):
                kind = type(arguments).__name__
                return ToolResult.error(
                    f"the arguments of {name} must be a JSON object, got {kind}."
                )
            request = {"op": "call", "name": name, "args": dict(arguments), "extra": extra_kwargs}
            payload = json.dumps(request)  # raises for non-JSON values: that is library misuse
            return self._exchange(name, payload)

    def _exchange(self, name: str, payload: str) -> ToolResult:
        """Sends one call and turns its reply, or the worker's failure, into a result."""
        try:
            reply = self._request(payload, self.timeout, 12 * self.max_output_chars + 4096)
        except _Failure as failure:
            self._recover(failure)
            return ToolResult(self._failure_text(name, failure), ok=False)
        output, ok = reply.get("out"), reply.get("ok")
        if not isinstance(output, str) or not isinstance(ok, bool):
            failure = _Failure("broken", "the worker sent a malformed reply")
            self._recover(failure)
            return ToolResult(self._failure_text(name, failure), ok=False)
        if reply.get("recycle"):
            self._recover(_Failure("recycle"))
            return ToolResult(f"{output} ({self._restart_note()})", ok=False)
        return ToolResult(output, ok=ok)

    def reset(self, codes: Mapping[str, str] | None = None, *, state: dict | None = None) -> None:
        """Starts a new episode: a fresh worker with ``codes`` (default: the current ones) and ``state``."""
        new_codes = None if codes is None else _check_codes(codes)
        if state is not None and not isinstance(state, dict):
            raise InvalidScenario(f"state must be a dict or None, got {type(state).__name__}.")
        state_json = json.dumps(state)
        with self._lock:
            if new_codes is not None:
                self._codes = new_codes
            self._state_json = state_json
            if self._proc is None:
                self._spawn()
            elif self.fresh_worker_per_episode or self._pending is not None:
                self._replace_worker()
            else:
                try:
                    self._pending = self._send_load()
                except _Failure:
                    self._respawn()

    def get_state(self) -> dict | None:
        """Returns a JSON copy of the worker's state dict (None when no state was installed).

        Raises:
            SandboxError: The worker could not produce it (it hung, crashed, or the state is not
                JSON, e.g. a tool made it circular). The worker is replaced for later calls and
                the state reset to the start of the episode; no state of the episode is returned.
        """
        with self._lock:
            try:
                reply = self._request('{"op": "state"}', self.timeout, 1 << 31)
                if "error" in reply:  # e.g. "ValueError: Circular reference detected"
                    raise _Failure("recycle", str(reply["error"]))
                return json.loads(reply["state"])
            except _Failure as failure:
                cause = failure
            except (ValueError, KeyError, TypeError):
                cause = _Failure("broken", "the worker sent a malformed state")
            self._recover(cause)
            raise SandboxError(
                f"The sandbox could not read the tool state: {self._state_failure(cause)} "
                f"({self._restart_note()})."
            )

    @property
    def limits_missing(self) -> tuple[str, ...]:
        """Resource limits the worker could not apply, e.g. ``("RLIMIT_AS",)`` (waits for it)."""
        with self._lock:
            self._settle()
            return self._limits_missing

    def close(self) -> None:
        """Stops the worker processes. Safe to call twice; the runtime cannot be used afterwards."""
        with self._lock:
            self._closed = True
            if self._finalizer is not None:
                self._finalizer()
            self._proc = None

    def __enter__(self) -> SandboxRuntime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ parent side of the protocol

    def _spawn(self) -> None:
        """Starts a zygote and queues the load of the current codes and state."""
        if self._closed:
            raise ToolGymError("This SandboxRuntime is closed; create a new one.")
        ctrl_read, ctrl_write = os.pipe()
        config = {
            "ctrl": ctrl_read,
            "memory_mb": self.memory_mb,
            "cpu_seconds": self.cpu_seconds,
            "max_output_chars": self.max_output_chars,
            "isolation": self.isolation,
        }
        try:
            proc = subprocess.Popen(
                self._command(config),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                pass_fds=(ctrl_read,),
                start_new_session=True,
                env={} if self.isolation == "os" else None,  # not even bwrap sees our variables
            )
        finally:
            os.close(ctrl_read)
        assert proc.stdin is not None and proc.stdout is not None
        self._proc, self._ctrl = proc, ctrl_write
        self._in, self._out = proc.stdin.fileno(), proc.stdout.fileno()
        self._poll = select.poll()
        self._poll.register(self._out, select.POLLIN)
        self._buffer = bytearray()
        self._generation = 0  # the zygote numbers its episode workers 0, 1, ...
        self._next_id = 0
        self._finalizer = weakref.finalize(self, _shutdown, proc, ctrl_write)
        self._pending = self._send_load()

    def _command(self, config: dict) -> list[str]:
        """The zygote's command line: the worker script, run by this Python, maybe in bwrap."""
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_worker.py")
        if self.isolation == "process":
            return [sys.executable, "-B", script, json.dumps(config)]
        command = [sys.executable, "-I", "-B", _bubblewrap.WORKER_PATH, json.dumps(config)]
        return _bubblewrap.wrap(command, script)

    def _send_load(self) -> int:
        codes = json.dumps(self._codes)
        request_id = self._next_id = self._next_id + 1
        body = (
            f'{{"op": "load", "id": {request_id}, "codes": {codes}, "state": {self._state_json}}}'
        )
        self._write(body)
        return request_id

    def _write(self, body: str) -> None:
        data = body.encode()
        frame = memoryview(_HEADER.pack(len(data)) + data)
        try:
            while frame:
                frame = frame[os.write(self._in, frame) :]
        except OSError as error:
            raise _Failure("broken", f"cannot write to the worker: {error}") from None

    def _request(self, payload: str, timeout: float, limit: int) -> dict:
        """Sends one request and returns its reply; raises :class:`_Failure`."""
        self._settle()
        request_id = self._next_id = self._next_id + 1
        self._write(f'{{"id": {request_id}, {payload.lstrip()[1:]}')
        return self._await(request_id, timeout, limit)

    def _settle(self) -> None:
        """Waits until the worker has loaded the codes, restarting everything once if needed."""
        if self._proc is None:
            self._spawn()
        for _ in range(2):
            if self._pending is None:
                return
            try:
                reply = self._await(self._pending, max(30.0, self.timeout), 1 << 16)
                self._pending = None
                self._note_limits(reply.get("limits_missing"))
                return
            except _Failure as failure:
                detail = failure.detail or failure.kind
                self._respawn()
        hint = (
            " and that bubblewrap works (or pass isolation='process')"
            if self.isolation == "os"
            else ""
        )
        raise SandboxError(
            f"The sandbox worker failed to start twice ({detail}); check that "
            f"{sys.executable} runs, that memory_mb={self.memory_mb} is enough{hint}."
        )

    def _note_limits(self, missing: object) -> None:
        """Records the limits a worker reported as refused; warns once per runtime."""
        if not isinstance(missing, list):
            return
        self._limits_missing = tuple(str(name) for name in missing)
        if self._limits_missing and not self._warned_limits:
            self._warned_limits = True
            warnings.warn(
                f"The sandbox worker could not apply {', '.join(self._limits_missing)}: "
                "untrusted tool code runs without that limit on this machine.",
                RuntimeWarning,
                stacklevel=4,
            )

    def _await(self, request_id: int, timeout: float, limit: int) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline, limit)
            if "exit" in message:
                self._generation = int(message.get("gen", self._generation)) + 1
                raise _Failure("crash", status=int(message["exit"]))
            if "fatal" in message:
                raise _Failure("broken", str(message["fatal"]))
            if message.get("id") == request_id:
                return message
            if not isinstance(message.get("id"), int) or message["id"] > request_id:
                raise _Failure("broken", "the worker sent an unexpected message")
            # Otherwise: a late reply to a request we gave up on; ignore it.

    def _read_message(self, deadline: float, limit: int) -> dict:
        buffer = self._buffer
        scanned = 0
        while (end := buffer.find(b"\n", scanned)) < 0:
            scanned = len(buffer)
            if scanned > limit:
                raise _Failure("broken", "the worker sent an oversized message")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Failure("timeout")
            if not self._poll.poll(min(remaining, 60.0) * 1000):
                continue
            chunk = os.read(self._out, 1 << 16)
            if not chunk:
                raise _Failure("broken", "the worker closed its pipe")
            buffer += chunk
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            raise _Failure("broken", "the worker sent a malformed message")
        return message

    def _replace_worker(self) -> None:
        """Has the zygote kill the episode worker, then loads the codes into its replacement.

        The load is sent only once the old worker's exit is seen, so it cannot swallow the load.
        """
        try:
            os.write(self._ctrl, f"k{self._generation}\n".encode())
            deadline = time.monotonic() + 5.0
            while "exit" not in (message := self._read_message(deadline, 1 << 31)):
                if "fatal" in message:
                    raise _Failure("broken", str(message["fatal"]))
            self._generation = int(message.get("gen", self._generation)) + 1
            self._pending = self._send_load()
        except (_Failure, OSError, TypeError, ValueError):
            self._respawn()

    def _recover(self, failure: _Failure) -> None:
        self.restarts += 1
        if failure.kind == "broken":
            self._respawn()
        elif failure.kind == "crash":  # the zygote has already forked a replacement
            try:
                self._pending = self._send_load()
            except _Failure:
                self._respawn()
        else:
            self._replace_worker()

    def _respawn(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._proc = None
        self._spawn()

    def _failure_text(self, name: str, failure: _Failure) -> str:
        note = self._restart_note()
        if failure.kind == "timeout":
            return f"Error: calling {name} timed out after {self.timeout:g} s ({note})"
        if failure.kind == "crash":
            if failure.status == -signal.SIGXCPU:
                return f"Error: {name} exceeded the CPU limit of {self.cpu_seconds} s ({note})"
            return f"Error: {name} crashed ({_exit_cause(failure.status)}) ({note})"
        return f"Error: {name} broke the sandbox: {failure.detail} ({note})"

    def _state_failure(self, failure: _Failure) -> str:
        if failure.kind == "timeout":
            return f"the worker did not answer within {self.timeout:g} s"
        if failure.kind == "crash":
            return f"the worker crashed ({_exit_cause(failure.status)})"
        return failure.detail or f"the worker failed ({failure.kind})"

    def _restart_note(self) -> str:
        if self._state_json == "null":
            return "the sandbox worker was restarted"
        return (
            "the sandbox worker was restarted and the tool state reset to the start of the episode"
        )


def _exit_cause(status: int | None) -> str:
    """'exit code -11, SIGSEGV' for a worker's exit status."""
    if status is None or status >= 0:
        return f"exit code {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = f"signal {-status}"
    return f"exit code {status}, {name}"


def _shutdown(proc: subprocess.Popen[bytes], ctrl: int) -> None:
    """Closes the control pipe (the zygote then kills its worker and exits) and reaps the zygote."""
    try:
        os.close(ctrl)
    except OSError:
        pass
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()
    try:
        proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidKnob(f"{name} must be a positive number, got {value!r}.")


def _check_codes(codes: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(codes, Mapping):
        raise InvalidScenario(
            f"codes must map tool names to Python source, got {type(codes).__name__}."
        )
    for name, code in codes.items():
        if not isinstance(name, str) or not isinstance(code, str):
            raise InvalidScenario(
                f"codes must map str to str; the entry {name!r} is {type(code).__name__}."
            )
    return dict(codes)
