"""A sandbox for untrusted tool code that arrives as Python source text (FTRL rows, LLM-written tools).

:class:`SandboxRuntime` runs the tools of one scenario in a worker process, never in the caller's.
Each tool is a source string that defines a function named as the tool. A call costs one pipe round
trip (tens of microseconds); a source is compiled about once per runtime, not per call or episode.

How it works. The runtime starts a *zygote* process (``_sandbox_worker.py`` run as a script), which
imports the standard modules tools use and forks one *episode worker* at a time, in advance. The
worker takes the episode's codes, executes each tool's module body on its first call (in a fresh
namespace per tool), and answers calls over a pipe. From its second episode on, a runtime keeps a
second zygote (unless ``standby=False``) whose worker waits, forked, on standby: :meth:`SandboxRuntime.reset` hands the new
episode to that worker at once, and the other zygote kills the old worker and forks its successor
while the episode runs; the two take turns. Each zygote keeps the code objects of the sources
earlier episodes loaded (compiled there once a worker compiled them safely), so the workers it forks
inherit them: a reset waits for neither a fork nor a compile, and nothing a tool did to its process
(globals, monkey patches, ``decimal`` contexts, threads, leaked memory) reaches the next episode.
Unless a worker's episode ran only code that provably leaves no trace in its process
(:func:`~toolgym.tools._sandbox_worker.leaves_no_trace`, ``reuse_clean_workers``): then that worker
takes the next episode itself, with fresh namespaces and ``random``'s and ``decimal``'s state
restored, and no process is forked or torn down (most of an episode's cost otherwise).
When a worker hangs past the per-call timeout, crashes (segfault, ``os._exit``), runs out of memory
or leaves child processes behind, it is killed with its process group and a fresh worker takes over,
with the current codes and the episode's initial state; the call returns a failed
:class:`~toolgym.tools.result.ToolResult` and later calls go on. A failure to read the state raises
:class:`~toolgym.error.SandboxError` instead: it is the infrastructure's fault, never the agent's.

State. Stateful tools take a parameter named ``data``: the domain's data dict, which they may
mutate. The dict lives in the worker: ``reset(state=...)`` installs it, every call of a function
with a ``data`` parameter receives it, and :meth:`SandboxRuntime.get_state` returns a JSON copy.
When a worker is replaced, its state is lost and the replacement starts again from the state given
to the last ``reset`` (the start of the episode); the error message of that call says so.

Isolation and threat model. Both levels stop hangs (wall-clock timeout; optional CPU limit),
crashes, memory bombs (``RLIMIT_AS``), big files (``RLIMIT_FSIZE``), core dumps, process creation
(best effort: fork and exec are disabled in the worker, ``RLIMIT_NPROC`` is 0 for non-root users,
a tool's processes die with the worker's process group), output on fds 0-2 (``/dev/null``; the
protocol uses other descriptors and is validated; a worker's death is reported on a socket only
the zygote holds), huge outputs (truncated), and any change to the caller's state (separate
process; replies are JSON, never pickle). ``isolation="process"`` does NOT stop network access,
reading or writing the user's files, reading environment variables, or ``ctypes``, which undoes
the guards (as root, the limits too): a robustness boundary for buggy code. ``isolation="os"``
starts each zygote in its own bubblewrap sandbox (:mod:`toolgym.tools._bubblewrap`), and every
worker it forks inherits kernel-enforced walls that ``ctypes`` cannot undo: no network, a read-only
view of only the Python installation and system libraries, a private ``/tmp`` emptied between
episodes, an empty environment, its own PID namespace (nothing a tool starts outlives its worker),
no capabilities, and a zygote it cannot ptrace. It does NOT stop reading what is in that view,
kernel exploits, or exhausting the machine beyond the per-process limits (no cgroups). ``"auto"``
(the default) takes ``"os"`` where ``bwrap`` works, else warns once and takes ``"process"``;
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
import socket
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from toolgym.error import InvalidKnob, InvalidScenario, SandboxError, ToolGymError, did_you_mean
from toolgym.tools import _bubblewrap
from toolgym.tools._sandbox_worker import (  # one wire format and one cache size for both sides
    _HEADER,
    CACHE_CHARS,
    CACHE_SOURCE_LIMIT,
    SPIN_SECONDS,
    spin,
)
from toolgym.tools.result import ToolResult

__all__ = ["SandboxRuntime"]

_EXIT_WAIT = 5.0
"""Seconds to wait for a retired worker's exit before giving its zygote up."""
MAX_REUSES = 1000
"""Episodes a worker takes after its first, at most, when it is reused (``reuse_clean_workers``)."""
_CALL_REQUEST = '{"op": "call", "name": %s, "args": %s, "extra": %s}'
"""A call's request: the JSON of that dict, formatted rather than encoded (it is the hot path)."""
_SHARE_CHARS = 48 << 10
"""Source characters sent to a zygote per reset, so that the control socket never fills."""


