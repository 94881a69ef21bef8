"""Suite figures (toolgym.stats) and the `toolgym stats` command."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toolgym
from toolgym.cli import main
from toolgym.scenario import Scenario, SubTask, Tool, ToolDoc
from toolgym.stats import (
    ANSWER_KINDS,
    PARAM_TYPES,
    answer_kind,
    distinct_2,
    format_stats,
    question_template,
    question_words,
    suite_stats,
)

FTRL_TEST = Path("/work/shared/data/ftrl_test.jsonl")
NEEDS_FTRL = pytest.mark.skipif(not FTRL_TEST.is_file(), reason="FTRL's test set is not on this machine")


def _tool(name: str, properties: dict, required: list[str]) -> Tool:
    doc = ToolDoc(name=name, description="", parameters={"type": "object", "properties": properties,
                                                         "required": required})
    return Tool(doc=doc, impl={"kind": "source", "code": f"def {name}():\n    return ''"})


def _scenario(question: str, answer: str, tools: list[Tool], subtasks: int = 1, shape: str = "single_hop"):
    return Scenario(id=question, shape=shape, question=question, messages=(), tools=tuple(tools),
                    subtasks=tuple(SubTask(tool=tools[0].name, answer=str(i)) for i in range(subtasks)),
                    answer=answer)


def test_figures_of_a_hand_made_suite_are_exact():
    a = _tool("find", {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["m", "km"]},
                       "n": {"type": "integer"}}, ["city", "n"])
    b = _tool("look", {"flag": {"type": "boolean"}}, [])
    suite = [
        _scenario("Who founded Acme Corp?", "Ann Lee", [a, b]),
        _scenario("Which is larger: (a) X or (b) Y?", "b", [a], subtasks=3, shape="self/parallel_single_hop"),
    ]
    figures = suite_stats(suite)
    assert figures["envs"] == 2 and figures["tools_per_env"] == 1.5
    assert figures["params_per_tool"] == pytest.approx(7 / 3) and figures["required_per_tool"] == pytest.approx(4 / 3)
    assert figures["param_types"]["enum"] == pytest.approx(2 / 7) and figures["param_types"]["string"] == pytest.approx(2 / 7)
    assert figures["distinct_tool_names"] == 2
    assert figures["answer_kinds"]["text"] == 0.5 and figures["answer_kinds"]["letter"] == 0.5
    assert list(figures["hops_by_shape"].items()) == [("single_hop", 1.0), ("parallel_single_hop", 3.0)]
    assert figures["question_words"] == 6.0 and figures["distinct_templates"] == 2
    assert list(figures["param_types"])[: len(PARAM_TYPES)] == list(PARAM_TYPES)


@pytest.mark.parametrize("answer, kind", [
    ("1,024", "number"), ("104.5×", "number"), ("150 acres", "number"), ("-3.5", "number"), ("25°C", "number"),
    ("2007-11-7", "date"), ("December 16, 2023", "date"), ("yes", "yes/no"), ("No", "yes/no"),
    ("a", "letter"), ("(c)", "letter"), ("c, a, b", "ordering"), ("Israel, Sudan", "list"),
    ("Mishal Al-Sabah.", "text"), ("The Ohrid Agreement", "text"), ("apple", "text"),
])
def test_answer_kinds(answer, kind):
    assert answer_kind(answer) == kind


@given(st.text(max_size=40))
@settings(max_examples=50, deadline=None)
def test_every_answer_has_one_of_the_kinds(answer):
    assert answer_kind(answer) in ANSWER_KINDS


def test_templates_mask_names_numbers_and_quoted_titles_but_not_sentence_starts():
    assert question_template("When was Hebert Works founded? Give the year.") == "when was <e> founded? give the year."
    assert question_template("What is 'The Silent Harbor' worth in 2023?") == "what is <e> worth in <n>?"
    assert question_template("How tall is a 23-year-old man who weighs 76kg?") == "how tall is a <n>-old man who weighs <n>?"
    same = ("Who directed 'Blue Dawn'?", "Who directed 'The Last Mirror of Anna Berg'?")
    assert question_template(same[0]) == question_template(same[1])
    assert question_template("Who coaches Oslo Owls?") != question_template("Who owns Oslo Owls?")


def test_distinct_2_counts_bigrams_within_questions():
    assert distinct_2(["A b c.", "a B d"]) == 0.75
    assert distinct_2(["one"]) == 0.0
    assert question_words("It's 'The Town', isn't it?") == ["it's", "the", "town", "isn't", "it"]


def test_format_stats_prints_columns_side_by_side_in_every_format():
    suite = toolgym.generate_suite(10, seed=1)
    columns = {"a": suite_stats(suite), "b": suite_stats(suite[:5])}
    text = format_stats(columns)
    assert text.splitlines()[0].split() == ["figure", "a", "b"]
    assert "distinct-2 of questions" in text and "answer kind: number" in text
    markdown = format_stats(columns, "markdown")
    assert markdown.startswith("| figure | a | b |") and "| environments | 10 | 5 |" in markdown
    assert json.loads(format_stats(columns, "json"))["b"]["envs"] == 5
    with pytest.raises(ValueError, match="Unknown format 'html'"):
        format_stats(columns, "html")


@NEEDS_FTRL
def test_ftrl_test_set_figures_match_the_paper():
    figures = suite_stats(toolgym.load_suite(FTRL_TEST))
    assert figures["envs"] == 200
    assert figures["params_per_tool"] == pytest.approx(7.1, abs=0.05)
    assert figures["required_per_tool"] == pytest.approx(1.6, abs=0.05)
    assert figures["hops_by_shape"]["single_hop"] == 1.0
    assert figures["answer_kinds"]["letter"] > 0 and figures["answer_kinds"]["ordering"] > 0


def test_the_stats_command_measures_a_generated_suite_beside_a_reference(capsys, tmp_path):
    path = tmp_path / "ref.jsonl"
    toolgym.save_suite(toolgym.generate_suite(4, seed=9), path)
    assert main(["stats", "gen:6:3", "--reference", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["gen:6:3", "ref.jsonl"]
    assert out["gen:6:3"] == suite_stats(toolgym.generate_suite(6, seed=3))
    assert out["ref.jsonl"]["envs"] == 4


def test_the_stats_command_draws_scenarios_from_an_env_with_knobs(capsys):
    assert main(["stats", "--env", "ToolGym/SingleHop-v0", "--env-kwargs", '{"distractors": 0}',
                 "--limit", "5", "--format", "json"]) == 0
    (figures,) = json.loads(capsys.readouterr().out).values()
    assert figures["envs"] == 5 and figures["tools_per_env"] == 1.0 and figures["hops"] == 1.0


@pytest.mark.parametrize("argv, message", [
    (["stats"], "give exactly one"),
    (["stats", "gen:3", "--env", "ToolGym/Scenario-v0"], "give exactly one"),
    (["stats", "--env", "ToolGym/Scenario-v0"], "--limit"),
    (["stats", "--env", "ToolGym/Senario-v0", "--limit", "2"], "Did you mean"),
    (["stats", "gen:3", "--env-kwargs", "{}"], "applies to --env"),
])
def test_the_stats_command_rejects_bad_sources_with_a_fix(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
