"""ToolHop rows -> scenarios, and FTRL's answer check (``evaluation_toolhop.py``) on worked cases."""

import json
from pathlib import Path

import pytest

from toolgym.error import InvalidScenario
from toolgym.scenario import AnswerGrading, SourceImpl
from toolgym.toolhop import (
    MODES,
    PROMPTS,
    answer_verify,
    is_toolhop_row,
    scenario_from_toolhop,
    scenarios_from_toolhop,
    toolhop_correct,
)
from toolgym.tools.sandbox import SandboxRuntime

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "toolhop"
ROWS = [json.loads(line) for line in (FIXTURES / "toolhop.jsonl").read_text(encoding="utf-8").splitlines()]
LIST_ROWS = json.loads((FIXTURES / "toolhop_list.json").read_text(encoding="utf-8"))

# FTRL's Mandatory prompt, copied from evaluation_toolhop.py (an f-string there).
FTRL_MANDATORY = "You will be asked a question with some tools, and should provide a short final answer.\nPlease note that you must call the tool at every step, you must not use your own knowledge. Your final answer must also be returned from the tool.\nIf the final answer is a date, format is as follows: YYYY-MM-DD (ISO standard)\nIf the final nswer is a name, format it as follows: Firstname Lastname\nIf the final answer contains any number, format it as a number, not a word, and only output that number. Do not include leading 0s.\n\nPlease provide the final answer in the following format: <answer>final answer here</answer>\nAnswer as short as possible.\nQuestion: {question}"
FTRL_DIRECT = "You will be asked a question, and should provide a short answer.\nIf the answer is a date, format is as follows: YYYY-MM-DD (ISO standard)\nIf the answer is a name, format it as follows: Firstname Lastname\nIf the answer contains any number, format it as a number, not a word, and only output that number. Do not include leading 0s.\n\nPlease provide the answer in the following format: <answer>your answer here</answer>\nAnswer as short as possible.\nQuestion: {question}"
FTRL_FREE = FTRL_MANDATORY.replace(
    "Please note that you must call the tool at every step, you must not use your own knowledge. "
    "Your final answer must also be returned from the tool.\n",
    "",
)


def chat(*turns: tuple[str, str]) -> list[dict]:
    return [{"role": "user", "content": "Question: ?"}] + [{"role": r, "content": c} for r, c in turns]


# -- answer_verify and toolhop_correct ---------------------------------------------------------


def test_answer_verify_ignores_case_and_commas_and_dumps_dicts():
    assert answer_verify("The population is 1024.", "1,024")
    assert answer_verify("ARNOLD SOMMERFELD", "Arnold Sommerfeld")
    assert answer_verify({"names": ["Arnold Sommerfeld"]}, "arnold sommerfeld")
    assert answer_verify(["Ünïcode"], "ünïcode")  # ensure_ascii=False, as FTRL dumps
    assert answer_verify(4, "4")
    assert not answer_verify("Sommerfeld", "Arnold Sommerfeld")


def test_answer_verify_needs_every_piece_of_a_multi_piece_gold():
    assert answer_verify("Stanley Park in Blackpool", "Stanley Park, Blackpool")
    assert not answer_verify("Stanley Park", "Stanley Park, Blackpool")
    assert not answer_verify("Blackpool", "Stanley Park, Blackpool")
    # only ", " splits: a comma without a space is deleted and the rest must appear as is
    assert answer_verify("stanley parkblackpool", "Stanley Park,Blackpool")


def test_answer_in_the_final_message_is_correct():
    assert toolhop_correct(chat(("assistant", "<answer>1930-08-05</answer>")), "1930-08-05")


def test_answer_only_in_the_tool_message_before_the_reply_is_correct():
    messages = chat(("tool", '{"letter_count": 4}'), ("assistant", "I think it is four."))
    assert toolhop_correct(messages, "4")


def test_a_wrong_answer_is_wrong():
    messages = chat(("tool", '{"astronaut": "Buzz Aldrin"}'), ("assistant", "<answer>Buzz Aldrin</answer>"))
    assert not toolhop_correct(messages, "Neil Armstrong")


def test_an_empty_final_reply_is_wrong_even_when_the_tool_message_has_the_answer():
    assert not toolhop_correct(chat(("tool", "1930-08-05"), ("assistant", "")), "1930-08-05")
    assert not toolhop_correct(chat(("tool", "1930-08-05"), ("assistant", None)), "1930-08-05")


def test_a_chat_ending_on_a_tool_message_is_wrong():
    assert not toolhop_correct(chat(("assistant", "calling"), ("tool", "1930-08-05")), "1930-08-05")
    assert not toolhop_correct([], "4")


