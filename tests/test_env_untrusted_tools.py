"""Tools given as source run sandboxed: a tool that raises, hangs or crashes costs one call."""

import json

import gymnasium as gym
import pytest

import toolgym  # noqa: F401
from toolgym.error import InvalidKnob
from toolgym.scenario import Scenario, SourceImpl, SubTask, Tool, ToolDoc

CODES = {
    "lookup": "def lookup(city):\n    return {'city': city, 'mayor': 'Ada Moss'}\n",
    "raises": "def raises(city):\n    raise KeyError(city)\n",
    "hangs": "def hangs(city):\n    while True:\n        pass\n",
    "crashes": "import os\ndef crashes(city):\n    os._exit(3)\n",
}


def scenario() -> Scenario:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tools = tuple(
        Tool(doc=ToolDoc(name=name, description=name, parameters=schema), impl=SourceImpl(code=code))
        for name, code in CODES.items()
    )
    return Scenario(
        id="untrusted", shape="test", question="Who is the mayor of Lyon?",
        messages=({"role": "user", "content": "Who is the mayor of Lyon?"},), tools=tools,
        subtasks=(SubTask(tool="lookup", answer="Ada Moss"),), answer="Ada Moss",
    )


def call(name: str) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": {"city": "Lyon"}}) + "</tool_call>"


@pytest.fixture
def env():
    env = gym.make("ToolGym/Suite-v0", scenarios=[scenario()], sandbox={"timeout": 1.0})
    env.reset(seed=0)
    yield env
    env.close()


@pytest.mark.parametrize(("tool", "says"), [("raises", "KeyError"), ("hangs", "timed out"), ("crashes", "crashed")])
def test_a_failing_tool_costs_one_call_and_the_episode_goes_on(env, tool, says):
    obs, reward, terminated, _, _ = env.step(call(tool))
    assert says in obs["messages"][-1]["content"] and reward == 0.0 and not terminated
    obs, reward, terminated, _, info = env.step(call("lookup"))
    assert "Ada Moss" in obs["messages"][-1]["content"] and reward == 1.0
    *_, info = env.step("<answer>Ada Moss</answer>")
    assert info["answer_correct"] and info["solve_rate"] == 1.0


def test_a_failing_and_a_good_call_in_one_turn_score_together(env):
    obs, reward, *_ = env.step(call("crashes") + call("lookup"))
    assert reward == pytest.approx(2 * 1 / 3)
    assert "Ada Moss" in obs["messages"][-1]["content"]


@pytest.mark.parametrize("isolation", ["process", "auto"])
def test_the_sandbox_isolation_is_an_env_option(isolation):
    env = gym.make("ToolGym/Suite-v0", scenarios=[scenario()], sandbox={"isolation": isolation})
    try:
        env.reset(seed=0)
        obs, reward, *_ = env.step(call("lookup"))
        assert "Ada Moss" in obs["messages"][-1]["content"] and reward == 1.0
    finally:
        env.close()


def test_an_unknown_sandbox_isolation_raises_with_a_fix():
    with pytest.raises(InvalidKnob, match="Did you mean 'os'"):
        env = gym.make("ToolGym/Suite-v0", scenarios=[scenario()], sandbox={"isolation": "oss"})
        env.reset(seed=0)
