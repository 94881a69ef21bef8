"""Noisy tool documents (RoTBench's levels): still solvable, seeded, and executed by the noisy names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toolgym  # noqa: F401 - registers the env ids
from tests.generate.generate_checks import assert_well_formed
from toolgym.error import InvalidKnob
from toolgym.evaluate import play_episode
from toolgym.ftrl import scenario_to_ftrl
from toolgym.generate import GenerateConfig, build_scenario
from toolgym.generate.noise import NOISE_LEVELS, add_noise
from toolgym.oracle import OracleAgent, format_calls
from toolgym.scenario import Scenario
from toolgym.tools.builtin import run_builtin

NOISY = NOISE_LEVELS[1:]
SEEDS = st.integers(0, 2**32 - 1)


def _pair(seed: int, noise: str, **knobs) -> tuple[Scenario, Scenario]:
    """The same draw without and with noise (noise is the last stage, so the rest is shared)."""
    clean = build_scenario(np.random.default_rng(seed), GenerateConfig(**knobs))
    noisy = build_scenario(np.random.default_rng(seed), GenerateConfig(noise=noise, **knobs))
    return clean, noisy


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, noise=st.sampled_from(NOISE_LEVELS), required=st.sampled_from([0, 0.5, 1, 2]))
def test_the_oracle_solves_every_noisy_scenario_with_a_correct_answer(seed, noise, required):
    env = gym.make("ToolGym/Scenario-v0", noise=noise, required_params=required)
    record = play_episode(env, OracleAgent(), seed=seed)
    assert record["solve_f1"] == 1.0 and record["answer_correct"] is True
    assert_well_formed(env.unwrapped.scenario)
    env.close()


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, noise=st.sampled_from(NOISY))
def test_noise_keeps_the_question_the_answers_and_the_implementations(seed, noise):
    clean, noisy = _pair(seed, noise)
    assert (noisy.question, noisy.answer) == (clean.question, clean.answer)
    assert [s.answer for s in noisy.subtasks] == [s.answer for s in clean.subtasks]
    assert [t.impl for t in noisy.tools] == [t.impl for t in clean.tools]
    assert [t.distractor for t in noisy.tools] == [t.distractor for t in clean.tools]
    for tool in noisy.tools:
        names = [tool.name, *tool.doc.parameters["properties"]]
        assert all(name.isidentifier() and name.isascii() for name in names)
    for sub_clean, sub_noisy in zip(clean.subtasks, noisy.subtasks, strict=True):
        expected = run_builtin(clean.tool(sub_clean.tool), sub_clean.call.arguments)
        assert run_builtin(noisy.tool(sub_noisy.tool), sub_noisy.call.arguments) == expected


@settings(max_examples=15, deadline=None)
@given(seed=SEEDS, noise=st.sampled_from(NOISE_LEVELS), required=st.sampled_from([0, 1.5]))
def test_the_same_seed_gives_a_byte_identical_scenario(seed, noise, required):
    config = GenerateConfig(noise=noise, required_params=required)
    first = build_scenario(np.random.default_rng(seed), config).model_dump_json()
    assert build_scenario(np.random.default_rng(seed), config).model_dump_json() == first


def test_a_noisy_scenario_is_the_same_in_another_process():
    code = ("import numpy as np; from toolgym.generate import GenerateConfig, build_scenario; "
            "print(build_scenario(np.random.default_rng(11), "
            "GenerateConfig(noise='union', required_params=1)).model_dump_json())")
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout.strip()
    here = build_scenario(np.random.default_rng(11), GenerateConfig(noise="union", required_params=1))
    assert out == here.model_dump_json()


def test_clean_noise_draws_nothing():
    rand = __import__("random").Random(0)
    clean, _ = _pair(3, "clean")
    state = rand.getstate()
    assert add_noise(clean.tools, clean.subtasks, "clean", rand) == (clean.tools, clean.subtasks)
    assert rand.getstate() == state


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS)
def test_heavy_noise_exchanges_tool_names_and_adds_an_instructed_parameter(seed):
    clean, heavy = _pair(seed, "heavy")
    before, after = [t.name for t in clean.tools], [t.name for t in heavy.tools]
    assert sorted(after) == sorted(before)  # the names are exchanged, not invented
    assert all(a != b for a, b in zip(after, before, strict=True))  # none names its function
    instructed = [(tool, name) for tool in heavy.tools for name, value in tool.context.items()
                  if f'please set it as "{value}"' in tool.doc.parameters["properties"][name]["description"]]
    assert instructed
    assert any(not tool.distractor for tool, _ in instructed)  # always one needed tool
    for tool, name in instructed:
        assert name in tool.doc.parameters["required"]
        for sub in heavy.subtasks:
            if sub.tool == tool.name:
                assert sub.call.arguments[name] == tool.context[name]


def test_heavy_noise_exchanges_parameter_names_of_a_needed_tool():
    exchanged = 0
    for seed in range(10):
        clean, heavy = _pair(seed, "heavy")
        for old, new in zip(clean.tools, heavy.tools, strict=True):
            if new.arguments_renamed and not new.distractor:
                assert set(new.arguments_renamed.values()) <= set(old.doc.parameters["properties"])
                assert set(new.arguments_renamed) <= set(old.doc.parameters["properties"])
                exchanged += 1
    assert exchanged >= 5


@pytest.mark.parametrize("noise", ["slight", "medium"])
def test_slight_and_medium_noise_rename_about_half_the_tools(noise):
    renamed = total = 0
    for seed in range(20):
        clean, noisy = _pair(seed, noise)
        for old, new in zip(clean.tools, noisy.tools, strict=True):
            total += 1
            if new.name == old.name:
                continue
            renamed += 1
            if noise == "slight":  # RoTBench: at most about a third of the characters change
                assert abs(len(new.name) - len(old.name)) <= -(-len(old.name) // 3)
            else:
                assert new.name == old.name[::-1] or re.fullmatch(r"tool\d+|[A-Za-z]{1,10}", new.name)
    assert 0.4 <= renamed / total <= 0.75


@pytest.mark.parametrize("noise", ["slight", "medium", "union"])
def test_calling_a_renamed_tool_by_its_canonical_name_is_an_unknown_tool_observation(noise):
    for seed in range(30):
        clean, _ = _pair(seed, noise)
        env = gym.make("ToolGym/Scenario-v0", noise=noise)
        env.reset(seed=seed)
        noisy = env.unwrapped.scenario
        names = {tool.name for tool in noisy.tools}
        gone = [sub for sub in clean.subtasks if sub.tool not in names]
        if gone:
            break
    assert gone, "no seed renamed a needed tool"
    observation, reward, terminated, _, info = env.step(format_calls([gone[0].call]))
    message = observation["messages"][-1]
    assert "unknown tool" in message["content"] and message["ok"] is False
    assert not terminated and info["solved"] == 0 and reward <= 0
    record = play_episode(env, OracleAgent(), seed=seed)  # the env still plays on
    assert record["solve_f1"] == 1.0


@settings(max_examples=10, deadline=None)
@given(seed=SEEDS, noise=st.sampled_from(NOISY))
def test_the_ftrl_export_of_a_noisy_scenario_replays_to_the_same_outputs(seed, noise):
    scenario = build_scenario(np.random.default_rng(seed),
                              GenerateConfig(noise=noise, required_params=1, optional_params=4))
    codes = json.loads(scenario_to_ftrl(scenario)["codes"])
    for sub in scenario.subtasks:
        namespace: dict = {}
        exec(compile(codes[sub.tool], f"<{sub.tool}>", "exec"), namespace)  # noqa: S102 - our own code
        function = namespace[sub.tool]
        tool = scenario.tool(sub.tool)
        assert function(**sub.call.arguments) == run_builtin(tool, sub.call.arguments)
        for name, value in tool.context.items():
            wrong = {**sub.call.arguments, name: f"{value}x"}
            with pytest.raises(ValueError, match=f"Wrong value .* for argument {name!r}"):
                function(**wrong)


def test_a_bad_noise_level_is_refused_with_a_suggestion():
    with pytest.raises(InvalidKnob, match="Did you mean 'heavy'"):
        GenerateConfig(noise="heavvy")
    with pytest.raises(InvalidKnob, match="clean, slight, medium, heavy, union"):
        gym.make("ToolGym/Scenario-v0", noise=3)


def test_a_single_tool_scenario_gets_a_new_name_under_heavy_noise():
    clean, heavy = _pair(0, "heavy", shapes=("single_hop",), distractors=0)
    assert len(heavy.tools) == 1 and heavy.tools[0].name != clean.tools[0].name
    env = gym.make("ToolGym/SingleHop-v0", noise="heavy", distractors=0)
    assert play_episode(env, OracleAgent(), seed=0)["solve_f1"] == 1.0