class _Failure(Exception):
    """The worker did not answer: ``kind`` is timeout, crash, recycle, or broken (zygote lost)."""

    def __init__(self, kind: str, detail: str = "", status: int | None = None) -> None:
        super().__init__(kind, detail)
        self.kind, self.detail, self.status = kind, detail, status


class _Lane:
    """One zygote as the runtime sees it: its pipes, its current worker and what it has cached.

    The current worker's replies arrive on the zygote's stdout, the zygote's own events (a worker
    forked, a worker's exit status) on a control socket that no worker holds, so no tool can
    forge them. Replies come before events, so a reply sent just before a crash is not lost.
    """

    def __init__(self, command: Callable[[int], list[str]], isolation: str) -> None:
        ours, theirs = (end.detach() for end in socket.socketpair())
        try:
            proc = subprocess.Popen(
                command(theirs),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs,),
                start_new_session=True,
                env={} if isolation == "os" else None,  # not even bwrap sees our variables
            )
        except BaseException:
            os.close(ours)
            raise
        finally:
            os.close(theirs)
        assert proc.stdin is not None and proc.stdout is not None
        self.proc, self.ctrl = proc, ours
        self.requests, self.replies = proc.stdin.fileno(), proc.stdout.fileno()
        self.poll = select.poll()
        self.buffers = {self.replies: bytearray(), self.ctrl: bytearray()}
        self.scanned = dict.fromkeys(self.buffers, 0)
        for fd in self.buffers:
            self.poll.register(fd, select.POLLIN)
        self.generation = 0  # the zygote numbers its workers 0, 1, ...: this one gets requests
        self.spawned, self.worker_pid = -1, 0  # the last worker the zygote reported forked
        self.doomed: int | None = None  # a worker told to die whose exit is not read yet
        self._forget_worker()
        self.next_id = 0
        self.pending: int | None = None  # a load whose reply is not read yet
        self.loaded: dict[str, str] = {}
        self.validated: dict[str, str] | None = None  # codes a worker here loaded (compiled) fine
        self.cached: set[int] = set()  # (name, source) hashes sent to the zygote's cache
        self.cached_chars = 0
        self.finalizer = weakref.finalize(self, _shutdown, proc, ours)

    def _forget_worker(self) -> None:
        """Resets what is known of the current worker: the next one is fresh from the zygote."""
        self.touched = False  # whether the current worker may have run tool code
        self.clean = True  # whether its worker said that no code it ran can have left a trace
        self.reuses = 0  # episodes the current worker took after its first
        self.source_ids: dict[tuple[str, str], int] = {}  # sources the current worker holds, by id

    def request(self, payload: str, runs_tools: bool = False) -> int:
        """Sends a request (a JSON object without an id) to the current worker; returns its id."""
        self.touched = self.touched or runs_tools
        self.clean = self.clean and not runs_tools  # until the reply says otherwise
        self.next_id += 1
        header = f'{{"id": {self.next_id}, "gen": {self.generation}, '  # others skip it
        data = (header + payload.lstrip()[1:]).encode()
        _write_all(self.requests, _HEADER.pack(len(data)) + data, "the worker")
        return self.next_id

    def load(self, codes: dict[str, str], state_json: str, as_json: Callable[[str], str]) -> None:
        """Queues the load of ``codes``: a source the current worker already holds goes as its id.

        ``as_json`` returns a string's JSON (the runtime keeps those of the sources it loads).
        """
        new, known = [], {}
        for name, source in codes.items():
            source_id = self.source_ids.get((name, source))
            if source_id is None:
                source_id = self.source_ids[name, source] = len(self.source_ids)
                new.append(f"{as_json(name)}: [{source_id}, {as_json(source)}]")
            else:
                known[name] = source_id
        self.pending = self.request(
            f'{{"op": "load", "codes": {{{", ".join(new)}}}, "known": {json.dumps(known)}, '
            f'"state": {state_json}}}'
        )
        self.loaded = codes

    def retire(self) -> None:
        """Has the zygote kill the current worker (and fork the next); does not wait."""
        self.command({"kill": self.generation})
        self.doomed, self.generation, self.pending = self.generation, self.generation + 1, None
        self._forget_worker()

    def command(self, message: dict) -> None:
        _write_all(self.ctrl, json.dumps(message).encode() + b"\n", "the zygote")

    def cache(self, codes: Mapping[str, str]) -> None:
        """Sends the zygote the sources of ``codes`` it was not sent yet, to compile for later workers."""
        if self.cached_chars > CACHE_CHARS:  # the zygote has dropped the oldest: send them again
            self.cached.clear()
            self.cached_chars = 0
        batch: list[tuple[str, str]] = []
        size = 0
        for name, source in codes.items():
            key = hash((name, source))
            if key in self.cached or len(source) > CACHE_SOURCE_LIMIT:
                continue
            if size + len(source) > _SHARE_CHARS:
                break  # the rest goes with a later reset
            batch.append((name, source))
            size += len(source)
            self.cached.add(key)
        if batch:
            self.cached_chars += size
            self.command({"compile": batch})

    def ready(self) -> bool:
        """Whether the zygote is up (has forked a worker); reads the events that came meanwhile."""
        self._fill(0)
        while (event := self._line(self.ctrl)) is not None:
            self.on_event(event)
        return self.spawned >= 0

    def await_reply(self, request_id: int, timeout: float, limit: int) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            is_event, message = self.next_message(deadline, limit)
            if is_event:
                self.on_event(message)
            elif message.get("id") == request_id:
                return message
            elif "fatal" in message:
                raise _Failure("broken", str(message["fatal"]))
            elif not isinstance(message.get("id"), int) or message["id"] > request_id:
                raise _Failure("broken", "the worker sent an unexpected message")
            # Otherwise: a late reply to a request we gave up on; ignore it.

    def await_retired(self, timeout: float) -> None:
        """Waits until the retired worker's exit is read, then drops all that it wrote."""
        deadline = time.monotonic() + timeout
        while self.doomed is not None:
            is_event, message = self.next_message(deadline, 1 << 31)
            if is_event:
                self.on_event(message)
        self.drain()

    def on_event(self, event: dict) -> None:
        """Takes note of a zygote event; raises :class:`_Failure` if the current worker died."""
        if "fatal" in event:
            raise _Failure("broken", str(event["fatal"]))
        if "spawned" in event:
            self.spawned, self.worker_pid = int(event["spawned"]), int(event["pid"])
        elif "exit" in event:
            generation = int(event["gen"])
            if generation == self.doomed:
                self.doomed = None
            elif generation == self.generation:
                self.generation, self.pending = generation + 1, None
                self._forget_worker()
                raise _Failure("crash", status=int(event["exit"]))

    def drain(self) -> None:
        """Drops what dead workers wrote; call it once the zygote reported the last one's exit."""
        self.buffers[self.replies].clear()
        self.scanned[self.replies] = 0
        while select.select([self.replies], [], [], 0)[0]:
            if not os.read(self.replies, 1 << 16):
                raise _Failure("broken", "the zygote closed its pipe")

    def next_message(self, deadline: float, limit: int) -> tuple[bool, dict]:
        """The next reply as ``(False, reply)``, else the next event as ``(True, event)``."""
        while True:
            for is_event, fd in ((False, self.replies), (True, self.ctrl)):
                message = self._line(fd)
                if message is not None:
                    return is_event, message
            if len(self.buffers[self.replies]) > limit:
                raise _Failure("broken", "the worker sent an oversized message")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Failure("timeout")
            self._fill(min(remaining, 60.0))

    def _fill(self, timeout: float) -> None:
        ready = spin(self.poll, min(timeout, SPIN_SECONDS))  # most replies come within it
        for fd, _ in ready or self.poll.poll(timeout * 1000):
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise _Failure("broken", "the zygote closed its pipes")
            self.buffers[fd] += chunk

    def _line(self, fd: int) -> dict | None:
        buffer = self.buffers[fd]
        end = buffer.find(b"\n", self.scanned[fd])
        if end < 0:
            self.scanned[fd] = len(buffer)
            return None
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        self.scanned[fd] = 0
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            raise _Failure("broken", "the worker sent a malformed message")
        return message

    def close(self) -> None:
        self.finalizer()


