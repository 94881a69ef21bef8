"""Tests of the sandbox runtime for tool code given as source text."""

from __future__ import annotations

import os
import signal
import textwrap
import time
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_params import ISOLATIONS, POSIX_ONLY

from toolgym.error import InvalidKnob, SandboxError, ToolGymError
from toolgym.tools.result import ToolResult
from toolgym.tools.sandbox import SandboxRuntime

pytestmark = POSIX_ONLY

OK = "def ok():\n    return 'fine'\n"


def tool(name: str, body: str, params: str = "") -> str:
    """Source of a function ``name(params)`` whose body is ``body``."""
    return (
        f"def {name}({params}):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"
    )


@pytest.fixture(params=ISOLATIONS)
def runtime(request):
    """A runtime with tool ``ok``, under each isolation this machine offers."""
    with SandboxRuntime({"ok": OK}, timeout=1.0, memory_mb=256, isolation=request.param) as rt:
        assert rt.isolation == request.param
        yield rt


def run(rt: SandboxRuntime, body: str, params: str = "", **arguments) -> ToolResult:
    """Loads a tool ``t`` with ``body`` beside ``ok`` and calls it."""
    rt.reset({"ok": OK, "t": tool("t", body, params)})
    return rt.call("t", arguments)


FINE = ToolResult("fine", ok=True)


def test_a_call_returns_the_functions_result_as_text(runtime):
    assert run(runtime, "return a + b", "a, b", a=1, b=2) == ToolResult("3", ok=True)


def test_a_tool_that_returns_error_text_still_succeeded(runtime):
    assert run(runtime, "return 'Error: x'") == ToolResult("Error: x", ok=True)
    assert run(runtime, "return None") == ToolResult("None", ok=True)


def test_dicts_and_lists_become_json_that_keeps_unicode(runtime):
    output = run(runtime, "return {'city': 'Zürich', 'n': [1, 2]}")
    assert output == ToolResult('{"city": "Zürich", "n": [1, 2]}', ok=True)
    assert run(runtime, "return ['é']") == ToolResult('["é"]', ok=True)


def failed(result: ToolResult, prefix: str) -> bool:
    """True when ``result`` is a failure whose text starts with ``prefix``."""
    return result.ok is False and result.text.startswith(prefix)


def test_an_exception_becomes_a_failed_result(runtime):
    output = run(runtime, "raise ValueError('bad date')")
    assert output == ToolResult("Error: ValueError: bad date", ok=False)


def test_wrong_arguments_are_reported_not_raised(runtime):
    assert failed(run(runtime, "return a", "a", b=1), "Error: TypeError: t() got an unexpected")


def test_an_unknown_tool_lists_the_available_ones(runtime):
    output = runtime.call("okk", {})
    assert failed(output, "Error: unknown tool 'okk'. Available tools: ok.")
    assert "Did you mean 'ok'?" in output.text


def test_arguments_that_are_not_a_mapping_fail(runtime):
    output = runtime.call("ok", [1, 2])  # type: ignore[arg-type]
    assert output == ToolResult(
        "Error: the arguments of ok must be a JSON object, got list.", False
    )


def test_code_that_does_not_compile_or_define_the_tool_is_an_error(runtime):
    runtime.reset({"bad": "def bad(:\n  pass", "other": "def something_else():\n  return 1"})
    assert failed(runtime.call("bad", {}), "Error: SyntaxError:")
    assert failed(runtime.call("other", {}), "Error: NameError:")


def test_a_missing_module_returns_the_import_error(runtime):
    output = run(runtime, "import surely_not_a_module_xyz\nreturn 1")
    message = "Error: ModuleNotFoundError: No module named 'surely_not_a_module_xyz'"
    assert output == ToolResult(message, ok=False)


def test_an_infinite_loop_times_out_and_the_next_call_works(runtime):
    start = time.monotonic()
    output = run(runtime, "while True:\n    pass")
    assert failed(output, "Error: calling t timed out after 1 s")
    assert time.monotonic() - start < 5
    assert runtime.call("ok", {}) == FINE
    assert runtime.restarts == 1


def test_a_hang_in_the_module_body_times_out(runtime):
    runtime.reset({"ok": OK, "t": "while True:\n    pass\n" + tool("t", "return 1")})
    output = runtime.call("t", {})
    assert "timed out" in output.text and not output.ok
    assert runtime.call("ok", {}) == FINE


def test_a_memory_bomb_is_stopped_and_the_runtime_lives_on():
    bomb = tool("bomb", "x = []\nwhile True:\n    x.append(' ' * 10**6)")
    with SandboxRuntime({"ok": OK, "bomb": bomb}, timeout=10, memory_mb=256) as rt:
        output = rt.call("bomb", {})
        assert failed(output, "Error: MemoryError: bomb exceeded the memory limit of 256 MB")
        assert rt.call("ok", {}) == FINE


