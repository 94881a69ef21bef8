import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolgym.error import InvalidKnob
from toolgym.reward import (
    answer_is_correct,
    contains_answer,
    credit_outputs,
    episode_metrics,
    normalize,
    score_final_turn,
    score_tool_turn,
    tool_turn_reward,
)


def test_numbers_are_normalized_whatever_their_format():
    assert normalize("1,024") == normalize("1024.0") == "1024"
    assert normalize("  Jane   DOE. ") == "jane doe"


def test_strict_matching_needs_whole_words():
    assert contains_answer("born in Lyon, France", "Lyon")
    assert not contains_answer("born in Lyonnais", "Lyon")
    assert not contains_answer("population 10245", "1024")
    assert not contains_answer("value 1024.5", "1024")


def test_ftrl_matching_is_a_substring_test_of_every_piece():
    assert contains_answer("Lyonnais, france", "Lyon", match="ftrl")
    assert contains_answer("paris and berlin", "Berlin, Paris", match="ftrl")
    assert not contains_answer("paris", "Berlin, Paris", match="ftrl")


def test_a_hedged_final_answer_earns_nothing_in_strict_mode():
    assert answer_is_correct("<answer>Jane Doe</answer>", "Jane Doe")
    assert answer_is_correct("<answer>The 1,024</answer>", "1024")
    assert not answer_is_correct("<answer>Jane Doe or John Roe</answer>", "Jane Doe")
    assert not answer_is_correct("Jane Doe", "Jane Doe")
    assert answer_is_correct("maybe Jane Doe or John Roe", "Jane Doe", match="ftrl")


@pytest.mark.parametrize(
    ("variant", "expected"), [("f1", 2 * 2 / 4), ("precision", 2 / 3), ("rate", 2.0), ("pr", 4 / 3)]
)
def test_reward_variants_follow_ftrl(variant, expected):
    assert tool_turn_reward(2, 3, variant) == pytest.approx(expected)


def test_an_unknown_variant_is_refused_with_a_suggestion():
    with pytest.raises(InvalidKnob, match="Did you mean 'f1'"):
        tool_turn_reward(1, 1, "f11")


def test_one_call_obtains_at_most_one_sub_answer():
    unsolved = {"t": ["a", "b"]}
    assert credit_outputs(unsolved, [("t", "a b")]) == 1
    assert unsolved == {"t": ["b"]}


def test_error_outputs_obtain_nothing_in_strict_mode():
    unsolved = {"t": ["Paris"]}
    assert credit_outputs(unsolved, [("t", "Error: 'Paris' is not of type 'integer'")]) == 0
    assert credit_outputs(unsolved, [("t", "Error: 'Paris' is not of type 'integer'")], "ftrl") == 1


def test_final_turn_rewards():
    assert score_final_turn("", "x", 0).reward == -0.5
    assert score_final_turn("<tool_call>", "x", 0).reward == -0.3
    assert score_final_turn("<answer>x</answer>", "x", 1).reward == 0.5
    assert score_final_turn("<answer>y</answer>", "x", 0).reward == 0.5
    assert score_final_turn("<answer>y</answer>", "x", 2).reward == 0.0


def test_a_turn_of_malformed_calls_scores_the_penalty():
    assert score_tool_turn({}, [], 2, all_malformed=True).reward == -0.3


@given(st.integers(0, 50), st.integers(0, 50), st.integers(1, 50))
def test_episode_metrics_match_ftrl_formulas(solved, calls, total):
    m = episode_metrics(solved, calls, total)
    assert m.solve_precision == (solved / calls if calls else 1.0)
    assert m.solve_rate == solved / total
    assert m.solve_f1 == 2 * solved / (calls + total)
