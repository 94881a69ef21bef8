"""The sandbox's own processes: the zygote and the episode worker (run as a script, stdlib only).

:mod:`toolgym.tools.sandbox` starts this file with ``python -B _sandbox_worker.py CONFIG``; it must
not import toolgym, so that a tool cannot reach the package's state and the start stays fast.
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import struct
import subprocess
import sys
from typing import Any

_HEADER = struct.Struct("<I")
_FILE_SIZE_LIMIT = 64 << 20
_PREIMPORTS = (
    "builtins calendar cmath collections copy datetime decimal fractions functools hashlib "
    "itertools json math operator random re statistics string time typing"
).split()


# ---------------------------------------------------------------------- zygote and episode worker


def _zygote_main(config: dict, requests: int, replies: int) -> None:
    """Forks one episode worker at a time and reports each one's exit status on the pipe."""
    ctrl = int(config["ctrl"])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    script_dir = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != script_dir]
    for module in _PREIMPORTS:
        __import__(module)
    kills: set[int] = set()
    generation = 0
    # bwrap made this zygote the first child of a fresh PID namespace's init (see _bubblewrap).
    sandboxed = config.get("isolation") == "os" and os.getppid() == 1 and os.getpid() == 2
    while True:
        pid = os.fork()
        if pid == 0:
            os.close(ctrl)
            try:
                _Worker(config, requests, replies).serve()
            finally:
                os._exit(0)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        status, orphaned = _supervise(pid, generation, ctrl, kills)
        if sandboxed:
            _sweep_sandbox()
        _send(replies, {"exit": status, "gen": generation})
        if orphaned:
            os._exit(0)
        generation += 1


def _supervise(pid: int, generation: int, ctrl: int, kills: set[int]) -> tuple[int, bool]:
    """Waits for worker ``pid`` to exit, killing it when asked; returns (status, runtime gone)."""
    pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    orphaned = False
    try:
        while not _exited(pid):
            watched = ([] if orphaned else [ctrl]) + ([] if pidfd is None else [pidfd])
            ready, _, _ = select.select(watched, [], [], None if pidfd is not None else 0.005)
            if ctrl in ready:
                commands = os.read(ctrl, 4096)
                orphaned = not commands  # the runtime closed or died: kill the worker, then quit
                kills.update(int(w[1:]) for w in commands.decode().split() if w[1:].isdigit())
            if orphaned or generation in kills:
                _kill_group(pid)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    _kill_group(pid)  # a tool's stray children die with their worker
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), orphaned