def test_only_the_message_right_before_the_reply_is_searched():
    messages = chat(("tool", "4"), ("user", "go on"), ("assistant", "done"))
    assert not toolhop_correct(messages, "4")


def test_a_multi_piece_gold_needs_both_pieces_in_the_reply():
    assert toolhop_correct(chat(("assistant", "Stanley Park, Blackpool")), "Stanley Park, Blackpool")
    assert not toolhop_correct(chat(("assistant", "Stanley Park")), "Stanley Park, Blackpool")


def test_case_and_commas_are_ignored_in_the_reply():
    assert toolhop_correct(chat(("assistant", "<answer>1,024</answer>")), "1024")
    assert toolhop_correct(chat(("assistant", "ARNOLD SOMMERFELD")), "Arnold Sommerfeld")


# -- reading rows ----------------------------------------------------------------------------


def test_prompts_are_ftrls_bytes_typo_included():
    assert PROMPTS == {"direct": FTRL_DIRECT, "mandatory": FTRL_MANDATORY, "free": FTRL_FREE}
    assert "final nswer" in PROMPTS["mandatory"] and "final nswer" in PROMPTS["free"]
    assert "final nswer" not in PROMPTS["direct"]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: str(row["id"]))
def test_each_row_gives_one_scenario_per_mode(row):
    assert is_toolhop_row(row)
    scenarios = scenarios_from_toolhop(row)
    assert [s.shape for s in scenarios] == [f"toolhop/{mode}" for mode in MODES]
    assert len({s.id for s in scenarios}) == 3
    for scenario, mode in zip(scenarios, MODES, strict=True):
        assert scenario.id.endswith(f"/{mode}") and scenario.id.startswith("toolhop-")
        assert scenario.messages == ({"role": "user", "content": PROMPTS[mode].format(question=row["question"])},)
        assert scenario.question == row["question"] and scenario.answer == row["answer"]
        assert scenario.grading == AnswerGrading() and scenario.match == "ftrl"
        assert scenario.subtasks == ()
        assert scenario.meta["mode"] == mode
        assert scenario.meta["data_source"] == f"ToolHop/{mode.capitalize()}"
        assert scenario.meta["id"] == row["id"] and scenario.meta["sub_task"] == row["sub_task"]
        assert scenario.meta["gold_calls"] == row["gold_calls"]
    direct, mandatory, free = scenarios
    assert direct.tools == () and direct.max_turns == 1
    assert "you must call the tool at every step" in mandatory.messages[0]["content"]
    assert "you must call the tool at every step" not in free.messages[0]["content"]
    names = [spec["name"] for spec in row["tools"].values()]
    for scenario in (mandatory, free):
        assert scenario.max_turns == 9
        assert [t.name for t in scenario.tools] == names
        assert [t.impl.code for t in scenario.tools] == [row["functions"][n] for n in names]
        assert scenario.tool_docs == [{"type": "function", "function": spec} for spec in row["tools"].values()]


def test_the_scenario_of_one_mode_is_the_one_of_that_mode():
    row = ROWS[0]
    assert scenario_from_toolhop(row, mode="Mandatory") == scenarios_from_toolhop(row)[1]
    assert scenario_from_toolhop(row).shape == "toolhop/free"  # the default mode
    assert scenario_from_toolhop({**row, "data_source": "ToolHop/Direct"}).shape == "toolhop/direct"
    assert scenario_from_toolhop(row, base_dir="/nowhere", path="x.jsonl").shape == "toolhop/free"


def test_the_rows_own_messages_and_data_source_are_used():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q?"}]
    row = {**ROWS[1], "messages": messages, "data_source": "ToolHop/custom"}
    for scenario in scenarios_from_toolhop(row):
        assert list(scenario.messages) == messages
        assert scenario.meta["data_source"] == "ToolHop/custom"


@pytest.mark.parametrize("index", range(len(ROWS)))
def test_list_form_functions_load_the_same_tools_as_dict_form(index):
    listed, keyed = LIST_ROWS[index], ROWS[index]
    assert isinstance(listed["functions"], list) and is_toolhop_row(listed)
    assert scenarios_from_toolhop(listed) == scenarios_from_toolhop(keyed)


def test_list_form_keeps_out_sources_of_no_tool_and_leaves_tools_without_source_empty():
    row = {**ROWS[1], "functions": ["def helper():\n    return 1\n", ROWS[1]["functions"]["physics_principle_lookup"]]}
    tools = {t.name: t.impl for t in scenario_from_toolhop(row, mode="free").tools}
    assert tools["physics_principle_lookup"] == SourceImpl(code=ROWS[1]["functions"]["physics_principle_lookup"])
    assert tools["academic_lineage_finder"] == SourceImpl(code="")
    assert "helper" not in tools


