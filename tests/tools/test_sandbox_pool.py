"""Tests of how the sandbox runs episodes: workers forked in advance, compiled sources, cleanup."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
from sandbox_params import ISOLATIONS, POSIX_ONLY

from toolgym.tools.result import ToolResult
from toolgym.tools.sandbox import SandboxRuntime

pytestmark = POSIX_ONLY
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def tool(name: str, body: str, params: str = "") -> str:
    """Source of a function ``name(params)`` whose body is ``body``."""
    return (
        f"def {name}({params}):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"
    )


PID = tool("pid", "import os\nreturn os.getpid()")
LEFT = f"/tmp/toolgym-left-behind-{os.getpid()}"
SABOTAGE = """
import builtins, decimal, math
builtins.sorted = lambda *args, **kwargs: ['forged']
math.pi = 3
decimal.getcontext().prec = 3
""" + tool("t", f"open({LEFT!r}, 'w').close()\nreturn 'sabotaged'")
PROBE = tool(
    "p",
    """
    import decimal, math, os
    left = os.path.exists(LEFT) and not os.environ.get('TOOLGYM_TMP_SHARED')
    return [math.pi, sorted([2, 1]), str(decimal.Decimal(1) / 3), left]
    """.replace("LEFT", repr(LEFT)),
)
CLEAN = ToolResult('[3.141592653589793, [1, 2], "0.3333333333333333333333333333", false]')


@pytest.fixture(params=ISOLATIONS)
def runtime(request):
    """A runtime that gives every episode a fresh worker (reuse is tested in test_sandbox_reuse)."""
    with SandboxRuntime(
        {}, timeout=5.0, memory_mb=256, isolation=request.param, reuse_clean_workers=False
    ) as rt:
        yield rt


def standby_ready(rt: SandboxRuntime, timeout: float = 30.0):
    """Waits until the standby zygote has forked the worker that takes the next episode."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lane = rt._standby
        if lane is not None and lane.ready() and lane.doomed is None:
            if lane.spawned == lane.generation:
                return lane
        time.sleep(0.01)
    raise AssertionError("the standby worker was not forked in time")


def play(rt: SandboxRuntime, codes: dict[str, str], name: str) -> ToolResult:
    """One episode with ``codes`` that calls ``name``, then waits for the standby worker if any."""
    rt.reset(codes)
    result = rt.call(name, {})
    if rt._standby is not None:
        standby_ready(rt)
    return result


def test_reset_hands_the_episode_to_a_worker_forked_before_it(runtime):
    play(runtime, {"pid": PID}, "pid")
    play(runtime, {"pid": PID}, "pid")  # from the second episode on, a standby zygote runs
    spare = standby_ready(runtime).worker_pid
    if runtime.isolation == "process":  # else the pid is one of the sandbox's PID namespace
        assert Path(f"/proc/{spare}").exists()
    runtime.reset()
    assert runtime.call("pid", {}) == ToolResult(str(spare))


def test_workers_get_the_sources_of_earlier_episodes_compiled(runtime):
    codes = {"pid": PID, "t": tool("t", "return 't'")}
    for _ in range(4):  # each of the two zygotes sees the sources loaded by a worker
        assert play(runtime, codes, "t") == ToolResult("t")
    compiled = runtime.sources_compiled
    assert compiled >= 2
    pids = set()
    for _ in range(4):  # episodes on both zygotes: none compiles again
        runtime.reset(codes)
        assert runtime.call("t", {}) == ToolResult("t")
        pids.add(runtime.call("pid", {}).text)
        standby_ready(runtime)  # so that the episodes alternate between the two zygotes
    assert runtime.sources_compiled == compiled
    if runtime.isolation == "process":
        assert len(pids) == 4  # still a fresh process per episode


def test_a_source_that_does_not_compile_still_fails_when_cached(runtime):
    codes = {"bad": "def bad(:\n  pass"}
    first = [play(runtime, codes, "bad") for _ in range(4)]
    runtime.reset(codes)
    assert runtime.call("bad", {}) == first[0] and not first[0].ok
    assert first[0].text.startswith("Error: SyntaxError:") and len(set(first)) == 1


@pytest.fixture
def shared_tmp(monkeypatch):
    """Tells "process" workers (which see our variables, not "os" ones) that /tmp is shared."""
    monkeypatch.setenv("TOOLGYM_TMP_SHARED", "1")
    yield
    Path(LEFT).unlink(missing_ok=True)


def test_no_episode_sees_what_an_earlier_one_did_to_its_process(shared_tmp, runtime):
    codes = {"t": SABOTAGE, "p": PROBE, "pid": PID}
    pids = set()
    for _ in range(6):  # in place, then on the two zygotes in turn
        runtime.reset(codes)
        assert runtime.call("p", {}) == CLEAN
        assert runtime.call("t", {}) == ToolResult("sabotaged")
        assert runtime.call("p", {}).text.startswith('[3, ["forged"], "0.333"')
        pids.add(runtime.call("pid", {}).text)
        if runtime._standby is not None:
            standby_ready(runtime)
    if runtime.isolation == "process":
        assert len(pids) == 6


def test_without_standby_one_zygote_forks_each_worker_at_reset():
    codes = {"pid": PID}
    with SandboxRuntime(codes, isolation="process", standby=False) as rt:
        pids = [play(rt, codes, "pid").text for _ in range(3)]
        compiled = rt.sources_compiled
        pids += [play(rt, codes, "pid").text for _ in range(3)]
        assert rt._standby is None and len(set(pids)) == 6
        assert rt.sources_compiled == compiled  # the one zygote compiled the source for them


def test_a_worker_that_ran_no_tool_code_takes_the_next_episode():
    with SandboxRuntime({"pid": PID}, isolation="process") as rt:
        rt.reset(state={"n": 1})
        worker = (rt._active, rt._active.generation)
        assert rt.get_state() == {"n": 1}  # reads the state: runs no tool code
        assert not rt.call("nope", {}).ok  # an unknown tool never reaches the worker
        rt.reset(state={"n": 2})
        assert (rt._active, rt._active.generation) == worker
        pid = rt.call("pid", {}).text
        rt.reset()
        assert (rt._active, rt._active.generation) != worker
        assert rt.call("pid", {}).text != pid


FORGE = """
import builtins, os
for fd in range(3, 64):
    for generation in range(8):
        try:
            os.write(fd, b'{"exit": 0, "gen": %d}\\n' % generation)
        except OSError:
            pass
builtins.sorted = lambda *args, **kwargs: ['forged']
return os.getpid()
"""


def test_a_forged_death_notice_does_not_keep_the_worker_for_the_next_episode(runtime):
    runtime.reset({"f": tool("f", FORGE), "pid": PID, "p": PROBE})
    pid = runtime.call("pid", {}).text
    assert not runtime.call("f", {}).ok  # the forged lines are garbage on the reply pipe
    runtime.reset()
    assert runtime.call("p", {}) == CLEAN
    if runtime.isolation == "process":
        assert runtime.call("pid", {}).text != pid


def _descendants(root: int) -> set[int]:
    """The processes below ``root`` (from the parent pids in /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.add(child)
            todo.append(child)
    return found


@needs_proc
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_close_stops_every_process_the_runtime_started(isolation):
    before = _descendants(os.getpid())
    rt = SandboxRuntime({"pid": PID}, isolation=isolation)
    for _ in range(3):
        play(rt, {"pid": PID}, "pid")
    started = _descendants(os.getpid()) - before
    assert len(started) >= 4  # two zygotes, each with a worker (and bubblewrap's processes)
    rt.close()
    assert not _descendants(os.getpid()) & started
