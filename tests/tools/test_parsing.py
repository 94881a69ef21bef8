import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolgym.error import InvalidKnob
from toolgym.tools.parsing import get_parser, parse_hermes, parse_message


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


@given(st.text())
def test_any_text_parses_without_raising(text):
    turn = parse_hermes(text)
    for call in turn.calls:
        assert call.ok == (call.error is None)
        if call.ok:
            assert isinstance(call.arguments, dict)


@given(st.dictionaries(st.text(min_size=1), st.integers() | st.text() | st.booleans()))
def test_well_formed_calls_round_trip_their_arguments(arguments):
    text = "<tool_call>" + json.dumps({"name": "tool", "arguments": arguments}) + "</tool_call>"
    call = parse_hermes(text).calls[0]
    assert call.ok and call.arguments == arguments