def _write_all(fd: int, data: bytes, whom: str) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as error:
        raise _Failure("broken", f"cannot write to {whom}: {error}") from None


class SandboxRuntime:
    """Runs tools given as Python source in a sandboxed worker process.

    Args:
        codes: Tool name -> Python source that defines a function of that name.
        timeout: Wall-clock seconds a call may take before the worker is killed and replaced.
        memory_mb: Address-space limit of the worker, in MiB.
        cpu_seconds: CPU seconds a single call may use (None: only the wall-clock timeout).
        max_output_chars: Longer outputs are cut and end with ``... [truncated N characters]``.
        fresh_worker_per_episode: True: every ``reset`` hands the episode to a fresh worker,
            forked in advance, so nothing a tool did to its process leaks into the next episode.
            False: ``reset`` reuses the worker and only renews the tool namespaces and the state
            (no process is forked or torn down per episode, which saves CPU time, not waiting;
            module-level changes such as monkey patches or ``decimal`` contexts then survive
            into later episodes).
        reuse_clean_workers: True: a worker whose episode ran only code that provably leaves
            nothing behind in its process (:func:`~toolgym.tools._sandbox_worker.leaves_no_trace`:
            imports of a set of standard modules only, no ``_`` attributes, no attribute writes
            but to ``self``, no ``eval``, ``getattr`` or ``globals``...) takes the next episode
            too, with fresh namespaces, the new state and ``random``'s and ``decimal``'s state
            restored: the next episode sees what a fresh worker would, without a fork. Any
            other worker is replaced as ``fresh_worker_per_episode`` says. Up to
            :data:`MAX_REUSES` episodes a worker. An episode whose code a worker has already
            found to leave traces runs in the standby's fresh worker while the clean one waits
            for the next clean episode (:attr:`episodes_aside`; it needs ``standby`` and a standby
            worker that is up, else the clean worker runs it and is replaced), so that such
            environments among clean ones do not cost a cold worker. False: only
            ``fresh_worker_per_episode`` decides.
        standby: True: from the second episode on, a second zygote keeps the next episode's
            worker forked in advance, so ``reset`` waits for no fork (it costs that zygote's
            memory, 30-50 MB, and its start, about 0.1 s of CPU). False: one zygote, which forks
            the next worker at ``reset`` (a few ms); for many runtimes whose episodes are far
            apart, e.g. one per env of a concurrent evaluation.
        isolation: ``"process"``: the worker is an ordinary process of this user (limits and
            guards only). ``"os"``: each zygote runs in bubblewrap (no network, read-only view
            of the Python installation only, private ``/tmp``, empty environment, own PID
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
        reuse_clean_workers: bool = True,
        standby: bool = True,
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
        self.reuse_clean_workers = bool(reuse_clean_workers)
        self.standby = bool(standby)
        self.isolation = _bubblewrap.choose_isolation(isolation)
        """The isolation that runs: ``"os"`` (bubblewrap) or ``"process"``."""
        self.restarts = 0
        """How many times a worker was replaced after a failure (not counting resets)."""
        self.sources_compiled = 0
        """How many tool sources workers had to compile; those a zygote had cached do not count."""
        self.workers_reused = 0
        """How many times an episode went to a worker that ran tool code in an earlier one."""
        self.episodes_aside = 0
        """How many episodes whose code leaves traces ran in the standby's fresh worker, while a
        clean worker waited for the next episode (instead of being replaced by a cold one)."""
        self._tracing: set[int] = set()  # hashes of (name, source) that failed leaves_no_trace
        self._codes = _check_codes(codes)
        self._state_json = "null"
        self._json_of: dict[str, str] = {}
        self._lock = threading.RLock()
        self._active: _Lane | None = None  # the zygote whose worker runs the episode
        self._standby: _Lane | None = None  # the other one, whose worker waits for the next
        self._episodes = 0
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
            payload = _CALL_REQUEST % (  # json.dumps raises for non-JSON values: library misuse
                self._as_json(name),
                json.dumps(arguments if type(arguments) is dict else dict(arguments)),
                json.dumps(extra_kwargs) if extra_kwargs else "{}",
            )
            return self._exchange(name, payload)

    def _exchange(self, name: str, payload: str) -> ToolResult:
        """Sends one call and turns its reply, or the worker's failure, into a result."""
        try:
            reply = self._request(
                payload, self.timeout, 12 * self.max_output_chars + 4096, runs_tools=True
            )
        except _Failure as failure:
            self._recover(failure)
            return ToolResult(self._failure_text(name, failure), ok=False)
        output, ok = reply.get("out"), reply.get("ok")
        if self._active is not None:
            self._active.clean = reply.get("clean") is True
        if not isinstance(output, str) or not isinstance(ok, bool):
            failure = _Failure("broken", "the worker sent a malformed reply")
            self._recover(failure)
            return ToolResult(self._failure_text(name, failure), ok=False)
        if reply.get("recycle"):
            self._recover(_Failure("recycle"))
            return ToolResult(f"{output} ({self._restart_note()})", ok=False)
        return ToolResult(output, ok=ok)

    def reset(self, codes: Mapping[str, str] | None = None, *, state: dict | None = None) -> None:
        """Starts a new episode: a fresh worker with ``codes`` (default: the current ones) and ``state``.

        It does not wait: the worker, forked in advance, loads the codes while the caller goes on.
        A worker that has run no tool code yet (no call reached it) is as fresh as a new one and
        takes the new episode itself.
        """
        new_codes = None if codes is None else _check_codes(codes)
        if state is not None and not isinstance(state, dict):
            raise InvalidScenario(f"state must be a dict or None, got {type(state).__name__}.")
        state_json = json.dumps(state)
        with self._lock:
            self._share_compiled()
            if new_codes is not None and new_codes != self._codes:
                self._codes = new_codes
            self._state_json = state_json
            self._episodes += 1
            if self._active is None:
                self._spawn()
            elif self._active.pending is None and self._reusable(self._active):
                if self._active.touched and self._leaves_traces() and self._run_aside():
                    return
                try:
                    if self._active.touched:
                        self._active.reuses += 1
                        self.workers_reused += 1
                    self._load(self._active)
                except _Failure:
                    self._respawn()
            else:
                if self._standby is None and self._episodes >= 2 and self._keeps_standby():
                    self._standby = self._start_lane()  # from the second episode on: see the module
                self._next_worker()

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
        """Stops every process of the runtime. Safe to call twice; the runtime is unusable after."""
        with self._lock:
            self._closed = True
            for lane in (self._active, self._standby):
                if lane is not None:
                    lane.close()
            self._active = self._standby = None

    def __enter__(self) -> SandboxRuntime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ parent side of the protocol

    def _spawn(self) -> _Lane:
        """Starts a zygote as the active one and queues the load of the current codes and state."""
        if self._closed:
            raise ToolGymError("This SandboxRuntime is closed; create a new one.")
        self._active = self._start_lane()
        self._load(self._active)
        return self._active

    def _reusable(self, lane: _Lane) -> bool:
        """Whether the worker of ``lane`` may take the next episode (see ``reuse_clean_workers``)."""
        if not lane.touched or not self.fresh_worker_per_episode:
            return True  # no tool code ran in it (it is still fresh), or the caller chose reuse
        return self.reuse_clean_workers and lane.clean and lane.reuses < MAX_REUSES

    def _keeps_standby(self) -> bool:
        return self.standby and self.fresh_worker_per_episode

    def _start_lane(self) -> _Lane:
        return _Lane(self._command, self.isolation)

    def _command(self, ctrl: int) -> list[str]:
        """The zygote's command line: the worker script, run by this Python, maybe in bwrap."""
        config = {
            "ctrl": ctrl,
            "memory_mb": self.memory_mb,
            "cpu_seconds": self.cpu_seconds,
            "max_output_chars": self.max_output_chars,
            "isolation": self.isolation,
        }
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_worker.py")
        if self.isolation == "process":
            return [sys.executable, "-B", script, json.dumps(config)]
        command = [sys.executable, "-I", "-B", _bubblewrap.WORKER_PATH, json.dumps(config)]
        return _bubblewrap.wrap(command, script)

    def _load(self, lane: _Lane) -> None:
        lane.load(self._codes, self._state_json, self._as_json)

    def _as_json(self, text: str) -> str:
        """``json.dumps(text)``, kept for the sources of the last few episodes (they are long)."""
        encoded = self._json_of.get(text)
        if encoded is None:
            if len(self._json_of) > 4096:
                self._json_of.clear()
            encoded = self._json_of[text] = json.dumps(text)
        return encoded

    def _request(self, payload: str, timeout: float, limit: int, runs_tools: bool = False) -> dict:
        """Sends one request and returns its reply; raises :class:`_Failure`.

        Behind a load not answered yet, the request goes out at once (the worker takes both in
        turn); it is sent again only if the load needed a new worker.
        """
        lane = self._active or self._spawn()
        if lane.pending is None:
            return lane.await_reply(lane.request(payload, runs_tools), timeout, limit)
        try:
            request_id = lane.request(payload, runs_tools)
        except _Failure:
            request_id = -1  # the load's reply says what went wrong
        if not self._settle() or request_id < 0:
            lane = self._active or self._spawn()
            request_id = lane.request(payload, runs_tools)
        return lane.await_reply(request_id, timeout, limit)

    def _settle(self) -> bool:
        """Waits until the worker has loaded the codes, restarting everything once if needed.

        Returns False when the load needed a new worker (a request sent behind it was lost).
        """
        for attempt in range(2):
            lane = self._active or self._spawn()
            if lane.pending is None:
                return attempt == 0
            try:
                reply = lane.await_reply(lane.pending, max(30.0, self.timeout), 1 << 16)
            except _Failure as failure:
                detail = failure.detail or failure.kind
                self._respawn()
                continue
            lane.pending, lane.validated = None, lane.loaded
            self._note_tracing(lane.loaded, reply.get("tracing"))
            compiled = reply.get("compiled")
            self.sources_compiled += compiled if isinstance(compiled, int) else 0
            self._note_limits(reply.get("limits_missing"))
            return attempt == 0
        hint = (
            " and that bubblewrap works (or pass isolation='process')"
            if self.isolation == "os"
            else ""
        )
        raise SandboxError(
            f"The sandbox worker failed to start twice ({detail}); check that "
            f"{sys.executable} runs, that memory_mb={self.memory_mb} is enough{hint}."
        )

    def _note_tracing(self, codes: Mapping[str, str], names: object) -> None:
        """Remembers the sources a worker found to leave traces (a load's reply names them)."""
        if not isinstance(names, list):
            return
        if len(self._tracing) > 1 << 16:
            self._tracing.clear()
        self._tracing.update(hash((name, codes[name])) for name in names if name in codes)

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

    def _share_compiled(self) -> None:
        """Sends both zygotes the codes a worker loaded fine, to compile for the workers to come.

        Only codes that compiled in a worker reach a zygote, so no source can crash one.
        """
        codes = None if self._active is None else self._active.validated
        if not codes:
            return
        self._active.validated = None
        for lane in (self._active, self._standby):
            try:
                if lane is not None:
                    lane.cache(codes)
            except _Failure:
                pass  # a lost zygote shows at its next use

    def _next_worker(self) -> None:
        """Moves the episode to a fresh worker: the standby zygote's if it is up, else in place."""
        if self._take_standby():
            return
        try:
            self._active.retire()
            self._active.await_retired(_EXIT_WAIT)
            self._load(self._active)
        except _Failure:
            self._respawn()

    def _leaves_traces(self) -> bool:
        """Whether a source of the current codes failed :func:`leaves_no_trace` in a worker."""
        return any(hash(code) in self._tracing for code in self._codes.items())

    def _run_aside(self) -> bool:
        """Runs the episode in the standby's fresh worker; the active, clean one waits as standby.

        For an episode whose code would leave traces: its worker is then replaced, and the warm
        worker takes the next clean episode instead of a cold one (a fresh worker's first calls
        are slower: it still shares its memory pages with the zygote, and copies each one it
        writes to). Later episodes that leave traces get fresh workers in place, never this one.
        """
        standby = self._standby
        if standby is None or standby.touched or not self._keeps_standby():
            return False
        if not self._load_standby(standby):
            return False
        self._active, self._standby = standby, self._active
        self.episodes_aside += 1
        return True

    def _load_standby(self, standby: _Lane) -> bool:
        """Queues the episode's load in the standby zygote's worker; False if it is not up."""
        try:
            if not standby.ready():
                return False
            standby.await_retired(_EXIT_WAIT)  # long since read, unless episodes are very short
            self._load(standby)
        except _Failure:
            standby.close()
            self._standby = None
            return False
        return True

    def _take_standby(self) -> bool:
        """Loads the episode into the standby zygote's worker and retires the active one's.

        The standby's worker is fresh, or a clean one that an episode run aside left waiting.
        """
        standby = self._standby
        if standby is None:
            return False
        if standby.touched and self._leaves_traces():
            return False  # the clean worker that waits is kept for a clean episode
        if standby.touched and not self._reusable(standby):  # e.g. reuse was switched off since
            standby.close()
            self._standby = None
            return False
        if not self._load_standby(standby):
            return False
        if standby.touched:
            standby.reuses += 1
            self.workers_reused += 1
        retired, self._active, self._standby = self._active, standby, None
        if retired is not None:
            try:
                retired.retire()
                self._standby = retired
            except _Failure:
                retired.close()
        return True

    def _recover(self, failure: _Failure) -> None:
        self.restarts += 1
        if failure.kind == "broken":
            self._respawn()
        elif failure.kind == "crash":  # the zygote forks a replacement by itself
            try:
                self._active.drain()
                self._load(self._active)
            except _Failure:
                self._respawn()
        else:
            self._next_worker()

    def _respawn(self) -> None:
        """Replaces a lost zygote: by the standby one if it is up, else by a new one."""
        if self._active is not None:
            self._active.close()
            self._active = None
        if not self._take_standby():
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
