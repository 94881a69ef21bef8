"""Difficulty levels: presets of the knobs that explicit knobs override; every level stays solvable."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from generate_checks import assert_well_formed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolgym
from toolgym.cli import main
from toolgym.error import InvalidKnob
from toolgym.evaluate import play_episode
from toolgym.generate import GenerateConfig, build_scenario, generate_suite
from toolgym.generate.difficulty import DIFFICULTY_LEVELS, difficulty_knobs, difficulty_table

LEVELS = sorted(DIFFICULTY_LEVELS)


@pytest.mark.parametrize("level", LEVELS)
def test_a_level_presets_its_knobs_and_records_the_level(level):
    config = GenerateConfig.from_kwargs(difficulty=level)
    for knob, value in DIFFICULTY_LEVELS[level].items():
        assert getattr(config, knob) == value, knob
    assert config.difficulty == level and config.to_dict()["difficulty"] == level
    assert GenerateConfig.from_kwargs(**config.to_dict()) == config


def test_an_explicit_knob_wins_over_the_preset_even_at_its_default_value():
    config = GenerateConfig.from_kwargs(difficulty=1, distractors=4, shapes=["multi_hop"])
    assert config.distractors == 4 and config.shapes == ("multi_hop",)
    assert config.optional_params == DIFFICULTY_LEVELS[1]["optional_params"]


def test_levels_grow_harder():
    def figures(level):
        suite = generate_suite(40, 0, GenerateConfig.from_kwargs(difficulty=level))
        tools = np.mean([len(s.tools) for s in suite])
        params = np.mean([len(t.doc.parameters["properties"]) for s in suite for t in s.tools])
        return tools, params, np.mean([len(s.subtasks) for s in suite])

    rows = [figures(level) for level in LEVELS]
    for easier, harder in zip(rows, rows[1:], strict=False):
        assert harder[0] > easier[0] and harder[1] > easier[1], (easier, harder)  # tools, parameters
    assert rows[0][2] < rows[1][2] < rows[2][2] < rows[4][2]  # hops
    level_1 = generate_suite(20, 0, GenerateConfig.from_kwargs(difficulty=1))
    assert all(s.shape == "single_hop" and len(s.tools) == 1 for s in level_1)


@pytest.mark.parametrize("level", [0, 6, True, "3", 2.0])
def test_a_bad_level_raises_with_the_range(level):
    with pytest.raises(InvalidKnob, match=r"difficulty must be an integer from 1 .* to 5"):
        GenerateConfig.from_kwargs(difficulty=level)


def test_building_a_config_with_a_level_directly_says_to_use_from_kwargs():
    with pytest.raises(InvalidKnob, match=r"from_kwargs\(difficulty=2"):
        GenerateConfig(difficulty=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), level=st.sampled_from(LEVELS))
def test_every_level_gives_well_formed_scenarios_the_oracle_solves(seed, level):
    config = GenerateConfig.from_kwargs(difficulty=level)
    scenario = build_scenario(np.random.default_rng(seed), config)
    assert_well_formed(scenario)
    assert scenario.meta["knobs"]["difficulty"] == level
    env = gym.make("ToolGym/Suite-v0", scenarios=[scenario])
    record = play_episode(env, toolgym.OracleAgent(), options={"index": 0})
    assert record["solve_f1"] == 1.0 and record["answer_correct"]


def test_gym_make_takes_a_level_and_registered_ids_keep_their_shape():
    env = gym.make("ToolGym/SingleHop-v0", difficulty=5)
    env.reset(seed=0)
    assert env.unwrapped.scenario.shape == "single_hop"
    assert len(env.unwrapped.scenario.tools) == 1 + difficulty_knobs(5)["distractors"]


def test_the_generate_command_takes_a_level(tmp_path):
    path = tmp_path / "easy.jsonl"
    assert main(["generate", "--n", "3", "-o", str(path), "--difficulty", "1", "--distractors", "1"]) == 0
    suite = toolgym.load_suite(path)
    assert all(s.shape == "single_hop" and len(s.tools) == 2 for s in suite)


def test_the_table_documents_every_level_and_knob():
    table = difficulty_table()
    for knob in DIFFICULTY_LEVELS[5]:
        assert f"`{knob}`" in table
    assert table.splitlines()[0] == "| knob | " + " | ".join(map(str, LEVELS)) + " |"


def test_the_readme_shows_the_table_as_the_code_has_it():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert difficulty_table() in readme


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), level=st.sampled_from(LEVELS),
       kind=st.sampled_from(("sum", "difference", "comparison", "ordering", "list", "date_difference",
                             "unit_conversion")),
       noise=st.sampled_from(("clean", "slight", "medium", "heavy", "union")))
def test_the_oracle_solves_any_level_kind_and_noise(seed, level, kind, noise):
    knobs = {"difficulty": level, "question_kinds": (kind,), "noise": noise,
             "shapes": ("parallel_single_hop", "parallel_multi_hop")}
    if level <= 2:  # the core types hold no dates: levels 1-2 keep to them
        knobs["domains"] = None
    config = GenerateConfig.from_kwargs(**knobs)
    first = build_scenario(np.random.default_rng(seed), config)
    assert build_scenario(np.random.default_rng(seed), config).model_dump_json() == first.model_dump_json()
    assert_well_formed(first)
    env = gym.make("ToolGym/Suite-v0", scenarios=[first])
    record = play_episode(env, toolgym.oracle.OracleAgent(env), options={"index": 0})
    assert record["solve_f1"] == 1.0 and record["answer_correct"], (level, kind, noise)
