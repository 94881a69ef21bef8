"""The sandbox's own processes: the zygote and the episode worker (run as a script, stdlib only).

:mod:`toolgym.tools.sandbox` starts this file with ``python -B _sandbox_worker.py CONFIG``; it must
not import toolgym, so that a tool cannot reach the package's state and the start stays fast. The
zygote forks one worker at a time, reports on a control socket, and keeps the code objects of the
sources the runtime has seen loaded, which the workers it forks inherit (:class:`_CodeCache`).
"""

from __future__ import annotations

import ast
import gc
import json
import math
import os
import select
import signal
import struct
import subprocess
import sys
import time
from typing import Any

_HEADER = struct.Struct("<I")
_FILE_SIZE_LIMIT = 64 << 20
CACHE_CHARS = 16 << 20
"""Characters of tool source whose compiled code a zygote keeps (oldest dropped first)."""
CACHE_SOURCE_LIMIT = 64 << 10
"""A longer source is never compiled by a zygote: each worker that loads it compiles it."""
_WARM_UP_TOOL = """
import datetime, json, re
def warm_up(day):
    date = datetime.datetime.strptime(day, "%Y-%m-%d")
    if not re.match(r"^\\d{4}-\\d{2}-\\d{2}$", day):
        raise ValueError(day)
    return {"weekday": date.strftime("%A"), "items": [1, 2.5, "x", None, True, {"n": len(day)}]}
"""
"""A typical tool, called once by each worker while it waits (see :meth:`_Worker.warm_up`)."""
_PREIMPORTS = (
    "builtins calendar cmath collections copy datetime decimal fractions functools hashlib "
    "itertools json math operator random re statistics string time typing"
).split()


# ---------------------------------------------------------------------- zygote and episode worker


class _CodeCache:
    """Compiled tool sources by (name, source), oldest dropped past :data:`CACHE_CHARS` of source.

    Each entry is ``(code, reusable)``: the code object (or the compile error's text) and whether
    :func:`leaves_no_trace` passed the source. The zygote fills its copy between workers, so every
    worker forked later inherits them; a worker adds what it had to compile to its own copy.
    """

    def __init__(self) -> None:
        self.codes: dict[tuple[str, str], tuple[Any, bool]] = {}
        self.chars = 0

    def get(self, name: str, source: str) -> tuple[tuple[Any, bool], bool]:
        """``(code, reusable)`` and whether the source had to be compiled now."""
        key = (name, source)
        code = self.codes.get(key)
        if code is not None:
            return code, False
        try:
            tree = ast.parse(source, f"<tool {name}>")
            code = (compile(tree, f"<tool {name}>", "exec"), leaves_no_trace(tree))
        except BaseException as error:  # SyntaxError, ValueError (null bytes), RecursionError...
            code = (_describe(error), True)
        self.codes[key] = code
        self.chars += len(source)
        while self.chars > CACHE_CHARS and len(self.codes) > 1:
            old_name, old_source = next(iter(self.codes))
            del self.codes[old_name, old_source]
            self.chars -= len(old_source)
        return code, True


# ---------------------------------------------------------------------- what lets a worker be reused

REUSE_MODULES = frozenset(
    "calendar cmath collections copy datetime decimal fractions functools hashlib itertools json "
    "math random re statistics string time typing".split()
)
"""What a tool may import and still leave its worker reusable: modules the zygote has imported,
whose process-wide state a tool can change through their public names only in ``random`` and
``decimal``, which every episode's load restores (:func:`restore_module_state`)."""
_FORBIDDEN_BUILTINS = frozenset(
    "getattr setattr delattr globals vars locals eval exec compile __import__ breakpoint input open "
    "memoryview help exit quit".split()
)
_READABLE_DUNDERS = frozenset({"__name__", "__doc__"})


