"""The optional LLM stage: rewrites that keep the facts replace the templates, cached by scenario id."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from openai_stub import StubOpenAI, text

import toolgym
from toolgym.error import InvalidKnob
from toolgym.evaluate import play_episode
from toolgym.generate import GenerateConfig, build_scenario, generate_suite
from toolgym.generate.paraphrase import QUESTION_PROMPT, TOOL_PROMPT, keeps_facts, needed_entities


def polite(body: dict) -> dict:
    """A model that rephrases: questions get a polite opening, tool descriptions a prefix."""
    system, said = body["messages"][0]["content"], body["messages"][-1]["content"]
    if system == QUESTION_PROMPT:
        return text(f"Rewritten question: Please tell me, {said[0].lower()}{said[1:]}")
    assert system == TOOL_PROMPT
    return text(f"In short: {said}")


def knobs(server: StubOpenAI, cache, **more) -> GenerateConfig:
    return GenerateConfig.from_kwargs(paraphrase="openai:stub-model", paraphrase_base_url=server.url,
                                      paraphrase_cache=str(cache), **more)


def test_a_rewrite_that_keeps_the_entities_replaces_the_question_and_the_oracle_still_solves(tmp_path):
    with StubOpenAI(polite) as server:
        suite = generate_suite(6, 0, knobs(server, tmp_path))
    templates = generate_suite(6, 0)
    for scenario, template in zip(suite, templates, strict=True):
        assert scenario.question == "Please tell me, " + template.question[0].lower() + template.question[1:]
        assert scenario.messages[-1]["content"] == scenario.question
        assert scenario.meta["paraphrase"] == {"model": "openai:stub-model", "question": True,
                                               "original_question": template.question, "tools": 0}
        assert scenario.tools == template.tools and scenario.subtasks == template.subtasks
    env = gym.make("ToolGym/Suite-v0", scenarios=suite)
    for index in range(len(suite)):
        record = play_episode(env, toolgym.OracleAgent(), options={"index": index})
        assert record["solve_f1"] == 1.0 and record["answer_correct"]


@pytest.mark.parametrize("reply", [
    "What is it about?",  # drops the entities
    "",  # empty
])
def test_a_rewrite_that_loses_an_entity_leaves_the_template(tmp_path, reply):
    with StubOpenAI(lambda body: text(reply)) as server:
        scenario = build_scenario(np.random.default_rng(3), knobs(server, tmp_path), scenario_id="s3")
    template = build_scenario(np.random.default_rng(3), scenario_id="s3")
    assert needed_entities(template)
    assert scenario.question == template.question and scenario.meta["paraphrase"]["question"] is False


def test_a_rewrite_that_reveals_a_sub_answer_is_refused(tmp_path):
    template = build_scenario(np.random.default_rng(4), scenario_id="s4")
    leak = f"{template.question} (It is {template.subtasks[0].answer}.)"
    with StubOpenAI(lambda body: text(leak)) as server:
        scenario = build_scenario(np.random.default_rng(4), knobs(server, tmp_path), scenario_id="s4")
    assert scenario.question == template.question and not scenario.meta["paraphrase"]["question"]
    assert keeps_facts("Who directed 'Blue Dawn'?", "Who directed Blue Dawn, Ann Lee?", ["Blue Dawn"]) is True
    assert keeps_facts("Who directed 'Blue Dawn'?", "Who directed Blue Dawn, Ann Lee?", ["Blue Dawn"], ["Ann Lee"]) is False


def test_rewrites_come_from_the_cache_so_a_suite_rebuilds_byte_identical_without_the_model(tmp_path):
    with StubOpenAI(polite) as server:
        config = knobs(server, tmp_path)
        first = generate_suite(4, 1, config)
        asked = len(server.requests)
        again = generate_suite(4, 1, config)
        assert len(server.requests) == asked == 4  # one question each, then all from the cache
    offline = generate_suite(4, 1, config)  # the server is gone
    assert [s.model_dump_json() for s in first] == [s.model_dump_json() for s in again]
    assert [s.model_dump_json() for s in first] == [s.model_dump_json() for s in offline]


def test_tool_descriptions_are_rewritten_when_asked_and_keep_their_identifiers(tmp_path):
    with StubOpenAI(polite) as server:
        scenario = build_scenario(np.random.default_rng(5), knobs(server, tmp_path, paraphrase_tools=True))
    template = build_scenario(np.random.default_rng(5))
    assert scenario.meta["paraphrase"]["tools"] == len(template.tools)
    for tool, before in zip(scenario.tools, template.tools, strict=True):
        assert tool.doc.description == f"In short: {before.doc.description}"
        assert tool.doc.parameters == before.doc.parameters


def test_the_stage_is_off_by_default_and_bad_knobs_say_how_to_fix_them(tmp_path):
    config = GenerateConfig()
    assert config.paraphrase is None and "paraphrase" not in generate_suite(1, 0)[0].meta
    with pytest.raises(InvalidKnob, match="openai:MODEL or hf:PATH"):
        GenerateConfig(paraphrase="gpt-4o")
    with pytest.raises(InvalidKnob, match="need paraphrase="):
        GenerateConfig(paraphrase_tools=True)
    with pytest.raises(InvalidKnob, match="not one"):
        build_scenario(np.random.default_rng(0), GenerateConfig(paraphrase="hf:/no/such/model",
                                                                paraphrase_cache=str(tmp_path)))
