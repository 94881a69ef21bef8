"""The env reads tool calls through a tokenizer's own parse_response."""

import gymnasium as gym
import pytest

import toolgym  # noqa: F401
from toolgym.error import InvalidKnob
from toolgym.oracle import OracleAgent
from toolgym.tools.parsing import parse_hermes, parser_from_tokenizer


def test_parse_response_reads_the_same_calls_as_the_hermes_parser(tokenizer):
    parse = parser_from_tokenizer(tokenizer)
    text = '<tool_call>\n{"name": "get_city_mayor", "arguments": {"city": "Lyon"}}\n</tool_call>'
    ours, theirs = parse(text), parse_hermes(text)
    assert [(c.name, c.arguments) for c in ours.calls] == [
        (c.name, c.arguments) for c in theirs.calls
    ]


def test_the_oracle_solves_an_env_parsing_with_the_tokenizer(tokenizer):
    env = gym.make("ToolGym/MultiHop-v0", tool_format=parser_from_tokenizer(tokenizer))
    obs, info = env.reset(seed=3)
    agent, done = OracleAgent(env), False
    while not done:
        obs, reward, done, truncated, info = env.step(agent.act(obs))
    assert info["solve_f1"] == 1.0 and info["answer_correct"]


def test_malformed_calls_are_still_reported(tokenizer):
    turn = parser_from_tokenizer(tokenizer)("<tool_call>{oops</tool_call>")
    assert turn.all_malformed


def test_a_tokenizer_without_a_response_template_is_refused():
    class Bare:
        response_template = None

    with pytest.raises(InvalidKnob, match="response_template"):
        parser_from_tokenizer(Bare())
