"""Think blocks are reasoning: split off before any parsing."""

from hypothesis import given
from hypothesis import strategies as st

from toolgym.tools.reasoning import split_reasoning

_plain = st.text().filter(lambda t: "<think>" not in t and "</think>" not in t)


@given(_plain)
def test_text_without_think_tags_is_all_action(text):
    assert split_reasoning(text) == ("", text)


@given(_plain, _plain)
def test_a_think_block_is_split_from_what_follows(thought, rest):
    assert split_reasoning(f"<think>{thought}</think>{rest}") == (thought.strip(), rest)
    assert split_reasoning(f"{thought}</think>{rest}") == (thought.strip(), rest)  # opened by the template


def test_an_unclosed_think_block_runs_to_the_end():
    assert split_reasoning("<tool_call>{}</tool_call><think>still thinking") == (
        "still thinking", "<tool_call>{}</tool_call>"
    )