def leaves_no_trace(tree: ast.AST) -> bool:
    """Whether running this tool's code can leave nothing behind in its process for a later episode.

    A worker runs each episode's tools in fresh namespaces; what could outlive the episode is a
    change to state outside them: a module's globals, a class's attributes, a shared object, the
    interpreter. The check is conservative (any doubt: False) and static, resolving the names the
    code imports against the modules this process has loaded. It passes code that

    - imports only :data:`REUSE_MODULES` (absolute, no ``*``);
    - reads no attribute whose name starts with ``_`` and no dunder name but ``__name__`` and
      ``__doc__`` (no ``__class__``, ``__globals__``, ``__builtins__``, ``__subclasses__``...),
      defines no ``__del__``, and does not use :data:`_FORBIDDEN_BUILTINS` (``getattr``, ``eval``,
      ``globals``, ``open``...) unless it binds that name itself;
    - assigns or deletes attributes only of ``self`` or ``cls``, and items only of its own names
      (never of an imported name, never of a call's result);
    - uses what it imported only by calling it (not ``calendar.setfirstweekday`` or
      ``time.tzset``; a bound method of a module-level object only for ``random``'s functions),
      by indexing it when it has no ``__setitem__``, as a type (in ``except``, class bases,
      annotations, ``isinstance``), or as a value that cannot change
      (numbers, strings, tuples, dates, built-in types and functions): never as a module, a
      Python function or a mutable object handed around.

    What the worker checks after each call covers the rest (:meth:`_Worker.op_call`): no module
    was imported. A worker that ran code failing either check is never given another episode.
    """
    try:
        return _TraceCheck(tree).passes()
    except (RecursionError, ValueError, TypeError, AttributeError):
        return False