def test_a_list_source_that_does_not_parse_still_reaches_its_tool():
    broken = "def academic_lineage_finder(scientist_name:\n    return 1\n"
    row = {**ROWS[1], "functions": [broken]}
    tools = {t.name: t.impl.code for t in scenario_from_toolhop(row, mode="free").tools}
    assert tools["academic_lineage_finder"] == broken


@pytest.mark.parametrize("row", ROWS, ids=lambda row: str(row["id"]))
def test_the_gold_calls_chain_to_the_answer_in_the_sandbox(row):
    scenario = scenario_from_toolhop(row, mode="mandatory")
    codes = {tool.name: tool.impl.code for tool in scenario.tools}
    outputs = []
    with SandboxRuntime(codes, timeout=10) as runtime:
        for call in scenario.meta["gold_calls"]:
            result = runtime.call(call["name"], call["arguments"])
            assert result.ok and "error" not in result.text.lower(), result
            if outputs:  # each hop uses what the previous one returned
                strings = [v for v in call["arguments"].values() if isinstance(v, str)]
                assert any(answer_verify(outputs[-1], s) for s in strings), (call, outputs[-1])
            outputs.append(result.text)
    assert answer_verify(outputs[-1], row["answer"])
    assert not any(answer_verify(output, row["answer"]) for output in outputs[:-1])
    final = [*scenario.messages, {"role": "tool", "content": outputs[-1]}, {"role": "assistant", "content": "done"}]
    assert toolhop_correct(final, row["answer"])


def test_the_tools_answer_bad_arguments_with_an_error():
    codes = {name: code for row in ROWS for name, code in row["functions"].items()}
    with SandboxRuntime(codes, timeout=10) as runtime:
        assert "error" in runtime.call("count_letters", {"input_string": ""}).text
        assert "error" in runtime.call("crew_role_lookup", {"mission_name": "Apollo 11", "role": "pilot"}).text
        assert runtime.call("birth_date_finder", {"person_name": "Neil Armstrong", "date_format": "Month D, YYYY"}).text == "August 5, 1930"


# -- bad rows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"question": None}, "question"),
        ({"answer": ["4"]}, "answer"),
        ({"tools": ["geo_relationship_finder"]}, "tools"),
        ({"tools": {"Which park?": {"description": "no name"}}}, "tools"),
        ({"functions": "def f(): pass"}, "functions"),
        ({"functions": {"count_letters": 3}}, "functions"),
        ({"functions": [3]}, "functions"),
        ({"messages": "hello"}, "messages"),
        ({"gold_calls": {"name": "f"}}, "gold_calls"),
        ({"gold_calls": [{"arguments": {}}]}, "gold_calls"),
    ],
)
def test_a_broken_row_raises_naming_the_field(change, field):
    with pytest.raises(InvalidScenario, match=f"'{field}'"):
        scenarios_from_toolhop({**ROWS[0], **change})


@pytest.mark.parametrize("field", ["question", "answer", "tools", "functions"])
def test_a_row_without_a_field_raises_naming_it(field):
    row = {k: v for k, v in ROWS[0].items() if k != field}
    assert not is_toolhop_row(row)
    with pytest.raises(InvalidScenario, match=f"lacks the field '{field}'"):
        scenario_from_toolhop(row, mode="free", path="toolhop.jsonl")


def test_an_unknown_mode_names_the_valid_ones():
    with pytest.raises(InvalidScenario, match=r"'direct', 'mandatory', 'free'.*Did you mean 'mandatory'"):
        scenario_from_toolhop(ROWS[0], mode="mandatoy")
    with pytest.raises(InvalidScenario, match="Unknown ToolHop mode"):
        scenarios_from_toolhop(ROWS[0], modes=("free", "open"))


def test_a_row_that_is_not_an_object_raises():
    with pytest.raises(InvalidScenario, match="JSON object"):
        scenarios_from_toolhop(["question"])  # type: ignore[arg-type]


def test_rows_of_other_formats_are_not_toolhop_rows():
    assert not is_toolhop_row({"messages": [], "tools": "[]", "codes": "{}", "answer": ""})
    assert not is_toolhop_row({"question": "q", "answer": "a", "tools": "[]", "functions": {}})


def test_the_scenarios_survive_a_json_round_trip():
    for scenario in scenarios_from_toolhop(ROWS[0]):
        assert type(scenario).model_validate_json(scenario.model_dump_json()) == scenario
