"""Reusing a sandbox worker across episodes only when its code provably left nothing behind."""

from __future__ import annotations

import ast
import textwrap
import time

import pytest
from sandbox_params import ISOLATIONS, POSIX_ONLY

from toolgym.tools._sandbox_worker import _PREIMPORTS, leaves_no_trace
from toolgym.tools.result import ToolResult
from toolgym.tools.sandbox import SandboxRuntime

pytestmark = POSIX_ONLY

for _module in _PREIMPORTS:  # as in a zygote, where the check runs
    __import__(_module)


def tool(name: str, body: str, params: str = "", head: str = "") -> str:
    return head + f"def {name}({params}):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"


def passes(source: str) -> bool:
    return leaves_no_trace(ast.parse(textwrap.dedent(source)))


TYPICAL = [
    # the shapes of FTRL's tools: dates, regexes, JSON, math, classes of their own, module data
    """
    from datetime import datetime, timedelta
    import re, json
    RATES = {"usd": 1.0, "eur": 0.9}
    def convert(amount: float, currency: str = "usd") -> dict:
        if not re.match(r"^[a-z]{3}$", currency):
            return {"error": "bad currency"}
        try:
            day = datetime.strptime("2024-01-01", "%Y-%m-%d") + timedelta(days=1)
        except (ValueError, json.JSONDecodeError) as error:
            return {"error": str(error)}
        RATES["last"] = currency
        return {"value": round(amount * RATES[currency], 2), "day": day.isoformat()}
    """,
    """
    import math, calendar, random
    from typing import List, Optional
    class Stats:
        def __init__(self, values: List[float]):
            self.values = values
            self.total = sum(values)
        def mean(self) -> Optional[float]:
            return self.total / len(self.values) if self.values else None
    def stats(values: list, seed: int = 0) -> dict:
        s = Stats(values)
        months = [m for m in calendar.month_name if m]
        return {"mean": s.mean(), "pi": math.pi, "month": months[0], "pick": random.choice(values),
                "is_list": isinstance(values, list), "utc": str(datetime_now())}
    def datetime_now():
        import datetime
        return datetime.datetime.now(datetime.timezone.utc)
    """,
    """
    import decimal
    def money(x: str):
        return str(decimal.Decimal(x).quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP))
    """,
]

LEAKY = {
    "a non-standard module": "import os\ndef f():\n    return os.getcwd()",
    "a module attribute written": "import json\ndef f():\n    json.x = 1",
    "a module aliased": "import json\ndef f():\n    m = json\n    m.x = 1",
    "a module handed to a function": "import json\ndef g(m):\n    pass\ndef f():\n    g(json)",
    "a class attribute written": "import json\ndef f():\n    json.JSONEncoder.item_separator = ';'",
    "a class imported and written": "from json import JSONEncoder\ndef f():\n    JSONEncoder.x = 1",
    "a mutable module object": "import json\ndef f():\n    d = json.decoder.BACKSLASH\n    d['x'] = 1",
    "a module object's item written": "import json\ndef f():\n    json.decoder.BACKSLASH['x'] = 1",
    "a shared object's method": "import calendar\ndef f():\n    calendar.setfirstweekday(3)",
    "a call result written": "import decimal\ndef f():\n    decimal.getcontext().prec = 3",
    "a private attribute": "import re\ndef f():\n    re._cache.clear()",
    "a dunder attribute": "def f():\n    return ().__class__.__base__.__subclasses__()",
    "builtins": "def f():\n    __builtins__['len'] = None",
    "getattr": "import json\ndef f():\n    return getattr(json, 'dumps')",
    "setattr": "import json\ndef f():\n    setattr(json, 'x', 1)",
    "vars": "import json\ndef f():\n    vars(json)['x'] = 1",
    "globals": "def f():\n    return globals()",
    "eval": "def f():\n    return eval('1')",
    "exec": "def f():\n    exec('x = 1')",
    "__import__": "def f():\n    return __import__('os')",
    "a star import": "from math import *\ndef f():\n    return pi",
    "a relative import": "from . import x\ndef f():\n    return x",
    "a finalizer": "class A:\n    def __del__(self):\n        pass\ndef f():\n    return A()",
    "operator": "import operator\ndef f():\n    return operator.attrgetter('x')",
    "open": "def f():\n    return open('/etc/hostname').read()",
}


@pytest.mark.parametrize("source", TYPICAL)
def test_typical_tools_leave_no_trace(source):
    assert passes(source)


@pytest.mark.parametrize("source", list(LEAKY.values()), ids=list(LEAKY))
def test_code_that_may_change_its_process_does_not_pass(source):
    assert not passes(source)


def test_a_name_the_tool_binds_itself_is_its_own():
    assert passes("def f(open=None, getattr=len):\n    return open, getattr('ab')")
    assert passes("def f():\n    eval = lambda s: s\n    return eval('1')")


COUNTER = "count = [0]\n" + tool("c", "count[0] += 1\ndata['n'] = count[0]\nreturn count[0]", "data")
DRAW = tool("draw", "return [random.random(), random.randint(1, 10**9)]", head="import random\n")
RESEED = tool("reseed", "random.seed(7)\nreturn random.random()", head="import random\n")
TRAPS = tool("traps", "decimal.getcontext().clear_traps()\nreturn 'cleared'", head="import decimal\n")
DIVIDE = tool("divide", "return str(decimal.Decimal(1) / decimal.Decimal(0))", head="import decimal\n")