class _TraceCheck:
    """One run of :func:`leaves_no_trace` (see there for the rules)."""

    def __init__(self, tree: ast.AST) -> None:
        self.tree = tree
        self.parents: dict[ast.AST, ast.AST] = {}
        self.bound: set[str] = set()
        self.imported: dict[str, Any] = {}
        self.type_positions: set[ast.AST] = set()
        import calendar
        import datetime
        import decimal
        import fractions

        self.values = (int, float, complex, str, bytes, type(None), frozenset, range, tuple,
                       datetime.date, datetime.time, datetime.timedelta, datetime.tzinfo,
                       decimal.Decimal, fractions.Fraction, type(calendar.month_name),
                       type(calendar.day_name))

    def passes(self) -> bool:
        parents, stack = self.parents, [self.tree]
        while stack:  # ast.walk, without its generators: this runs for every new source
            node = stack.pop()
            if not self.collect(node):
                return False
            for field in node._fields:
                value = getattr(node, field, None)
                for child in value if isinstance(value, list) else (value,):
                    if isinstance(child, ast.AST):
                        parents[child] = node
                        stack.append(child)
        return all(self.allowed(node) for node in parents)

    def collect(self, node: ast.AST) -> bool:
        """Notes bound names, imports and the positions where a type is expected."""
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            self.bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.bound.add(node.name)
            if node.name == "__del__":
                return False
            if isinstance(node, ast.ClassDef):
                self.type_positions.update(node.bases)
            else:
                self.type_positions.add(node.returns)
        elif isinstance(node, ast.arg):
            self.bound.add(node.arg)
            self.type_positions.add(node.annotation)
        elif isinstance(node, ast.AnnAssign):
            self.type_positions.add(node.annotation)
        elif isinstance(node, ast.ExceptHandler):
            self.type_positions.add(node.type)
            if node.name:
                self.bound.add(node.name)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 2:
            if node.func.id in ("isinstance", "issubclass"):
                self.type_positions.add(node.args[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.partition(".")[0]
                if top not in REUSE_MODULES or alias.name not in sys.modules:
                    return False
                self.imported[alias.asname or top] = sys.modules[alias.name if alias.asname else top]
        elif isinstance(node, ast.ImportFrom):
            if node.level or node.module is None or node.module.partition(".")[0] not in REUSE_MODULES:
                return False
            module = sys.modules.get(node.module)
            for alias in node.names:
                if module is None or alias.name == "*" or alias.name.startswith("_"):
                    return False
                value = getattr(module, alias.name, sys.modules.get(f"{node.module}.{alias.name}"))
                if value is None and alias.name != "None":
                    return False
                self.imported[alias.asname or alias.name] = value
        return True

    def allowed(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                return False
            if not isinstance(node.ctx, ast.Load):
                root = _root(node)
                return isinstance(root, ast.Name) and root.id in ("self", "cls") and root.id not in self.imported
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            root = _root(node)
            return isinstance(root, ast.Name) and root.id not in self.imported
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id.startswith("__") and node.id not in _READABLE_DUNDERS:
                return False
            if node.id in _FORBIDDEN_BUILTINS and node.id not in self.bound:
                return False
            if node.id in self.imported:
                return self.use_allowed(node)
        return True

    def use_allowed(self, name: ast.Name) -> bool:
        """Whether this use of an imported name (with the attributes read off it) is allowed."""
        top: ast.AST = name
        value = self.imported[name.id]
        parent = self.parents.get(top)
        while isinstance(parent, ast.Attribute) and parent.value is top:
            if not isinstance(parent.ctx, ast.Load):
                return False
            value = getattr(value, parent.attr)  # a missing name raises AttributeError: not passed
            top, parent = parent, self.parents.get(parent)
        if isinstance(parent, ast.Call) and parent.func is top:
            if any(value is setter for setter in _state_setters()):
                return False
            owner = getattr(value, "__self__", None)
            return owner is None or isinstance(owner, (type, type(sys))) or owner is _random_instance()
        if isinstance(parent, ast.Subscript) and parent.value is top:
            return not isinstance(value, (dict, list, set, bytearray)) and not hasattr(type(value), "__setitem__")
        if top in self.type_positions or _inside(top, self.type_positions, self.parents):
            return isinstance(value, type) or type(value).__module__ == "typing" or isinstance(value, tuple)
        if isinstance(value, type):
            return not value.__flags__ & (1 << 9)  # a built-in (static) type, never a Python class
        if type(value).__name__ == "builtin_function_or_method":
            return isinstance(getattr(value, "__self__", None), (type(None), type, type(sys)))
        return isinstance(value, self.values) or type(value).__module__ == "typing"


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node


def _inside(node: ast.AST, positions: set[ast.AST], parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` is part of an expression in ``positions`` (e.g. a tuple of exception types)."""
    while node in parents:
        node = parents[node]
        if node in positions:
            return True
        if isinstance(node, ast.stmt):
            return False
    return False


def _state_setters() -> tuple[Any, ...]:
    """The functions of :data:`REUSE_MODULES` that change state no episode restores."""
    import calendar

    return (calendar.setfirstweekday, time.tzset)


def _random_instance() -> Any:
    import random

    return random._inst  # the object behind random's module-level functions


_MODULE_STATE: dict[str, Any] = {}


def save_module_state() -> None:
    """Notes the state of ``random`` and ``decimal``'s context (in the zygote, before forking)."""
    import decimal
    import random

    _MODULE_STATE.update(random=random.getstate(), decimal=decimal.getcontext().copy())


def restore_module_state() -> None:
    """Puts ``random`` and ``decimal``'s context back as :func:`save_module_state` found them, so an
    episode in a reused worker draws the same numbers as in a fresh one."""
    import decimal
    import random

    random.setstate(_MODULE_STATE["random"])
    decimal.setcontext(_MODULE_STATE["decimal"].copy())


_CACHE = _CodeCache()


class _Zygote:
    """Forks one episode worker at a time, obeys the runtime's commands, reports on ``ctrl``.

    ``ctrl`` is a socket that only the runtime and this process hold (each worker closes its copy
    first thing): commands come in as JSON lines (``{"kill": gen}``, ``{"compile": [[name,
    source], ...]}``), events go out as JSON lines (``{"spawned": gen, "pid": pid}``, ``{"exit":
    status, "gen": gen}``), so a tool cannot forge the death of its worker.
    """

    def __init__(self, config: dict, requests: int, replies: int) -> None:
        self.config, self.requests, self.replies = config, requests, replies
        self.ctrl = int(config["ctrl"])
        self.generation = 0
        self.kills: set[int] = set()
        self.to_compile: list[tuple[str, str]] = []
        self.buffer = bytearray()
        self.orphaned = False
        # bwrap made this zygote the first child of a fresh PID namespace's init (see _bubblewrap).
        self.sandboxed = config.get("isolation") == "os" and os.getppid() == 1 and os.getpid() == 2

    def run(self) -> None:
        while True:
            for name, source in self.to_compile:  # between workers: never delays a kill
                if len(source) <= CACHE_SOURCE_LIMIT:
                    _CACHE.get(name, source)
            self.to_compile.clear()
            gc.freeze()  # the workers' collections then leave the inherited pages unwritten
            pid = os.fork()
            if pid == 0:
                os.close(self.ctrl)
                try:
                    _Worker(self.config, self.generation, self.requests, self.replies).serve()
                finally:
                    os._exit(0)
            try:
                os.setpgid(pid, pid)
            except OSError:
                pass
            self.report({"spawned": self.generation, "pid": pid})
            status = self.supervise(pid)
            _discard_unread(self.requests)
            if self.sandboxed:
                _sweep_sandbox()
            self.report({"exit": status, "gen": self.generation})
            if self.orphaned:
                os._exit(0)
            self.kills = {gen for gen in self.kills if gen > self.generation}
            self.generation += 1

    def report(self, event: dict) -> None:
        try:
            _send(self.ctrl, event)
        except OSError:
            self.orphaned = True  # the runtime is gone

    def supervise(self, pid: int) -> int:
        """Waits for worker ``pid`` to exit, killing it when asked; returns its exit status."""
        pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
        try:
            while not _exited(pid):
                watched = ([] if self.orphaned else [self.ctrl]) + (
                    [] if pidfd is None else [pidfd]
                )
                ready, _, _ = select.select(watched, [], [], None if pidfd is not None else 0.005)
                if self.ctrl in ready:
                    self.read_commands()
                if self.orphaned or self.generation in self.kills:
                    _yield_cpu(pid)  # its teardown then waits for the live episode's calls
                    _kill_group(pid)
        finally:
            if pidfd is not None:
                os.close(pidfd)
        _kill_group(pid)  # a tool's stray children die with their worker
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def read_commands(self) -> None:
        try:
            data = os.read(self.ctrl, 1 << 16)
        except OSError:
            data = b""
        if not data:  # the runtime closed or died: kill the worker, then quit
            self.orphaned = True
            return
        self.buffer += data
        while (end := self.buffer.find(b"\n")) >= 0:
            command = json.loads(self.buffer[:end])
            del self.buffer[: end + 1]
            if "kill" in command:
                self.kills.add(int(command["kill"]))
            self.to_compile.extend((name, source) for name, source in command.get("compile", ()))


def _forbid_tracing() -> None:
    """Makes this process and the workers it forks non-dumpable: a worker cannot ptrace its zygote.

    Under OS isolation a tool has no capability, so this holds against ``ctypes`` too: no later
    worker can inherit what a tool injected into the zygote.
    """
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):  # not Linux
        pass


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


def _discard_unread(fd: int) -> None:
    """Drops what a dead worker left unread, e.g. the rest of a request it was killed reading.

    The runtime sends nothing more before it reads the worker's exit, reported after this, so the
    next worker starts at the start of a request.
    """
    while select.select([fd], [], [], 0)[0] and os.read(fd, 1 << 16):
        pass


def _exited(pid: int) -> bool:
    """True once ``pid`` has exited; does not reap it, so its pid cannot be reused meanwhile."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _yield_cpu(pid: int) -> None:
    try:
        os.setpriority(os.PRIO_PGRP, pid, 19)
    except OSError:
        pass


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _send(fd: int, message: dict) -> None:
    _write(fd, json.dumps(message).encode() + b"\n")  # ASCII: lone surrogates survive the trip


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_CALL_REPLY = '{"id": %d, "out": %s, "ok": %s, "recycle": %s, "clean": %s}\n'
"""A call's reply, the JSON that ``_send`` would write for the same dict."""
_JSON_BOOL = {True: "true", False: "false"}
_json_string = json.encoder.encode_basestring_ascii  # json.dumps(text) for a str, at C speed


SPIN_SECONDS = 1e-3
"""How long a worker polls for the next request, and the runtime for a reply, before sleeping."""


def spin(poll: Any, seconds: float) -> list[tuple[int, int]]:
    """``poll.poll(0)`` again and again for up to ``seconds``; what became ready (maybe nothing).

    Calls often come back to back (an env replaying a prefix, a turn of parallel calls): a
    process still awake when the message arrives saves the kernel a wake-up (tens of
    microseconds on a virtual machine); one that waited in vain spent ``seconds`` of CPU.
    """
    deadline = time.perf_counter() + seconds
    while not (ready := poll.poll(0)) and time.perf_counter() < deadline:
        pass
    return ready


def _next_request(fd: int, poll: Any, unread: bytearray) -> bytes | None:
    """The next request's body (None once the pipe is closed); reads as much as is there.

    ``unread`` keeps what came after the request (a call sent behind a load) for the next one.
    """
    while True:
        if len(unread) >= _HEADER.size:
            end = _HEADER.size + _HEADER.unpack_from(unread)[0]
            if len(unread) >= end:
                body = bytes(unread[_HEADER.size : end])
                del unread[:end]
                return body
        elif not unread:
            spin(poll, SPIN_SECONDS)
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        unread += chunk


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
    """One episode: takes the codes, runs the calls, holds the state dict."""

    def __init__(self, config: dict, generation: int, requests: int, replies: int) -> None:
        self.requests, self.replies = requests, replies
        self.generation = generation
        self.pid = os.getpid()
        self.max_output_chars = int(config["max_output_chars"])
        self.memory_mb = int(config["memory_mb"])
        self.cpu_seconds = config["cpu_seconds"]
        self.codes: dict[str, Any] = {}
        self.sources: dict[int, tuple[Any, bool]] = {}  # what the runtime may name by id
        self.functions: dict[str, Any] = {}
        self.state: Any = None
        self.limits_missing: list[str] = []
        self.clean = True  # no code run here could have left a trace (see leaves_no_trace)
        self.modules = len(sys.modules)

    def serve(self) -> None:
        os.setpgid(0, 0)
        self._apply_limits()
        self.warm_up()
        requests = select.poll()
        requests.register(self.requests, select.POLLIN)
        unread = bytearray()  # what was read past the request at hand (the parent pipelines)
        while True:
            body = _next_request(self.requests, requests, unread)
            if body is None:
                return
            request = json.loads(body)
            if request["gen"] != self.generation:  # sent to a worker that died before reading it
                continue
            reply = getattr(self, "op_" + request["op"])(request)
            if os.getpid() != self.pid:  # a forked copy of the worker: it must never reply
                os._exit(0)
            if request["op"] == "call":  # the hot path: formatted, not through json's encoder
                line = _CALL_REPLY % (
                    request["id"], _json_string(reply["out"]), _JSON_BOOL[reply["ok"]],
                    _JSON_BOOL[reply["recycle"]], _JSON_BOOL[reply["clean"]],
                )
                _write(self.replies, line.encode())
            else:
                reply["id"] = request["id"]
                _send(self.replies, reply)

    def warm_up(self) -> None:
        """Calls a typical tool once before the episode, while the worker waits on standby.

        A fresh worker's first calls write to pages it shares with the zygote (the interpreter's,
        ``json``'s, ``datetime``'s...), and each such copy-on-write page fault costs microseconds;
        most of them then happen here, in advance, instead of during the episode.
        """
        self.op_load({"codes": {"warm_up": [-1, _WARM_UP_TOOL]}, "known": {}, "state": None})
        self.op_call({"name": "warm_up", "args": {"day": "2000-01-01"}, "extra": {}})
        self.codes, self.functions, self.sources = {}, {}, {}
        self.modules, self.clean = len(sys.modules), True  # what the warm-up imported is the baseline

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
        """Takes the episode's codes (compiling only what the zygote had not) and state.

        A reused worker drops the last episode's namespaces and state with its codes, and
        restores the module state an episode may change (:func:`restore_module_state`).
        """
        self.state = request["state"]
        self.codes, self.functions = {}, {}
        restore_module_state()
        compiled = 0
        for name, (source_id, source) in request["codes"].items():
            entry, fresh = _CACHE.get(name, source)
            self.codes[name] = self.sources[source_id] = entry
            compiled += fresh
        for name, source_id in request["known"].items():
            self.codes[name] = self.sources[source_id]
        tracing = [name for name, (_code, reusable) in self.codes.items() if not reusable]
        return {
            "ok": True,
            "limits_missing": self.limits_missing,
            "compiled": compiled,
            "tracing": tracing,
        }

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
        if not self.clean and _has_children():  # code that passed leaves_no_trace cannot fork
            text = f"Error: {name} started a child process, which the sandbox does not allow"
            ok, recycle = False, True
        if len(text) > self.max_output_chars:
            cut = len(text) - self.max_output_chars
            text = f"{text[: self.max_output_chars]}... [truncated {cut} characters]"
        if len(sys.modules) != self.modules:  # an import no check foresaw, e.g. a lazy one
            self.clean = False
        return {"out": text, "ok": ok, "recycle": recycle, "clean": self.clean}

    def _function(self, name: str) -> Any:
        function = self.functions.get(name)
        if function is not None:
            return function
        code, reusable = self.codes[name]
        if isinstance(code, str):
            raise _LoadError(code)
        self.clean = self.clean and reusable
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
        config = json.loads(sys.argv[1])
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        script_dir = os.path.dirname(os.path.abspath(__file__))
        sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != script_dir]
        for module in _PREIMPORTS:
            __import__(module)
        # Most date tools parse ISO dates: import _strptime and compile that regex once, here,
        # rather than in every worker (about 2 ms each).
        time.strptime("2000-01-01", "%Y-%m-%d")
        _CACHE.get("warm_up", _WARM_UP_TOOL)
        save_module_state()
        _forbid_tracing()
        _Zygote(config, requests, replies).run()
    except BaseException as error:  # report it, so the runtime can explain a failed start
        _send(replies, {"fatal": _describe(error)})
        os._exit(1)


if __name__ == "__main__":
    _main()
