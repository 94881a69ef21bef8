"""Tests of the sandbox's OS-level isolation (bubblewrap) and of how an isolation is chosen."""

from __future__ import annotations

import json
import os
import socket
import textwrap
import warnings
from pathlib import Path

import pytest

from toolgym.error import InvalidKnob, SandboxError
from toolgym.tools import _bubblewrap
from toolgym.tools.result import ToolResult
from toolgym.tools.sandbox import SandboxRuntime

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the sandbox needs POSIX")
BWRAP_PROBLEM = _bubblewrap.bwrap_problem() if os.name == "posix" else "not POSIX"
needs_bwrap = pytest.mark.skipif(
    BWRAP_PROBLEM is not None, reason=f"bubblewrap cannot isolate here: {BWRAP_PROBLEM}"
)
MARKER = "TOOLGYM_TEST_PARENT_SECRET"


def tool(name: str, body: str, params: str = "") -> str:
    """Source of a function ``name(params)`` whose body is ``body``."""
    body = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    return f"def {name}({params}):\n{body}\n"


def call(rt: SandboxRuntime, body: str, params: str = "", **arguments) -> ToolResult:
    """Loads a tool ``t`` with ``body`` and calls it."""
    rt.reset({"t": tool("t", body, params)})
    return rt.call("t", arguments)


@pytest.fixture
def isolated(monkeypatch):
    monkeypatch.setenv(MARKER, "s3cret")  # set before the zygote starts: it must not see it
    with SandboxRuntime({}, timeout=5.0, memory_mb=256, isolation="os") as rt:
        yield rt


@pytest.fixture
def listener():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        yield server


CONNECT = """
import socket
socket.create_connection(("127.0.0.1", port), timeout=2).close()
return "connected"
"""


