"""Noise in stateful worlds: RoTBench's levels on source tools, still solvable, the same target state."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toolgym  # noqa: F401  (registers the ids)
from toolgym.cli import main
from toolgym.error import InvalidKnob
from toolgym.evaluate import play_episode
from toolgym.generate.noise import NOISE_LEVELS, Renaming, noise_tools
from toolgym.generate.stateful import (
    DOMAINS,
    StatefulConfig,
    build_stateful_scenario,
    generate_stateful_suite,
)
from toolgym.generate.stateful.export import export_stateful_suite
from toolgym.oracle import OracleAgent, format_calls
from toolgym.scenario import Scenario, Tool, ToolCall
from toolgym.stateful import fresh_state, gold_hash, replay, state_hash
from toolgym.suites import load_suite

SMALL = {"records": 30, "distractors": 2}
NOISY = NOISE_LEVELS[1:]
INSTRUCTED = "Whenever you use this parameter, please set it as"


@pytest.fixture(scope="module")
def env():
    env = gym.make("ToolGym/Stateful-v0", **SMALL)
    yield env
    env.close()


def _pair(seed: int, noise: str, **knobs) -> tuple[Scenario, Scenario]:
    """The same world without and with noise (noise draws last, so the rest is shared)."""
    knobs = {**SMALL, **knobs}
    clean = build_stateful_scenario(np.random.default_rng(seed), StatefulConfig(**knobs))
    return clean, build_stateful_scenario(np.random.default_rng(seed), StatefulConfig(noise=noise, **knobs))


def _instructed(tool: Tool) -> dict[str, str]:
    """Heavy noise's new required argument of a tool and the value its description asks for."""
    return {name: schema["description"].split('"')[1]
            for name, schema in tool.doc.parameters["properties"].items()
            if schema.get("description", "").startswith(INSTRUCTED)}


def _step(env, call: ToolCall) -> dict:
    observation, *_ = env.step(format_calls([call]))
    return observation["messages"][-1]


def _function(tool: Tool):
    """The function the sandbox would call for ``tool``: the code's function of the tool's name."""
    namespace: dict = {}
    exec(compile(tool.impl.code, f"<{tool.name}>", "exec"), namespace)  # noqa: S102 - our own code
    return namespace


@settings(max_examples=24, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), domain=st.sampled_from(sorted(DOMAINS)),
       noise=st.sampled_from(NOISE_LEVELS), strictness=st.sampled_from(("lenient", "strict")))
def test_the_oracle_passes_every_noisy_goal_which_keeps_the_clean_target(env, seed, domain, noise, strictness):
    clean, noisy = _pair(seed, noise, domains=(domain,), strictness=strictness)
    result = play_episode(env, OracleAgent(env), options={"scenario": noisy})
    assert result["passed"] is True, result
    assert noisy.task.target_hash == clean.task.target_hash and noisy.task.data == clean.task.data
    assert (noisy.question, noisy.task.outputs, noisy.meta["facts"], noisy.meta["questions"]) == (
        clean.question, clean.task.outputs, clean.meta["facts"], clean.meta["questions"])
    assert [t.doc.description for t in noisy.tools] == [t.doc.description for t in clean.tools]
    for old, new in zip(clean.task.actions, noisy.task.actions, strict=True):
        extra = [new.arguments[name] for name in _instructed(noisy.tool(new.name))]
        assert sorted(map(str, new.arguments.values())) == sorted(map(str, [*old.arguments.values(), *extra]))
    assert all(not t.arguments_renamed and not t.context for t in noisy.tools)  # the code does the work


def test_noisy_worlds_are_the_same_bytes_in_another_process():
    config = "StatefulConfig(noise='union', records=30)"
    code = ("from toolgym.generate.stateful import StatefulConfig, generate_stateful_suite as g; import json; "
            f"print(json.dumps([s.model_dump_json() for s in g(4, seed=11, config={config})]))")
    there = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True).stdout)
    here = [s.model_dump_json() for s in generate_stateful_suite(4, seed=11, config=StatefulConfig(
        noise="union", records=30))]
    assert here == there
    assert here != [s.model_dump_json() for s in generate_stateful_suite(4, seed=11, config=StatefulConfig(records=30))]


def test_clean_noise_draws_nothing_and_keeps_the_worlds_bytes():
    default = generate_stateful_suite(3, seed=4)
    assert [s.model_dump_json() for s in generate_stateful_suite(3, seed=4, config=StatefulConfig(noise="clean"))] == [
        s.model_dump_json() for s in default]
    assert "noise" not in default[0].meta["knobs"]  # worlds built before the knob keep their bytes
    assert _pair(0, "slight")[1].meta["knobs"]["noise"] == "slight"
    rand = random.Random(0)
    state = rand.getstate()
    assert noise_tools(default[0].tools, "clean", rand) == (default[0].tools, Renaming())
    assert rand.getstate() == state


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), domain=st.sampled_from(sorted(DOMAINS)))
def test_heavy_noise_names_every_tool_after_another_function(seed, domain):
    clean, heavy = _pair(seed, "heavy", domains=(domain,))
    assert sorted(t.name for t in heavy.tools) == sorted(t.name for t in clean.tools)
    for old, new in zip(clean.tools, heavy.tools, strict=True):
        assert new.name != old.name and new.impl.code.startswith(old.impl.code.rstrip("\n"))
        namespace = _function(new)
        assert namespace[new.name].__code__.co_name == new.name  # the wrapper
        assert namespace[old.name].__name__ == old.name and namespace[old.name] is not namespace[new.name]
    assert any(_instructed(t) and not t.distractor for t in heavy.tools)