def _sweep_sandbox() -> None:
    """Under OS isolation only: kills every other process in the sandbox and empties /tmp.

    ``kill(-1)`` reaches only the processes of this PID namespace, so a tool's grandchildren that
    left the worker's process group die too; files a tool left in the private /tmp go.
    """
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass  # no other process
    import shutil

    for entry in os.scandir("/tmp"):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def _exited(pid: int) -> bool:
    """True once ``pid`` has exited; does not reap it, so its pid cannot be reused meanwhile."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _send(fd: int, message: dict) -> None:
    data = json.dumps(message).encode() + b"\n"  # ASCII: lone surrogates survive the trip
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks, missing = [], size
    while missing:
        chunk = os.read(fd, missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _forbid_processes(*_args: Any, **_kwargs: Any) -> Any:
    raise PermissionError("starting processes is not allowed in the tool sandbox")


def _forbid_process_creation() -> None:
    """Replaces the fork, exec and spawn functions with :func:`_forbid_processes`."""
    import _posixsubprocess
    import posix

    names = ("fork", "forkpty", "system", "posix_spawn", "posix_spawnp", "execv", "execve")
    for module in (os, posix):
        for name in names:
            if hasattr(module, name):
                setattr(module, name, _forbid_processes)
    _posixsubprocess.fork_exec = _forbid_processes
    subprocess._fork_exec = _forbid_processes  # type: ignore[attr-defined]


def _set_limit(kind: int, value: int | None) -> bool:
    """Sets limit ``kind`` to ``value`` (soft and hard; None: re-set as is); False when refused."""
    import resource

    limits = resource.getrlimit(kind)
    if value is not None:
        hard = limits[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        limits = (value, value)
    try:
        resource.setrlimit(kind, limits)
    except (OSError, ValueError):
        return False
    return True


def _describe(error: BaseException) -> str:
    return f"Error: {_explain(error)}"


def _explain(error: BaseException) -> str:
    try:
        return f"{type(error).__name__}: {error}"
    except BaseException:  # a hostile __str__
        return type(error).__name__


class _Worker:
    """One episode: compiles the codes, runs the calls, holds the state dict."""

    def __init__(self, config: dict, requests: int, replies: int) -> None:
        self.requests, self.replies = requests, replies
        self.pid = os.getpid()
        self.max_output_chars = int(config["max_output_chars"])
        self.memory_mb = int(config["memory_mb"])
        self.cpu_seconds = config["cpu_seconds"]
        self.compiled: dict[str, Any] = {}
        self.functions: dict[str, Any] = {}
        self.state: Any = None
        self.limits_missing: list[str] = []

    def serve(self) -> None:
        os.setpgid(0, 0)
        self._apply_limits()
        while True:
            header = _read_exact(self.requests, _HEADER.size)
            body = header and _read_exact(self.requests, _HEADER.unpack(header)[0])
            if not body:
                return
            request = json.loads(body)
            reply = getattr(self, "op_" + request["op"])(request)
            if os.getpid() != self.pid:  # a forked copy of the worker: it must never reply
                os._exit(0)
            reply["id"] = request["id"]
            _send(self.replies, reply)

    def _apply_limits(self) -> None:
        """Sets the resource limits (recording the ones refused) and disables process creation."""
        import resource

        limits = [
            ("RLIMIT_AS", self.memory_mb << 20),
            ("RLIMIT_FSIZE", _FILE_SIZE_LIMIT),
            ("RLIMIT_CORE", 0),
            ("RLIMIT_NPROC", 0),
        ]
        for name, value in limits:
            kind = getattr(resource, name, None)
            if kind is not None and not _set_limit(kind, value):
                self.limits_missing.append(name)
        if self.cpu_seconds and not _set_limit(resource.RLIMIT_CPU, None):
            self.limits_missing.append("RLIMIT_CPU")
        _forbid_process_creation()

    def _arm_cpu_limit(self) -> None:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = math.ceil(usage.ru_utime + usage.ru_stime + self.cpu_seconds)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))

    def op_load(self, request: dict) -> dict:
        self.state = request["state"]
        self.compiled, self.functions = {}, {}
        for name, code in request["codes"].items():
            try:
                self.compiled[name] = compile(code, f"<tool {name}>", "exec")
            except (
                BaseException
            ) as error:  # SyntaxError, ValueError (null bytes), RecursionError...
                self.compiled[name] = _describe(error)
        return {"ok": True, "limits_missing": self.limits_missing}

    def op_state(self, _request: dict) -> dict:
        try:
            return {"state": json.dumps(self.state, default=repr)}
        except BaseException as error:  # a cycle, a hostile __repr__...: the parent raises
            return {"error": _explain(error)}

    def op_call(self, request: dict) -> dict:
        """Runs one call; ``ok`` is True only when the tool function returned normally."""
        name = request["name"]
        ok = recycle = False
        try:
            if self.cpu_seconds:
                self._arm_cpu_limit()
            result = self._function(name)(**self._kwargs(name, request))
            text = (
                json.dumps(result, ensure_ascii=False)
                if type(result) in (dict, list)
                else str(result)
            )
            ok = True
        except _LoadError as error:
            text = str(error)
        except MemoryError:
            text = f"Error: MemoryError: {name} exceeded the memory limit of {self.memory_mb} MB"
            recycle = True
        except BaseException as error:  # SystemExit and KeyboardInterrupt too: the worker goes on
            text = _describe(error)
        if os.getpid() != self.pid:
            os._exit(0)
        if _has_children():
            text = f"Error: {name} started a child process, which the sandbox does not allow"
            ok, recycle = False, True
        if len(text) > self.max_output_chars:
            cut = len(text) - self.max_output_chars
            text = f"{text[: self.max_output_chars]}... [truncated {cut} characters]"
        return {"out": text, "ok": ok, "recycle": recycle}

    def _function(self, name: str) -> Any:
        function = self.functions.get(name)
        if function is not None:
            return function
        code = self.compiled[name]
        if isinstance(code, str):
            raise _LoadError(code)
        namespace: dict[str, Any] = {"__name__": f"toolgym_tool_{name}"}
        exec(code, namespace)
        function = namespace.get(name)
        if not callable(function):
            raise NameError(f"name {name!r} is not defined by the tool's code")
        self.functions[name] = function
        return function

    def _kwargs(self, name: str, request: dict) -> dict:
        kwargs = dict(request["args"])
        extra = request["extra"]
        if extra:
            kwargs.update(extra)
        elif self.state is not None and _takes_data(self.functions[name]):
            kwargs["data"] = self.state
        return kwargs


class _LoadError(Exception):
    """The tool's code did not compile; the message is the compile error."""

    def __str__(self) -> str:
        return str(self.args[0])


def _takes_data(function: Any) -> bool:
    code = getattr(function, "__code__", None)
    if code is None:
        import inspect

        try:
            return "data" in inspect.signature(function).parameters
        except (TypeError, ValueError):
            return False
    return "data" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


def _has_children() -> bool:
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def _main() -> None:
    """Entry point of the zygote: moves the protocol off fds 0-2, which become /dev/null."""
    requests, replies = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    try:
        _zygote_main(json.loads(sys.argv[1]), requests, replies)
    except BaseException as error:  # report it, so the runtime can explain a failed start
        _send(replies, {"fatal": _describe(error)})
        os._exit(1)


if __name__ == "__main__":
    _main()
