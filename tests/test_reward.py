from dataclasses import astuple

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
from toolgym.tools.result import ToolResult


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


@pytest.mark.parametrize(("given", "right"), [
    ("b, a, c", True), ("b,a,c", True), ("B , A , C.", True), ("(b), (a), (c)", True),
    ("b a c", False), ("b; a; c", False), ("b, a and c", False), ("a, b, c", False),
    ("b, a", False), ("b, a, c, d", False), ("b, a, c,", True), ("", False),
])
def test_a_list_answer_is_compared_element_by_element_in_order(given, right):
    assert answer_is_correct(f"<answer>{given}</answer>", "b, a, c") is right


def test_list_elements_keep_thousands_separators_and_number_formats():
    assert answer_is_correct("<answer>1,968, 1845.0</answer>", "1968, 1845")
    assert answer_is_correct("<answer>The Alps, 4,808</answer>", "Alps, 4808")
    assert answer_is_correct("<answer>1968,1845</answer>", "1968, 1845")  # no group has 4 digits
    assert not answer_is_correct("<answer>1,845</answer>", "1, 845")  # a thousands group
    assert not answer_is_correct("<answer>1,968</answer>", "1968, 1845")


def test_a_single_letter_answer_never_matches_inside_a_word():
    assert answer_is_correct("<answer>(a)</answer>", "a")
    assert not answer_is_correct("<answer>an a</answer>", "a")
    assert contains_answer("Result (max): a.", "a")
    assert not contains_answer("Result (max): b. [as_of_year applied]", "a")
    assert contains_answer("Result (ascending): b, a, c.", "b, a, c")
    assert not contains_answer("Result (ascending): c, a, b.", "b, a, c")


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
    assert credit_outputs(unsolved, [("t", ToolResult("a b"))]) == 1
    assert unsolved == {"t": ["b"]}


def test_failed_calls_obtain_nothing_in_strict_mode():
    unsolved = {"t": ["Paris"]}
    failed = ToolResult.error("'Paris' is not of type 'integer'")
    assert credit_outputs(unsolved, [("t", failed)]) == 0
    assert credit_outputs(unsolved, [("t", failed)], "ftrl") == 1  # FTRL reads the text alone


def test_a_tool_that_succeeds_with_error_like_text_is_credited():
    unsolved = {"t": ["Paris"]}
    assert credit_outputs(unsolved, [("t", ToolResult("Error: none. Capital: Paris"))]) == 1


def test_final_turn_rewards():
    assert score_final_turn("", "x", 0).reward == -0.5
    assert score_final_turn("<tool_call>", "x", 0).reward == -0.3
    assert score_final_turn("<answer>x</answer>", "x", 1).reward == 0.5
    assert score_final_turn("<answer>y</answer>", "x", 0).reward == 0.5
    assert score_final_turn("<answer>y</answer>", "x", 2).reward == 0.0


def test_a_turn_of_malformed_calls_scores_the_penalty():
    assert score_tool_turn({}, [], 2, all_malformed=True).reward == -0.3


@st.composite
def _counts(draw):
    """(solved, calls, sub-answers) of a real episode: a call solves at most one sub-answer."""
    total = draw(st.integers(1, 40))
    calls = draw(st.integers(0, 60))
    return draw(st.integers(0, min(calls, total))), calls, total


def test_episode_metrics_on_hand_worked_episodes():
    assert astuple(episode_metrics(0, 0, 3)) == (0, 0, 3, 1.0, 0.0, 0.0)  # no call: Solve-P 1, as FTRL
    assert astuple(episode_metrics(2, 4, 2))[3:] == (0.5, 1.0, 2 / 3)
    assert astuple(episode_metrics(3, 3, 3))[3:] == (1.0, 1.0, 1.0)


@given(_counts())
def test_solve_f1_is_the_harmonic_mean_of_solve_p_and_solve_r(counts):
    solved, calls, total = counts
    m = episode_metrics(solved, calls, total)
    assert 0.0 <= m.solve_precision <= 1.0 and 0.0 <= m.solve_rate <= 1.0 and 0.0 <= m.solve_f1 <= 1.0
    if solved:
        harmonic = 2 * m.solve_precision * m.solve_rate / (m.solve_precision + m.solve_rate)
        assert abs(m.solve_f1 - harmonic) < 1e-12
    assert (m.solve_f1 == 1.0) == (solved == calls == total)