@pytest.fixture(params=ISOLATIONS)
def runtime(request):
    codes = {"c": COUNTER, "draw": DRAW, "reseed": RESEED, "traps": TRAPS, "divide": DIVIDE}
    with SandboxRuntime(codes, timeout=5.0, memory_mb=256, isolation=request.param) as rt:
        yield rt


def test_a_clean_worker_takes_the_next_episode_with_fresh_namespaces_and_state(runtime):
    for episode in range(3):
        runtime.reset(state={})
        assert [runtime.call("c", {}).text, runtime.call("c", {}).text] == ["1", "2"]
        assert runtime.get_state() == {"n": 2}
    assert runtime.workers_reused == 2


def test_a_reused_worker_draws_the_numbers_a_fresh_one_would(runtime):
    runtime.reset()
    first = runtime.call("draw", {})
    runtime.call("reseed", {})  # changes random's state, which the next episode must not see
    runtime.reset()
    assert runtime.call("draw", {}) == first  # as a worker forked from the same zygote
    assert runtime.workers_reused == 1


def test_a_reused_worker_starts_with_the_default_decimal_context(runtime):
    runtime.reset()
    assert runtime.call("traps", {}) == ToolResult("cleared")
    assert runtime.call("divide", {}) == ToolResult("Infinity")  # no trap within the episode
    runtime.reset()
    result = runtime.call("divide", {})
    assert not result.ok and "DivisionByZero" in result.text
    assert runtime.workers_reused == 1


PROBE = tool("probe", "return [hasattr(json, 'x'), math.pi, sorted([2, 1])]", head="import json, math\n")


@pytest.mark.parametrize(
    "sabotage",
    [
        "import json\njson.x = 1",
        "import math\nmath.pi = 3",
        "import builtins\nbuiltins.sorted = lambda *a, **k: ['forged']",
        "import json\nsetattr(json, 'x', 1)",
        "import json\nvars(json)['x'] = 1",
        "import json\nm = json\nm.x = 1",
        "g = globals()\ng['__builtins__']['sorted'] = lambda *a, **k: ['forged']",
    ],
)
def test_a_worker_whose_code_changed_its_process_is_replaced(sabotage, runtime):
    runtime.reset({"s": sabotage + "\n" + tool("s", "return 'done'"), "probe": PROBE})
    assert runtime.call("s", {}) == ToolResult("done")
    runtime.reset()
    assert runtime.call("probe", {}) == ToolResult("[false, 3.141592653589793, [1, 2]]")
    assert runtime.workers_reused == 0


def test_an_unforeseen_import_keeps_the_worker_from_being_reused(runtime):
    runtime.reset({"idna": tool("idna", "return 'x'.encode('idna').decode()")})  # imports encodings.idna
    assert runtime.call("idna", {}) == ToolResult("x")
    runtime.reset()
    assert runtime.call("idna", {}) == ToolResult("x")
    assert runtime.workers_reused == 0


def test_reuse_can_be_turned_off():
    with SandboxRuntime({"c": COUNTER}, reuse_clean_workers=False, isolation="process") as rt:
        for _ in range(2):
            rt.reset(state={})
            assert rt.call("c", {}) == ToolResult("1")
        assert rt.workers_reused == 0


def wait_for_standby(runtime: SandboxRuntime) -> None:
    deadline = time.monotonic() + 30
    while not (runtime._standby is not None and runtime._standby.ready()):
        assert time.monotonic() < deadline, "the standby zygote did not come up"
        time.sleep(0.01)


PI = tool("pi", "return math.pi", head="import math\n")


def test_an_episode_whose_code_leaves_traces_runs_aside_and_the_clean_worker_waits(runtime):
    clean = {"c": COUNTER, "pi": PI}
    leaky = {"s": "import math\nmath.pi = 3\n" + tool("s", "return math.pi")}
    assert passes(PI) and not passes(leaky["s"])
    runtime.reset(clean, state={})
    assert runtime.call("c", {}) == ToolResult("1")
    runtime.reset(leaky)  # not known to leave traces yet: runs in the clean worker, then replaced
    assert runtime.call("s", {}) == ToolResult("3")
    runtime.reset(clean, state={})
    assert runtime.call("pi", {}) == ToolResult("3.141592653589793")
    wait_for_standby(runtime)
    reused = runtime.workers_reused
    runtime.reset(leaky)  # known now: the standby's fresh worker takes it
    assert runtime.call("s", {}) == ToolResult("3")
    assert runtime.episodes_aside == 1
    waiting = runtime._standby.worker_pid
    runtime.reset(leaky)  # again: a fresh worker in place of the leaky one; the clean one waits on
    assert runtime.call("s", {}) == ToolResult("3")
    assert runtime.workers_reused == reused and runtime._standby.worker_pid == waiting
    for episode in range(2):  # the worker that waited takes the clean episodes, without the sabotage
        runtime.reset(clean, state={})
        assert runtime.call("pi", {}) == ToolResult("3.141592653589793")
        assert runtime.call("c", {}) == ToolResult("1")
        assert runtime.workers_reused == reused + 1 + episode
        assert runtime._active.worker_pid == waiting
