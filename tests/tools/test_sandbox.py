"""Tests of the sandbox runtime for tool code given as source text."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolgym import error as toolgym_error
from toolgym.error import InvalidKnob, ToolGymError
from toolgym.tools.sandbox import SandboxRuntime

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the sandbox needs POSIX")

OK = "def ok():\n    return 'fine'\n"


def tool(name: str, body: str, params: str = "") -> str:
    """Source of a function ``name(params)`` whose body is ``body``."""
    return (
        f"def {name}({params}):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"
    )


@pytest.fixture
def runtime():
    with SandboxRuntime({"ok": OK}, timeout=1.0, memory_mb=256) as rt:
        yield rt


def run(rt: SandboxRuntime, body: str, params: str = "", **arguments) -> str:
    """Loads a tool ``t`` with ``body`` beside ``ok`` and calls it."""
    rt.reset({"ok": OK, "t": tool("t", body, params)})
    return rt.call("t", arguments)


def test_a_call_returns_the_functions_result_as_text(runtime):
    assert run(runtime, "return a + b", "a, b", a=1, b=2) == "3"


def test_dicts_and_lists_become_json_that_keeps_unicode(runtime):
    assert (
        run(runtime, "return {'city': 'Zürich', 'n': [1, 2]}") == '{"city": "Zürich", "n": [1, 2]}'
    )
    assert run(runtime, "return ['é']") == '["é"]'


def test_an_exception_becomes_an_error_string(runtime):
    assert run(runtime, "raise ValueError('bad date')") == "Error: ValueError: bad date"


def test_wrong_arguments_are_reported_not_raised(runtime):
    assert run(runtime, "return a", "a", b=1).startswith("Error: TypeError: t() got an unexpected")


def test_an_unknown_tool_lists_the_available_ones(runtime):
    output = runtime.call("okk", {})
    assert output.startswith("Error: unknown tool 'okk'. Available tools: ok.")
    assert "Did you mean 'ok'?" in output


def test_code_that_does_not_compile_or_define_the_tool_is_an_error(runtime):
    runtime.reset({"bad": "def bad(:\n  pass", "other": "def something_else():\n  return 1"})
    assert runtime.call("bad", {}).startswith("Error: SyntaxError:")
    assert runtime.call("other", {}).startswith("Error: NameError:")


def test_a_missing_module_returns_the_import_error(runtime):
    output = run(runtime, "import surely_not_a_module_xyz\nreturn 1")
    assert output == "Error: ModuleNotFoundError: No module named 'surely_not_a_module_xyz'"


def test_an_infinite_loop_times_out_and_the_next_call_works(runtime):
    start = time.monotonic()
    output = run(runtime, "while True:\n    pass")
    assert output.startswith("Error: calling t timed out after 1 s")
    assert time.monotonic() - start < 5
    assert runtime.call("ok", {}) == "fine"
    assert runtime.restarts == 1


def test_a_hang_in_the_module_body_times_out(runtime):
    runtime.reset({"ok": OK, "t": "while True:\n    pass\n" + tool("t", "return 1")})
    assert "timed out" in runtime.call("t", {})
    assert runtime.call("ok", {}) == "fine"


def test_a_memory_bomb_is_stopped_and_the_runtime_lives_on():
    bomb = tool("bomb", "x = []\nwhile True:\n    x.append(' ' * 10**6)")
    with SandboxRuntime({"ok": OK, "bomb": bomb}, timeout=10, memory_mb=256) as rt:
        assert rt.call("bomb", {}).startswith(
            "Error: MemoryError: bomb exceeded the memory limit of 256 MB"
        )
        assert rt.call("ok", {}) == "fine"


def test_deep_recursion_is_an_error(runtime):
    body = "def f(n):\n    return f(n + 1)\nreturn f(0)"
    assert run(runtime, body).startswith("Error: RecursionError: maximum recursion depth")


def test_a_segfault_crashes_only_the_worker(runtime):
    output = run(runtime, "import ctypes\nreturn ctypes.string_at(0)")
    assert output.startswith("Error: t crashed (exit code -11, SIGSEGV)")
    assert runtime.call("ok", {}) == "fine"


@pytest.mark.parametrize(
    "body, expected",
    [
        ("import sys\nsys.exit(3)", "Error: SystemExit: 3"),
        ("raise SystemExit('bye')", "Error: SystemExit: bye"),
        ("raise KeyboardInterrupt", "Error: KeyboardInterrupt: "),
        ("raise BaseException('base')", "Error: BaseException: base"),
        ("import os\nos._exit(0)", "Error: t crashed (exit code 0)"),
        (
            "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
            "Error: t crashed (exit code -9, SIGKILL)",
        ),
    ],
)
def test_exits_and_kills_return_an_error_and_the_runtime_lives_on(runtime, body, expected):
    assert run(runtime, body).startswith(expected)
    assert runtime.call("ok", {}) == "fine"


def test_starting_a_process_is_refused(runtime):
    for body in (
        "import os\nreturn os.fork()",
        "import subprocess\nreturn subprocess.run(['true'])",
    ):
        assert run(runtime, body).startswith(
            "Error: PermissionError: starting processes is not allowed"
        )
    assert runtime.call("ok", {}) == "fine"


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_process_forked_behind_the_guards_does_not_survive(runtime, tmp_path):
    pid_file = tmp_path / "child.pid"
    body = f"""
    import ctypes, os, time
    pid = ctypes.CDLL(None).fork()
    if pid == 0:
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        time.sleep(60)
    time.sleep(0.2)
    return "parent"
    """
    output = run(runtime, body)
    if not pid_file.exists():  # not root: RLIMIT_NPROC refused the fork
        assert output == "parent"
        return
    assert output.startswith("Error: t started a child process")
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 2
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(child)
    assert runtime.call("ok", {}) == "fine"


def test_prints_and_writes_to_fds_1_and_2_do_not_corrupt_the_protocol(runtime):
    body = """
    import os, sys
    print('{"id": 99, "out": "fake"}')
    sys.stdout.flush()
    os.write(1, b'{"id": 99}\\n')
    os.write(2, b'noise\\n')
    return 'clean'
    """
    assert run(runtime, body) == "clean"
    assert runtime.call("ok", {}) == "fine"


def test_garbage_on_the_protocol_pipe_costs_only_that_call(runtime):
    body = """
    import os
    for fd in range(3, 20):
        try:
            os.write(fd, b'}{ garbage\\n')
        except OSError:
            pass
    return 'done'
    """
    assert run(runtime, body).startswith("Error: t broke the sandbox")
    assert runtime.call("ok", {}) == "fine"


def test_huge_outputs_are_truncated():
    with SandboxRuntime({"big": tool("big", "return 'x' * 100_000")}, max_output_chars=100) as rt:
        assert rt.call("big", {}) == "x" * 100 + "... [truncated 99900 characters]"


def test_state_mutations_persist_within_an_episode_and_reset_restores_it(runtime):
    codes = {
        "add": tool(
            "add",
            "data.setdefault('items', []).append(item)\nreturn len(data['items'])",
            "item, data",
        )
    }
    runtime.reset(codes, state={"items": ["a"]})
    assert runtime.call("add", {"item": "b"}) == "2"
    assert runtime.call("add", {"item": "c"}) == "3"
    assert runtime.get_state() == {"items": ["a", "b", "c"]}
    runtime.reset(state={"items": []})
    assert runtime.call("add", {"item": "z"}) == "1"
    assert runtime.get_state() == {"items": ["z"]}


def test_a_crash_resets_the_state_to_the_start_of_the_episode_and_says_so(runtime):
    codes = {
        "add": tool("add", "data['n'] += 1\nreturn data['n']", "data"),
        "die": tool("die", "import os\nos._exit(1)", "data"),
    }
    runtime.reset(codes, state={"n": 0})
    assert runtime.call("add", {}) == "1"
    assert "tool state reset to the start of the episode" in runtime.call("die", {})
    assert runtime.get_state() == {"n": 0}
    assert runtime.call("add", {}) == "1"


def test_explicit_keyword_arguments_reach_the_function(runtime):
    runtime.reset({"get": tool("get", "return data['k']", "data")}, state={"k": "worker"})
    assert runtime.call("get", {}) == "worker"
    assert runtime.call("get", {}, data={"k": "explicit"}) == "explicit"


def test_get_state_is_none_without_state(runtime):
    assert runtime.get_state() is None


def test_the_parents_modules_are_untouched(runtime):
    body = """
    import builtins, json
    builtins.len = None
    json.dumps = None
    try:
        import toolgym.error
        toolgym.error.did_you_mean = None
    except ImportError:
        pass
    return 'sabotaged'
    """
    run(runtime, body)  # may break this episode's worker, never the caller
    assert callable(toolgym_error.did_you_mean) and len("ab") == 2
    runtime.reset({"ok": OK, "n": tool("n", "return len([1, 2])")})
    assert runtime.call("n", {}) == "2"  # every episode gets a fresh worker


def test_each_episode_gets_a_fresh_process(runtime):
    runtime.reset({"t": "import decimal\ndecimal.getcontext().prec = 3\n" + tool("t", "return 1")})
    runtime.call("t", {})
    runtime.reset({"p": tool("p", "import decimal\nreturn decimal.getcontext().prec")})
    assert runtime.call("p", {}) == "28"


def test_the_cpu_limit_stops_a_busy_call():
    with SandboxRuntime(
        {"spin": tool("spin", "while True:\n    pass")}, timeout=10, cpu_seconds=1
    ) as rt:
        assert rt.call("spin", {}).startswith("Error: spin exceeded the CPU limit of 1 s")


def test_misuse_raises():
    with pytest.raises(InvalidKnob):
        SandboxRuntime({}, timeout=0)
    with pytest.raises(ToolGymError):
        SandboxRuntime({"a": 1})  # type: ignore[dict-item]
    rt = SandboxRuntime({"ok": OK})
    rt.close()
    rt.close()
    with pytest.raises(ToolGymError, match="closed"):
        rt.call("ok", {})


def test_garbage_collection_stops_the_worker():
    rt = SandboxRuntime({"ok": OK})
    assert rt.call("ok", {}) == "fine"
    proc = rt._proc
    del rt
    assert proc is not None and proc.wait(timeout=5) is not None


HOSTILE = [
    "while True:\n    pass",
    "def f(n):\n    return f(n + 1)\nreturn f(0)",
    "import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\nreturn f(0)",
    "x = []\nwhile True:\n    x.append(' ' * 10**6)",
    "import sys\nsys.exit(1)",
    "import os\nos._exit(7)",
    "raise RuntimeError('boom')",
    "import os\nos.write(1, b'noise')",
    "print('chatter')",
    "return {'k': [1, 2, 3]}",
    "return 'x' * 10**5",
    "return 42",
]


@pytest.mark.slow
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(snippets=st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=3))
def test_hostile_code_never_breaks_the_runtime(runtime, snippets):
    body = "\n".join(snippets)
    output = run(runtime, body)
    assert isinstance(output, str)
    assert runtime.call("ok", {}) == "fine"


def test_a_reused_worker_still_gets_fresh_namespaces_and_state():
    counter = "count = 0\n" + tool(
        "c", "global count\ncount += 1\ndata['n'] = count\nreturn count", "data"
    )
    with SandboxRuntime({"c": counter}, fresh_worker_per_episode=False) as rt:
        rt.reset(state={})
        assert [rt.call("c", {}), rt.call("c", {})] == ["1", "2"]
        rt.reset(state={})
        assert rt.call("c", {}) == "1" and rt.get_state() == {"n": 1}