def _heavy_write(seed_range: range) -> tuple[Scenario, ToolCall, str]:
    """A heavy-noise world whose gold write's tool has an instructed argument, the write and the argument."""
    for seed in seed_range:
        _, heavy = _pair(seed, "heavy", shapes=("single_write",), strictness="lenient")
        write = heavy.task.actions[-1]
        instructed = _instructed(heavy.tool(write.name))
        if instructed:
            return heavy, write, next(iter(instructed))
    raise AssertionError("no seed gave the gold write an instructed argument")


def test_a_wrong_or_missing_instructed_value_is_refused_with_its_description_and_changes_nothing(env):
    heavy, write, name = _heavy_write(range(40))
    value = write.arguments[name]
    env.reset(options={"scenario": heavy})
    start = fresh_state(heavy.task)
    message = _step(env, write.model_copy(update={"arguments": {**write.arguments, name: value + "x"}}))
    assert message["ok"] is False
    assert f"Wrong value {value + 'x'!r} for argument {name!r}. Its description says: {INSTRUCTED} \"{value}\"." \
        in message["content"]
    assert env.unwrapped._runner.get_state() == start
    missing = {k: v for k, v in write.arguments.items() if k != name}
    message = _step(env, write.model_copy(update={"arguments": missing}))
    assert message["ok"] is False and repr(name) in message["content"]  # the schema names it
    assert env.unwrapped._runner.get_state() == start
    with pytest.raises(ValueError, match=f"Missing required argument {name!r}. Its description says: {INSTRUCTED}"):
        _function(heavy.tool(write.name))[write.name](data=fresh_state(heavy.task), **missing)
    assert _step(env, write)["ok"] is True  # the right value reaches the write
    assert state_hash(env.unwrapped._runner.get_state()) == heavy.task.target_hash


@pytest.mark.parametrize("noise", ["slight", "medium", "union"])
def test_calling_a_renamed_tool_by_its_original_name_is_an_unknown_tool_observation(env, noise):
    for seed in range(30):
        clean, noisy = _pair(seed, noise)
        names = {tool.name for tool in noisy.tools}
        gone = [call for call in clean.task.actions if call.name not in names]
        if gone:
            break
    assert gone, "no seed renamed a needed tool"
    env.reset(options={"scenario": noisy})
    message = _step(env, gone[0])
    assert message["ok"] is False and "unknown tool" in message["content"]
    assert env.unwrapped._runner.get_state() == fresh_state(noisy.task)
    assert play_episode(env, OracleAgent(env), options={"scenario": noisy})["passed"] is True


def test_the_policy_and_the_refusals_name_the_noisy_tools_and_arguments(env):
    clean, heavy = _pair(1, "heavy", domains=("shop",), shapes=("single_write",), strictness="strict")
    identity = heavy.tools[[t.name for t in clean.tools].index("find_user_id_by_email")].name
    owner = clean.task.actions[-1].arguments["user_id"]
    write = heavy.task.actions[-1]
    user_arg = next(k for k, v in write.arguments.items() if v == owner)
    assert "user_id (named " in heavy.messages[0]["content"]
    assert f"{user_arg} in {write.name}" in heavy.messages[0]["content"]
    env.reset(options={"scenario": heavy})
    message = _step(env, write.model_copy(update={"arguments": {**write.arguments, user_arg: "U9999"}}))
    assert message["ok"] is False and env.unwrapped._runner.get_state() == fresh_state(heavy.task)
    assert f"look the user up ({identity}) and pass the {user_arg} that owns" in message["content"]


@pytest.mark.parametrize("noise", ["slight", "heavy", "union"])
def test_export_reload_and_replay_keep_the_hashes_under_noise(tmp_path, noise):
    suite = generate_stateful_suite(4, seed=2, config=StatefulConfig(noise=noise, records=30))
    path = export_stateful_suite(suite, tmp_path)
    loaded = load_suite(path)
    for built, back in zip(suite, loaded, strict=True):
        assert [t.name for t in back.tools] == [t.name for t in built.tools]
        assert back.task.actions == built.task.actions
        assert gold_hash(back.task) == built.task.target_hash  # replayed from codes.json
        codes = {t.name: t.impl.code for t in built.tools}
        assert state_hash(replay(built.task, built.task.actions, codes=codes)) == built.task.target_hash


def test_toolgym_eval_replays_an_exported_heavy_suite_with_the_oracle(tmp_path, capsys):
    suite = generate_stateful_suite(3, seed=6, config=StatefulConfig(noise="heavy", strictness="strict", records=30))
    path = export_stateful_suite(suite, tmp_path / "export")
    capsys.readouterr()
    assert main(["eval", "--suite", str(path), "--agent", "oracle", "--json", "--no-progress"]) == 0
    overall = json.loads(capsys.readouterr().out)["overall"]
    assert overall["pass_rate"] == 1.0 and overall["episodes"] == 3, overall


def test_a_bad_noise_level_is_refused_with_a_suggestion():
    with pytest.raises(InvalidKnob, match="Did you mean 'heavy'"):
        StatefulConfig(noise="heavvy")
    with pytest.raises(InvalidKnob, match="clean, slight, medium, heavy, union"):
        gym.make("ToolGym/Stateful-v0", noise=3)
