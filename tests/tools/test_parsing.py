import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolgym.error import InvalidKnob
from toolgym.tools.parsing import get_parser, parse_hermes, parse_message, parse_react


def test_one_call_is_read_with_its_arguments():
    turn = parse_hermes('Let me look.\n<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>')
    assert turn.content == "Let me look."
    assert [(c.name, c.arguments, c.ok) for c in turn.calls] == [("f", {"x": 1}, True)]


def test_several_calls_in_one_turn_keep_their_order():
    text = "".join(
        f'<tool_call>{{"name": "t{i}", "arguments": {{}}}}</tool_call>' for i in range(3)
    )
    assert [c.name for c in parse_hermes(text).calls] == ["t0", "t1", "t2"]


def test_arguments_given_as_a_json_string_are_decoded():
    call = parse_hermes('<tool_call>{"name": "f", "arguments": "{\\"a\\": 2}"}</tool_call>').calls[0]
    assert call.arguments == {"a": 2}


def test_bad_json_is_a_malformed_call_with_the_reason():
    turn = parse_hermes("<tool_call>{name: f}</tool_call>")
    assert turn.all_malformed
    assert "not valid JSON" in turn.calls[0].error


def test_an_unclosed_block_counts_as_a_malformed_call():
    turn = parse_hermes('<tool_call>{"name": "f", "argu')
    assert turn.has_calls and turn.all_malformed


def test_a_stray_closing_tag_counts_as_a_malformed_call():
    assert parse_hermes("oops </tool_call>").all_malformed


def test_missing_name_and_non_object_arguments_are_reported():
    assert "name" in parse_hermes('<tool_call>{"arguments": {}}</tool_call>').calls[0].error
    error = parse_hermes('<tool_call>{"name": "f", "arguments": [1]}</tool_call>').calls[0].error
    assert "must be a JSON object" in error


def test_plain_text_has_no_calls():
    turn = parse_hermes("<answer>Paris</answer>")
    assert not turn.has_calls and turn.content == "<answer>Paris</answer>"


def test_openai_messages_are_read_like_text():
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": '{"x": 3}'}}],
    }
    turn = parse_message(message)
    assert turn.calls[0].name == "f" and turn.calls[0].arguments == {"x": 3}


def test_unknown_format_names_suggest_the_close_one():
    with pytest.raises(InvalidKnob, match="Did you mean 'hermes'"):
        get_parser("hermess")


_FRAGMENTS = st.sampled_from(
    ["<tool_call>", "</tool_call>", '{"name": "f", "arguments": {"a": 1}}', '{"name": 3}', "{", "}", "x", "\n"]
)


@given(st.text() | st.lists(_FRAGMENTS, max_size=12).map("".join))
def test_any_text_parses_into_at_most_one_call_per_block(text):
    turn = parse_hermes(text)
    assert len(turn.calls) <= text.count("<tool_call>") + text.count("</tool_call>")
    for call in turn.calls:
        if call.ok:
            assert isinstance(call.name, str) and call.name and isinstance(call.arguments, dict)
        else:
            assert call.error and call.raw is not None


_untagged = st.text().filter(lambda t: "tool_call>" not in t)  # a tag in a string ends the block, as in FTRL


@given(st.dictionaries(_untagged.filter(bool), st.integers() | _untagged | st.booleans()))
def test_well_formed_calls_round_trip_their_arguments(arguments):
    text = "<tool_call>" + json.dumps({"name": "tool", "arguments": arguments}) + "</tool_call>"
    call = parse_hermes(text).calls[0]
    assert call.ok and call.arguments == arguments


# The ReAct format (tool_format="react"): "Action: NAME" then "Action Input: {json}".


def test_a_react_reply_is_one_call_and_its_thought_is_the_content():
    turn = parse_react('Thought: translate it.\nAction: translate\nAction Input: {"text": "hi", "lang": "ja"}')
    assert turn.content == "Thought: translate it."
    assert [(c.name, c.arguments, c.ok) for c in turn.calls] == [("translate", {"text": "hi", "lang": "ja"}, True)]
    assert get_parser("react") is parse_react


def test_several_react_actions_are_several_calls_and_made_up_observations_are_ignored():
    text = ('Action: a\nAction Input: {"x": 1}\nObservation: 3\n'
            'Thought: next.\nAction: b Action Input: {"q": "Action: c"}')
    turn = parse_react(text)
    assert [(c.name, c.arguments) for c in turn.calls] == [("a", {"x": 1}), ("b", {"q": "Action: c"})]
    assert turn.content == ""


@pytest.mark.parametrize(("text", "name", "error"), [
    ("Action: f\nAction Input: {name: 1}", "f", "not valid JSON"),
    ("Action: f\nAction Input: [1, 2]", "f", "must be a JSON object, got list"),
    ("Action: f\nThought: hmm", "f", "has no 'Action Input:' after it"),
    ("Action:\nAction Input: {}", None, "names no tool"),
    ('Thought: x\nAction Input: {"a": 1}', None, "without its 'Action:' line"),
])
def test_a_broken_react_call_is_a_malformed_call_with_the_reason(text, name, error):
    turn = parse_react(text)
    assert turn.all_malformed and turn.calls[0].name == name and error in turn.calls[0].error


def test_finish_is_a_react_call_like_any_other():
    call = parse_react('Action: finish\nAction Input: {"answer": "Paris"}').calls[0]
    assert (call.name, call.arguments, call.ok) == ("finish", {"answer": "Paris"}, True)


def test_text_without_an_action_has_no_react_calls():
    turn = parse_react("  The answer is Paris.\n")
    assert not turn.has_calls and turn.content == "The answer is Paris."


def test_an_env_takes_tool_format_react():
    import gymnasium as gym

    import toolgym  # noqa: F401  (registers the ids)

    env = gym.make("ToolGym/SingleHop-v0", tool_format="react")
    env.reset(seed=0)
    gold = env.unwrapped.scenario.subtasks[0]
    obs, *_ = env.step(f"Thought: look.\nAction: {gold.call.name}\nAction Input: {json.dumps(gold.call.arguments)}")
    assert obs["messages"][-1]["role"] == "tool" and gold.answer in obs["messages"][-1]["content"]
    env.close()


_REACT_PIECES = st.sampled_from(
    ["Action: ", "Action:", "Action Input: ", "Action Input:", "f", '{"a": 1}', "[1]", "{", "}", " ", "\n", "Thought: "]
)


@given(st.text() | st.lists(_REACT_PIECES, max_size=12).map("".join))
def test_any_text_parses_into_at_most_one_call_per_react_action(text):
    turn = parse_react(text)
    assert len(turn.calls) <= max(text.count("Action:"), "Action Input:" in text)
    for call in turn.calls:
        if call.ok:
            assert isinstance(call.name, str) and call.name and isinstance(call.arguments, dict)
        else:
            assert call.error and call.raw


@given(st.dictionaries(st.text(min_size=1), st.integers() | st.text() | st.booleans()))
def test_well_formed_react_calls_round_trip_their_arguments(arguments):
    call = parse_react("Thought: go.\nAction: tool\nAction Input: " + json.dumps(arguments)).calls[0]
    assert call.ok and call.arguments == arguments