def accepted(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except TimeoutError:
        return False
    return True


@needs_bwrap
def test_the_runtime_says_which_isolation_runs(isolated):
    assert isolated.isolation == "os"
    with SandboxRuntime({}, isolation="auto") as rt:
        assert rt.isolation == "os"


@needs_bwrap
def test_a_tool_cannot_reach_a_listener_on_the_hosts_loopback(isolated, listener):
    port = listener.getsockname()[1]
    output = call(isolated, CONNECT, "port", port=port)
    assert not output.ok and "ConnectionRefusedError" in output.text
    assert not accepted(listener)


def test_the_process_isolation_does_reach_it(listener):
    """The control for the test above: the same tool connects without OS isolation."""
    with SandboxRuntime({}, timeout=5.0, isolation="process") as rt:
        assert call(rt, CONNECT, "port", port=listener.getsockname()[1]) == ToolResult("connected")
    assert accepted(listener)


WRITE = """
with open(path, "w") as file:
    file.write("escaped")
return "written"
"""


@needs_bwrap
@pytest.mark.parametrize("where", ["tmp_path", "/usr", "/", "/dev", "project"])
def test_a_tool_cannot_write_outside_its_private_tmp(isolated, tmp_path, where):
    folder = {"tmp_path": tmp_path, "project": Path(__file__).parent}.get(where, Path(where))
    path = folder / f"toolgym-escape-{os.getpid()}.txt"
    output = call(isolated, WRITE, "path", path=str(path))
    assert not output.ok and (
        "Read-only file system" in output.text or "No such file" in output.text
    )
    assert not path.exists()


@needs_bwrap
def test_the_private_tmp_is_writable_apart_from_the_hosts_and_emptied_per_episode(isolated):
    name = f"/tmp/toolgym-private-{os.getpid()}.txt"
    assert call(isolated, WRITE, "path", path=name) == ToolResult("written")
    assert not Path(name).exists()
    read = tool("r", "return open(path).read()", "path")
    isolated.reset({"r": read, "w": tool("w", WRITE, "path")})
    assert not isolated.call("r", {"path": name}).ok  # the last episode's file is gone
    assert isolated.call("w", {"path": name}) == ToolResult("written")
    assert isolated.call("r", {"path": name}) == ToolResult("escaped")


FILL_TMP = """
chunk = b"x" * (1 << 20)
for index in range(3):
    with open(f"/tmp/fill-{index}", "wb") as file:
        for _ in range(30):
            file.write(chunk)
return "filled"
"""


@needs_bwrap
def test_the_private_tmp_is_small(isolated):
    if "--size" not in _bubblewrap.wrap([], "x"):
        pytest.skip("this bubblewrap cannot limit the size of a tmpfs (--size)")
    output = call(isolated, FILL_TMP)
    assert not output.ok and "No space left on device" in output.text


@needs_bwrap
def test_a_tool_cannot_read_the_hosts_files(isolated, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    assert not any(str(secret).startswith(path) for path in _bubblewrap._python_paths())
    repository = Path(__file__).resolve().parents[2]
    for path in (secret, repository / "README.md", Path.home() / ".bashrc", Path("/etc/passwd")):
        output = call(isolated, "return open(path).read()", "path", path=str(path))
        assert output == ToolResult(
            f"Error: FileNotFoundError: [Errno 2] No such file or directory: {str(path)!r}", False
        )


@needs_bwrap
def test_a_tool_sees_no_environment_variable_of_the_parent(isolated):
    output = call(isolated, "import os\nreturn dict(os.environ)")
    assert output.ok and MARKER not in output.text and "s3cret" not in output.text
    assert "HOME" not in output.text and os.environ[MARKER] == "s3cret"


@needs_bwrap
def test_a_tool_can_import_installed_packages_but_not_the_project(isolated):
    body = "import importlib.util\nreturn [bool(importlib.util.find_spec(m)) for m in names]"
    output = call(isolated, body, "names", names=["json", "numpy", "toolgym"])
    assert output == ToolResult("[true, true, false]")


CTYPES_ESCAPES = """
import ctypes, ctypes.util, resource, socket
libc = ctypes.CDLL(None, use_errno=True)
infinity = ctypes.c_ulong(resource.RLIM_INFINITY)
raised = libc.setrlimit(resource.RLIMIT_AS, ctypes.byref((ctypes.c_ulong * 2)(infinity, infinity)))
results = {
    "setrlimit": raised,
    "unshare_net": libc.unshare(0x40000000),
    "unshare_user_net": libc.unshare(0x10000000 | 0x40000000),
    "mount": libc.mount(b"none", b"/usr", b"tmpfs", 0, None),
}
try:
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    results["connect"] = "connected"
except OSError as error:
    results["connect"] = type(error).__name__
return results
"""


@needs_bwrap
def test_ctypes_cannot_undo_the_os_isolation(isolated, listener):
    output = call(isolated, CTYPES_ESCAPES, "port", port=listener.getsockname()[1])
    assert output.ok, output
    results = json.loads(output.text)
    assert results["setrlimit"] == results["unshare_net"] == results["mount"] == -1  # no caps
    if "--disable-userns" in _bubblewrap.wrap([], "x"):  # else a new, empty netns is allowed
        assert results["unshare_user_net"] == -1
    assert results["connect"] in ("ConnectionRefusedError", "OSError")
    assert not accepted(listener)


STRAY = """
import ctypes, os, time
libc = ctypes.CDLL(None)
if libc.fork() == 0:
    libc.setsid()  # leaves the worker's process group, which the zygote kills
    if libc.fork() == 0:
        time.sleep(60)
    os._exit(0)
time.sleep(0.2)
return "parent"
"""
LIVE = """
import os
live = []
for pid in range(3, 4096):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        continue
    except PermissionError:
        pass
    live.append(pid)
return [pid for pid in live if pid != os.getpid()]
"""


@needs_bwrap
def test_no_process_a_tool_started_outlives_its_worker(isolated):
    output = call(isolated, STRAY)
    assert not output.ok and "started a child process" in output.text
    assert call(isolated, LIVE) == ToolResult("[]")  # only init (1), zygote (2) and this worker


TRACE_ZYGOTE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
attached = libc.ptrace(16, os.getppid(), None, None)  # PTRACE_ATTACH
errno = ctypes.get_errno()
if attached == 0:
    libc.ptrace(17, os.getppid(), None, None)  # PTRACE_DETACH
return [attached, errno]
"""


@needs_bwrap
def test_a_tool_cannot_trace_its_zygote_to_reach_later_episodes(isolated):
    assert call(isolated, TRACE_ZYGOTE) == ToolResult("[-1, 1]")  # EPERM: not dumpable


@needs_bwrap
def test_state_still_reaches_the_tools_through_the_protocol(isolated):
    add = tool("add", "data['n'] += 1\nreturn data['n']", "data")
    isolated.reset({"add": add}, state={"n": 41})
    assert isolated.call("add", {}) == ToolResult("42")
    assert isolated.get_state() == {"n": 42}


def test_os_isolation_without_bwrap_says_which_package_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError, match="needs bubblewrap.*install the package 'bubblewrap'"):
        SandboxRuntime({}, isolation="os")


def test_os_isolation_where_namespaces_are_refused_says_why(monkeypatch, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError, match="No permissions to create new namespace"):
        SandboxRuntime({}, isolation="os")


def test_auto_falls_back_to_process_isolation_with_one_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(_bubblewrap, "_fallback_warned", False)
    with pytest.warns(RuntimeWarning, match="isolation='process'.*network.*'bubblewrap'"):
        first = SandboxRuntime({"t": tool("t", "return 1")})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = SandboxRuntime({"t": tool("t", "return 2")}, isolation="auto")
    with first, second:
        assert first.isolation == second.isolation == "process"
        assert first.call("t", {}) == ToolResult("1") and second.call("t", {}) == ToolResult("2")


def test_an_unknown_isolation_is_a_bad_knob():
    with pytest.raises(InvalidKnob, match="isolation must be one of.*Did you mean 'process'"):
        SandboxRuntime({}, isolation="proces")