def test_deep_recursion_is_an_error(runtime):
    body = "def f(n):\n    return f(n + 1)\nreturn f(0)"
    assert failed(run(runtime, body), "Error: RecursionError: maximum recursion depth")


def test_a_segfault_crashes_only_the_worker(runtime):
    output = run(runtime, "import ctypes\nreturn ctypes.string_at(0)")
    assert failed(output, "Error: t crashed (exit code -11, SIGSEGV)")
    assert runtime.call("ok", {}) == FINE


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
    assert failed(run(runtime, body), expected)
    assert runtime.call("ok", {}) == FINE


def test_starting_a_process_is_refused(runtime):
    for body in (
        "import os\nreturn os.fork()",
        "import subprocess\nreturn subprocess.run(['true'])",
    ):
        assert failed(
            run(runtime, body), "Error: PermissionError: starting processes is not allowed"
        )
    assert runtime.call("ok", {}) == FINE


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_process_forked_behind_the_guards_does_not_survive(tmp_path):
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
    with SandboxRuntime({"ok": OK}, timeout=1.0, isolation="process") as runtime:  # sees the file
        output = run(runtime, body)
        if not pid_file.exists():  # not root: RLIMIT_NPROC refused the fork
            assert output == ToolResult("parent", ok=True)
            return
        assert failed(output, "Error: t started a child process")
        child = int(pid_file.read_text())
        deadline = time.monotonic() + 2
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _alive(child)  # while the runtime still runs: the worker's group was killed
        assert runtime.call("ok", {}) == FINE


def test_prints_and_writes_to_fds_1_and_2_do_not_corrupt_the_protocol(runtime):
    body = """
    import os, sys
    print('{"id": 99, "out": "fake"}')
    sys.stdout.flush()
    os.write(1, b'{"id": 99}\\n')
    os.write(2, b'noise\\n')
    return 'clean'
    """
    assert run(runtime, body) == ToolResult("clean", ok=True)
    assert runtime.call("ok", {}) == FINE


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
    assert failed(run(runtime, body), "Error: t broke the sandbox")
    assert runtime.call("ok", {}) == FINE


def test_huge_outputs_are_truncated():
    with SandboxRuntime({"big": tool("big", "return 'x' * 100_000")}, max_output_chars=100) as rt:
        assert rt.call("big", {}) == ToolResult("x" * 100 + "... [truncated 99900 characters]")


def test_state_mutations_persist_within_an_episode_and_reset_restores_it(runtime):
    codes = {
        "add": tool(
            "add",
            "data.setdefault('items', []).append(item)\nreturn len(data['items'])",
            "item, data",
        )
    }
    runtime.reset(codes, state={"items": ["a"]})
    assert runtime.call("add", {"item": "b"}) == ToolResult("2")
    assert runtime.call("add", {"item": "c"}) == ToolResult("3")
    assert runtime.get_state() == {"items": ["a", "b", "c"]}
    runtime.reset(state={"items": []})
    assert runtime.call("add", {"item": "z"}) == ToolResult("1")
    assert runtime.get_state() == {"items": ["z"]}


def test_a_crash_resets_the_state_to_the_start_of_the_episode_and_says_so(runtime):
    codes = {
        "add": tool("add", "data['n'] += 1\nreturn data['n']", "data"),
        "die": tool("die", "import os\nos._exit(1)", "data"),
    }
    runtime.reset(codes, state={"n": 0})
    assert runtime.call("add", {}) == ToolResult("1")
    output = runtime.call("die", {})
    assert "tool state reset to the start of the episode" in output.text and not output.ok
    assert runtime.get_state() == {"n": 0}
    assert runtime.call("add", {}) == ToolResult("1")


def test_get_state_raises_when_the_state_cannot_be_read_and_the_worker_recovers(runtime):
    codes = {
        "loop": tool("loop", "data['self'] = data\nreturn 'looped'", "data"),
        "add": tool("add", "data['n'] += 1\nreturn data['n']", "data"),
    }
    runtime.reset(codes, state={"n": 0})
    assert runtime.call("add", {}) == ToolResult("1")
    assert runtime.call("loop", {}) == ToolResult("looped")
    with pytest.raises(SandboxError, match="Circular reference.*reset to the start of the episode"):
        runtime.get_state()
    assert runtime.get_state() == {"n": 0}
    assert runtime.call("add", {}) == ToolResult("1")


def test_get_state_raises_when_the_worker_died_and_the_worker_recovers():
    codes = {"pid": tool("pid", "import os\ndata['n'] = 1\nreturn os.getpid()", "data")}
    with SandboxRuntime(codes, timeout=5, isolation="process") as rt:  # the pid is ours
        rt.reset(state={"n": 0})
        os.kill(int(rt.call("pid", {}).text), signal.SIGKILL)
        with pytest.raises(SandboxError, match=r"crashed \(exit code -9, SIGKILL\)"):
            rt.get_state()
        assert rt.get_state() == {"n": 0} and rt.restarts == 1
        assert rt.call("pid", {}).ok


