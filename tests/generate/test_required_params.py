"""Required context parameters (FTRL's parameter expansion): determined by the docs, checked, additive."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toolgym  # noqa: F401 - registers the env ids
from tests.generate.generate_checks import assert_well_formed
from toolgym.error import InvalidKnob, ToolError
from toolgym.evaluate import play_episode
from toolgym.generate import GenerateConfig, build_scenario
from toolgym.generate.scaling import CONTEXT_PARAMS
from toolgym.oracle import OracleAgent, format_calls
from toolgym.scenario import LookupImpl, Scenario, SubTask, Tool
from toolgym.tools.builtin import run_builtin

SEEDS = st.integers(0, 2**32 - 1)


def _build(seed: int, required: float, **knobs) -> Scenario:
    return build_scenario(np.random.default_rng(seed), GenerateConfig(required_params=required, **knobs))


def _without_context(tool: Tool) -> Tool:
    parameters = tool.doc.parameters
    properties = {k: v for k, v in parameters["properties"].items() if k not in tool.context}
    required = [k for k in parameters["required"] if k not in tool.context]
    order = list(tool.doc.parameters["properties"])  # context sits right after the required ones
    assert order[: len(required)] == required or not tool.context
    doc = tool.doc.model_copy(update={"parameters": {**parameters, "properties": properties,
                                                     "required": required}})
    return Tool(doc=doc, impl=tool.impl, distractor=tool.distractor)


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, required=st.sampled_from([1, 2, 3]))
def test_every_lookup_tool_gets_that_many_required_parameters_and_nothing_else_changes(seed, required):
    plain, rich = _build(seed, 0), _build(seed, required)
    assert (rich.question, rich.answer) == (plain.question, plain.answer)
    assert [_without_context(t) for t in rich.tools] == list(plain.tools)
    for tool in rich.tools:
        expected = required if isinstance(tool.impl, LookupImpl) else 0
        assert len(tool.context) == expected
        assert set(tool.context) <= set(CONTEXT_PARAMS)
        assert set(tool.context) <= set(tool.doc.parameters["required"])
    for sub, old in zip(rich.subtasks, plain.subtasks, strict=True):
        context = rich.tool(sub.tool).context
        assert sub.call.arguments == {**old.call.arguments, **context}
    assert_well_formed(rich)


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS)
def test_each_context_value_is_named_by_its_description_or_is_the_entity_type(seed):
    scenario = _build(seed, 3)
    for tool in scenario.tools:
        for name, value in tool.context.items():
            schema = tool.doc.parameters["properties"][name]
            assert f"'{value}'" in schema["description"] or (
                name == "category" and value == tool.impl.entity and value in schema["enum"])
            if "enum" in schema:
                assert value in schema["enum"] and len(schema["enum"]) >= 2


def test_a_fractional_rate_gives_some_tools_one_more():
    counts = [len(tool.context) for seed in range(20) for tool in _build(seed, 0.5).tools
              if isinstance(tool.impl, LookupImpl)]
    assert set(counts) == {0, 1}
    assert 0.35 <= sum(counts) / len(counts) <= 0.65


def _wrong(tool: Tool, sub: SubTask) -> tuple[str, dict]:
    """A call with one context argument valid for the schema but not the value the tool needs."""
    name = next(iter(tool.context))
    schema = tool.doc.parameters["properties"][name]
    value = tool.context[name]
    wrong = next(v for v in schema["enum"] if v != value) if "enum" in schema else f"{value}-old"
    return name, {**sub.call.arguments, name: wrong}


@pytest.mark.parametrize("noise", ["clean", "heavy"])
def test_a_wrong_context_value_gets_a_helpful_error_and_no_credit(noise):
    env = gym.make("ToolGym/Scenario-v0", required_params=1, noise=noise)
    env.reset(seed=4)
    scenario = env.unwrapped.scenario
    sub = next(s for s in scenario.subtasks if scenario.tool(s.tool).context and not s.depends_on)
    tool = scenario.tool(sub.tool)
    name, arguments = _wrong(tool, sub)
    call = sub.call.model_copy(update={"arguments": arguments})
    observation, reward, _, _, info = env.step(format_calls([call]))
    message = observation["messages"][-1]
    assert message["ok"] is False
    assert f"Wrong value {arguments[name]!r} for argument {name!r}" in message["content"]
    assert tool.doc.parameters["properties"][name]["description"] in message["content"]
    assert info["solved"] == 0 and reward <= 0
    assert play_episode(env, OracleAgent(), seed=4)["solve_f1"] == 1.0


def test_a_missing_context_value_names_the_argument():
    scenario = _build(2, 1)
    sub = next(s for s in scenario.subtasks if scenario.tool(s.tool).context)
    tool = scenario.tool(sub.tool)
    name = next(iter(tool.context))
    arguments = {k: v for k, v in sub.call.arguments.items() if k != name}
    with pytest.raises(ToolError, match=f"Missing required argument {name!r}"):
        run_builtin(tool, arguments)


@pytest.mark.parametrize("value", [-0.5, 5.5, True, "1", None])
def test_a_bad_required_params_knob_is_refused(value):
    with pytest.raises(InvalidKnob, match="required_params must be a number from 0 to 5"):
        GenerateConfig(required_params=value)


def test_a_tool_whose_context_names_no_argument_is_refused():
    tool = _build(1, 1).tools[0]
    with pytest.raises(ValueError, match="does not define"):
        Tool(doc=tool.doc, impl=tool.impl, context={"nope": "x"})
