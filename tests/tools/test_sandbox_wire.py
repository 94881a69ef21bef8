"""The sandbox's wire format: what a tool returns and what it is given cross the pipes as JSON."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sandbox_params import POSIX_ONLY

from toolgym.tools.sandbox import SandboxRuntime

pytestmark = POSIX_ONLY

ECHO = {
    "echo_text": "def echo_text(text):\n    return text\n",
    "echo_args": "import json\ndef echo_args(**kwargs):\n    return json.dumps(kwargs, sort_keys=True)\n",
}

TRICKY = ["\ud800", "\udfff", '"', "\\", "\n", "\x00", "\u2028", "é", "\U0001f600"]
any_text = st.text(st.sampled_from(TRICKY) | st.characters(exclude_categories=()))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def runtime():
    with SandboxRuntime(ECHO, isolation="process") as runtime:
        yield runtime


@settings(max_examples=150)
@given(text=any_text)  # any code points: quotes, newlines, NULs, lone surrogates
def test_any_returned_text_arrives_unchanged(runtime, text):
    result = runtime.call("echo_text", {"text": text})
    # JSON carries the text: the one change is that two lone surrogates that form a pair join
    assert result.ok and result.text == json.loads(json.dumps(text))


@settings(max_examples=100)
@given(arguments=st.dictionaries(st.text(min_size=1) | any_text, json_values, max_size=5))
def test_any_json_arguments_arrive_as_json_would_carry_them(runtime, arguments):
    result = runtime.call("echo_args", arguments)
    assert result.ok
    assert result.text == json.dumps(json.loads(json.dumps(arguments)), sort_keys=True)


def test_calls_sent_behind_a_load_are_answered_in_order(runtime):
    for episode in range(20):  # reset does not wait: load and call reach the worker back to back
        runtime.reset()
        assert runtime.call("echo_text", {"text": str(episode)}).text == str(episode)
        assert runtime.call("echo_text", {"text": "x" * 100_000}).text.startswith("x" * 8192)