def test_explicit_keyword_arguments_reach_the_function(runtime):
    runtime.reset({"get": tool("get", "return data['k']", "data")}, state={"k": "worker"})
    assert runtime.call("get", {}) == ToolResult("worker")
    assert runtime.call("get", {}, data={"k": "explicit"}) == ToolResult("explicit")


def test_get_state_is_none_without_state(runtime):
    assert runtime.get_state() is None


SABOTAGE = """
import builtins, decimal, math
builtins.sorted = lambda *args, **kwargs: ['forged']
math.pi = 3
decimal.getcontext().prec = 3
""" + tool("t", "return 'sabotaged'")
PROBE = tool(
    "p", "import decimal, math\nreturn [math.pi, sorted([2, 1]), str(decimal.Decimal(1) / 3)]"
)


def test_a_sabotage_holds_within_its_episode_but_not_into_the_next(runtime):
    runtime.reset({"t": SABOTAGE, "p": PROBE})
    assert runtime.call("t", {}) == ToolResult("sabotaged")
    assert runtime.call("p", {}) == ToolResult('[3, ["forged"], "0.333"]')
    runtime.reset()
    assert runtime.call("p", {}) == ToolResult(
        '[3.141592653589793, [1, 2], "0.3333333333333333333333333333"]'
    )


def test_each_episode_gets_a_fresh_process(runtime):
    runtime.reset({"t": "import decimal\ndecimal.getcontext().prec = 3\n" + tool("t", "return 1")})
    runtime.call("t", {})
    runtime.reset({"p": tool("p", "import decimal\nreturn decimal.getcontext().prec")})
    assert runtime.call("p", {}) == ToolResult("28")


def test_the_cpu_limit_stops_a_busy_call():
    with SandboxRuntime(
        {"spin": tool("spin", "while True:\n    pass")}, timeout=10, cpu_seconds=1
    ) as rt:
        assert failed(rt.call("spin", {}), "Error: spin exceeded the CPU limit of 1 s")


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
    rt.reset()
    rt.reset()  # from the second episode on, a standby zygote runs too
    assert rt.call("ok", {}) == FINE
    procs = [lane.proc for lane in (rt._active, rt._standby) if lane is not None]
    del rt
    assert len(procs) == 2 and all(proc.wait(timeout=5) is not None for proc in procs)


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


FALLS_THROUGH = {"import os\nos.write(1, b'noise')", "print('chatter')"}


def expected_ok(snippets: list[str]) -> bool:
    """Whether a tool made of ``snippets`` returns: the first snippet that ends it decides."""
    ending = next((s for s in snippets if s not in FALLS_THROUGH), "return None")
    return ending.startswith("return")


@pytest.mark.slow
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(snippets=st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=3))
def test_hostile_code_gets_the_right_ok_flag_and_never_breaks_the_runtime(runtime, snippets):
    output = run(runtime, "\n".join(snippets))
    assert output.ok is expected_ok(snippets), output
    assert runtime.call("ok", {}) == FINE
    runtime.reset({"ok": OK, "n": tool("n", "return {'n': len([1, 2])}")})
    assert runtime.call("n", {}) == ToolResult('{"n": 2}')


def test_a_reused_worker_still_gets_fresh_namespaces_and_state():
    counter = "count = 0\n" + tool(
        "c", "global count\ncount += 1\ndata['n'] = count\nreturn count", "data"
    )
    with SandboxRuntime({"c": counter}, fresh_worker_per_episode=False) as rt:
        rt.reset(state={})
        assert [rt.call("c", {}).text, rt.call("c", {}).text] == ["1", "2"]
        rt.reset(state={})
        assert rt.call("c", {}) == ToolResult("1") and rt.get_state() == {"n": 1}


SITECUSTOMIZE = """
import resource
_setrlimit = resource.setrlimit
def _refuse_file_size(kind, limits):
    if kind == resource.RLIMIT_FSIZE:
        raise OSError(1, "refused by the test")
    return _setrlimit(kind, limits)
resource.setrlimit = _refuse_file_size
"""


def test_a_limit_the_worker_cannot_apply_is_reported_once(tmp_path, monkeypatch):
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)  # runs in the worker at start-up
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with SandboxRuntime({"ok": OK}, isolation="process") as rt:  # "os" clears PYTHONPATH
            assert rt.limits_missing == ("RLIMIT_FSIZE",)
            rt.reset()
            assert rt.call("ok", {}) == FINE and rt.limits_missing == ("RLIMIT_FSIZE",)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "RLIMIT_FSIZE" in messages[0]


def test_no_limit_is_missing_on_a_posix_machine(runtime):
    assert runtime.limits_missing == ()
