"""RoTBench: FTRL's TS/PI/CF of one ReAct reply, and RoTBench's files and FTRL's rows read as scenarios."""

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolgym.error import InvalidScenario, SuiteError
from toolgym.rotbench import (
    is_ftrl_rotbench_row,
    is_rotbench_item,
    rotbench_metrics,
    scenario_from_rotbench,
)
from toolgym.scenario import ReplyGrading
from toolgym.suites import load_suite, row_format


@pytest.fixture(scope="module")
def clean_file(rotbench_file) -> Path:
    return rotbench_file


@pytest.fixture(scope="module")
def items(clean_file) -> list[dict]:
    return json.loads(clean_file.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def golds(items) -> list[str]:
    """The first item's golds: translate 'See you later' into Japanese with NLLB (gold 0) or Baidu (gold 1)."""
    found = items[0]["conversations"][-1]["value"]
    assert found == [
        'Thought:\nAction: get_translation_nllb\nAction Input: {"input_text": "See you later", '
        '"tgt_lang": "jpn_Jpan", "src_lang": "eng_Latn", "max_length": "None"}',
        'Thought:\nAction: get_translation_baidu\nAction Input: {"text": "See you later", "tgt_lang": "jp"}',
    ]
    return found


def react(tool: str, arguments, thought: str = "Thought: translate it.") -> str:
    return f"{thought}\nAction: {tool}\nAction Input: {json.dumps(arguments)}"


NLLB = {"input_text": "See you later", "tgt_lang": "jpn_Jpan", "src_lang": "eng_Latn", "max_length": "None"}


def figures(reply: str, golds) -> tuple[float, float, float]:
    m = rotbench_metrics(reply, golds)
    return m["tool_selection"], m["parameter_identification"], m["content_filling"]


# Hand-worked against FTRL's evaluation_rotbench.py, reply by reply.
CASES = {
    "the exact gold": (react("get_translation_nllb", NLLB), (1, 1, 1)),
    "a wrong tool": (react("get_translation_google", NLLB), (0, 0, 0)),
    "a missing parameter": (react("get_translation_nllb", {k: v for k, v in NLLB.items() if k != "max_length"}), (1, 0, 0)),
    "an extra parameter": (react("get_translation_baidu", {"text": "See you later", "tgt_lang": "jp", "appid": "1"}), (1, 0, 0)),
    "a wrong value": (react("get_translation_nllb", {**NLLB, "tgt_lang": "jpn"}), (1, 1, 0)),
    "'None' left out of a value": (react("get_translation_nllb", {**NLLB, "max_length": None}), (1, 1, 0)),
    # Counter of the values: which key holds which value is not checked.
    "values swapped between keys": (react("get_translation_nllb", {**NLLB, "input_text": "eng_Latn", "src_lang": "See you later"}), (1, 1, 1)),
    "the second gold": (react("get_translation_baidu", {"tgt_lang": "jp", "text": "See you later"}), (1, 1, 1)),
    "no thought at all": ('Action: get_translation_baidu\nAction Input: {"text": "See you later", "tgt_lang": "jp"}', (1, 1, 1)),
    "spaces around the name": ('Action:   get_translation_baidu  \nAction Input:   {"text": "See you later", "tgt_lang": "jp"}  \n', (1, 1, 1)),
    # Unreadable replies: FTRL's try/except gives 0 on all three.
    "no Action Input": ("Thought: x\nAction: get_translation_nllb", (0, 0, 0)),
    "no Action": ('Action Input: {"text": "See you later", "tgt_lang": "jp"}', (0, 0, 0)),
    "'Action:' without its space": ('Action:get_translation_baidu\nAction Input: {"text": "See you later", "tgt_lang": "jp"}', (0, 0, 0)),
    "text after the JSON": (react("get_translation_baidu", {"text": "See you later", "tgt_lang": "jp"}) + "\nObservation: ok", (0, 0, 0)),
    "a code fence": ('Action: get_translation_baidu\nAction Input: ```{"text": "See you later", "tgt_lang": "jp"}```', (0, 0, 0)),
    "a JSON list": ('Action: get_translation_baidu\nAction Input: ["See you later", "jp"]', (0, 0, 0)),
    "two actions": (react("get_translation_baidu", {"text": "See you later", "tgt_lang": "jp"}) * 2, (0, 0, 0)),
    "a Python dict": ("Action: get_translation_baidu\nAction Input: {'text': 'See you later', 'tgt_lang': 'jp'}", (0, 0, 0)),
    "nothing": ("", (0, 0, 0)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_reply_scores_as_ftrl_scores_it(golds, case):
    reply, expected = CASES[case]
    assert figures(reply, golds) == expected


def test_a_think_block_naming_an_action_is_read_first_as_ftrl_does(golds):
    # FTRL splits on the first "Action: " anywhere: here the tool is read as the text from inside
    # <think> up to the first "Action Input: ", which names no gold tool, so even a reply whose
    # real action is the exact gold scores 0 on all three.
    reply = "<think>Maybe Action: get_translation_baidu?</think>\n" + react("get_translation_nllb", NLLB)
    assert figures(reply, golds) == (0, 0, 0)
    # An "Action Input: " inside <think> is where the parameters are read: not JSON, so 0 too.
    reply = "<think>Action Input: later</think>\n" + react("get_translation_nllb", NLLB)
    assert figures(reply, golds) == (0, 0, 0)
    # A <think> block without either marker changes nothing.
    assert figures("<think>hmm</think>\n" + react("get_translation_nllb", NLLB), golds) == (1, 1, 1)


def test_the_flags_may_come_from_different_golds_and_never_fall():
    golds = [react("f", {"a": "1"}), react("f", {"b": "2"}), react("g", {"b": "3"})]
    assert figures(react("f", {"b": "3"}), golds) == (1, 1, 0)  # TS from gold 0, PI from gold 1
    assert figures(react("g", {"b": "3"}), golds) == (1, 1, 1)  # the loop goes on to gold 2


def test_an_unhashable_value_stops_the_loop_and_keeps_the_flags_so_far():
    # Counter([[1]]) raises TypeError inside FTRL's try: the second gold, an exact match, is never reached.
    golds = [react("f", {"a": 1}), react("f", {"a": [1]})]
    assert figures(react("f", {"a": [1]}), golds) == (1, 1, 0)
    assert figures(react("f", {"a": 1}), golds) == (1, 1, 1)


def test_a_gold_that_ftrl_cannot_read_is_refused():
    with pytest.raises(InvalidScenario, match=r"gold replies\[1\]"):
        rotbench_metrics("x", [react("f", {}), "Thought: no action"])
    with pytest.raises(InvalidScenario, match="JSON object"):
        rotbench_metrics("x", ["Action: f\nAction Input: [1]"])
    with pytest.raises(InvalidScenario, match="non-empty list"):
        rotbench_metrics("x", [])


_PIECES = st.sampled_from([
    "Action: ", "Action Input: ", "Action:", "Thought: ", "\n", " ", "get_translation_nllb",
    "get_translation_baidu", json.dumps(NLLB), '{"text": "See you later", "tgt_lang": "jp"}',
    '{"a": [1]}', "[1]", "{", "}", "<think>", "</think>", '"None"', "null",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text() | st.lists(_PIECES, max_size=10).map("".join))
def test_any_reply_scores_zero_or_one_with_cf_below_pi_below_ts(golds, reply):
    ts, pi, cf = figures(reply, golds)
    assert {ts, pi, cf} <= {0.0, 1.0}
    assert cf <= pi <= ts


# Reading RoTBench's files.


def test_the_clean_first_turn_file_loads_as_105_one_turn_scenarios(clean_file, items):
    scenarios = load_suite(clean_file)
    assert len(scenarios) == 105 == len({s.id for s in scenarios})
    assert [s.id for s in load_suite(clean_file)] == [s.id for s in scenarios]  # stable
    for scenario, item in zip(scenarios, items, strict=True):
        system, user, gold = item["conversations"]
        assert scenario.shape == "rotbench/first_turn/clean"
        assert scenario.messages == ({"role": "system", "content": system["value"]},
                                     {"role": "user", "content": user["value"]})
        assert scenario.question == user["value"].strip()
        assert scenario.grading == ReplyGrading(golds=tuple(gold["value"]))
        assert (scenario.tools, scenario.max_turns, scenario.match) == ((), 1, "ftrl")
        assert scenario.meta == {"id": item["id"], "scenario": item["scenario"]}


def test_replaying_the_first_gold_of_every_item_scores_full_marks(clean_file):
    scenarios = load_suite(clean_file)
    for scenario in scenarios:
        golds = scenario.grading.golds
        assert all(figures(gold, golds) == (1, 1, 1) for gold in golds), scenario.meta["id"]
    assert sum(figures(s.grading.golds[0], s.grading.golds)[2] for s in scenarios) == 105


def third_turn_item(item: dict) -> dict:
    """A Third_Turn item in RoTBench's shape: two earlier rounds of calls and results, then the golds."""
    system, user, gold = item["conversations"]
    return {
        "id": item["id"].replace("Turn 1", "Turn 3"),
        "conversations": [
            system, user,
            {"from": "assistant", "value": react("get_translation_nllb", {"input_text": "See you later"}, "Thought:")},
            {"from": "function", "value": "get_translation_nllb() missing 1 required positional argument: 'max_length'"},
            {"from": "assistant", "value": "Thought: I need to ask."},
            {"from": "function", "value": "'ja'"},
            gold,
        ],
        "scenario": item["scenario"],
    }


def test_a_third_turn_item_keeps_its_history_with_function_turns_as_tool_messages(items):
    scenario = scenario_from_rotbench(third_turn_item(items[0]), path="/data/Third_Turn/clean.json")
    assert scenario.shape == "rotbench/third_turn/clean"
    assert [m["role"] for m in scenario.messages] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert scenario.messages[3] == {
        "role": "tool", "name": "get_translation_nllb",
        "content": "get_translation_nllb() missing 1 required positional argument: 'max_length'",
    }
    assert scenario.messages[5] == {"role": "tool", "content": "'ja'"}  # the turn before names no action
    assert scenario.question == items[0]["conversations"][1]["value"].strip()


def test_a_data_folder_loads_every_file_in_its_turn_folders(tmp_path, clean_file, items):
    data = tmp_path / "Data"
    (data / "First_Turn").mkdir(parents=True)
    shutil.copy(clean_file, data / "First_Turn" / "clean.json")
    (data / "Third_Turn").mkdir()
    (data / "Third_Turn" / "heavy.json").write_text(json.dumps([third_turn_item(items[0])], indent=4))
    (data / ".cache").mkdir()
    (data / ".cache" / "clean.json").write_text("not a suite")  # hidden: left out
    (data / "README.md").write_text("# not a suite")
    scenarios = load_suite(data)
    assert [s.shape for s in scenarios] == ["rotbench/first_turn/clean"] * 105 + ["rotbench/third_turn/heavy"]
    assert scenarios[:105] == load_suite(clean_file)


def test_a_folder_without_suite_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(SuiteError, match="holds no suite file"):
        load_suite(tmp_path)


def ftrl_row(item: dict, **extra) -> dict:
    """FTRL's RoTBench row as its evaluation script reads it (the conversion itself is not public)."""
    system, user, gold = item["conversations"]
    return {"messages": [{"role": "system", "content": system["value"]}, {"role": "user", "content": user["value"]}],
            "answer": gold["value"], **extra}


def test_ftrl_rows_load_to_the_same_chat_and_golds(tmp_path, clean_file, items):
    path = tmp_path / "RoTBench.jsonl"
    path.write_text("".join(json.dumps(ftrl_row(item, data_source="RoTBench")) + "\n" for item in items))
    from_rows, from_items = load_suite(path), load_suite(clean_file)
    assert [s.grading for s in from_rows] == [s.grading for s in from_items]
    assert [s.messages for s in from_rows] == [s.messages for s in from_items]
    assert [s.question for s in from_rows] == [s.question for s in from_items]
    assert {s.shape for s in from_rows} == {"rotbench"}
    assert from_rows[0].meta == {"data_source": "RoTBench"} and from_rows[0].max_turns == 1


@pytest.mark.parametrize(("source", "shape"), [
    (None, "rotbench"), ("RoTBench", "rotbench"), ("RoTBench/First_Turn/Clean", "rotbench/first_turn/clean"),
    ("heavy", "rotbench/heavy"),
])
def test_an_ftrl_rows_shape_is_its_data_source(items, source, shape):
    extra = {} if source is None else {"data_source": source}
    assert scenario_from_rotbench(ftrl_row(items[0], **extra)).shape == shape


def test_the_dispatcher_tells_rotbench_rows_from_ftrls_other_rows(items):
    assert is_rotbench_item(items[0]) and row_format(items[0]).name == "rotbench"
    row = ftrl_row(items[0])
    assert is_ftrl_rotbench_row(row) and row_format(row).name == "rotbench"
    for other in ({"codes": "{}"}, {"unsolved_set": "{}"}, {"instruction": "x"}):
        assert not is_ftrl_rotbench_row({**row, **other})
    assert not is_ftrl_rotbench_row({**row, "answer": "Paris"})  # a ToolHop/FTRL answer string


def test_a_json_file_may_hold_one_row_or_json_lines(tmp_path, items):
    one = tmp_path / "one.json"
    one.write_text(json.dumps(items[0], indent=2))
    assert load_suite(one)[0].meta["id"] == items[0]["id"]
    lines = tmp_path / "lines.json"
    lines.write_text("".join(json.dumps(ftrl_row(item)) + "\n" for item in items[:3]))
    assert len(load_suite(lines)) == 3


def with_last_turn(item: dict, last) -> dict:
    return {**item, "conversations": [*item["conversations"][:-1], last]}


BROKEN = {
    "conversations not a list": (lambda item: {**item, "conversations": "hi"}, "'conversations' must be a non-empty list"),
    "an unknown role": (lambda item: {**item, "conversations": [{"from": "robot", "value": "x"}, *item["conversations"]]},
                        "conversations[0] must be an object whose 'from' is one of"),
    "golds not a list": (lambda item: with_last_turn(item, {"from": "assistant", "value": "Action: f"}),
                         "the list of gold replies"),
    "the last turn not the assistant's": (lambda item: {**item, "conversations": item["conversations"][:2]},
                                          "the list of gold replies"),
    "a gold without an Action": (lambda item: with_last_turn(item, {"from": "assistant", "value": [react("f", {}), "Thought: done"]}),
                                 "conversations[2].value[1] must be a string 'Thought: ...\\nAction: NAME"),
    "a gold whose input is not JSON": (lambda item: with_last_turn(item, {"from": "assistant", "value": ["Action: f\nAction Input: {x}"]}),
                                       "conversations[2].value[0] does not read as FTRL reads gold replies"),
    "a history value not a string": (lambda item: {**item, "conversations": [{"from": "system", "value": 3}, *item["conversations"][1:]]},
                                     "conversations[0].value must be a string"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_item_raises_a_suite_error_naming_file_and_item(tmp_path, items, case):
    breaks, expected = BROKEN[case]
    path = tmp_path / "First_Turn" / "clean.json"
    path.parent.mkdir()
    path.write_text(json.dumps([items[0], items[1], breaks(items[2])], indent=4))
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).startswith(f"{path}:item 2: ")
    assert expected in str(info.value)


def test_a_row_without_conversations_or_golds_is_refused_by_the_reader(items):
    with pytest.raises(InvalidScenario, match="needs 'conversations'"):
        scenario_from_rotbench({"id": items[0]["id"], "scenario": "TG"})
    with pytest.raises(InvalidScenario, match="'data_source' must be a string"):
        scenario_from_rotbench(ftrl_row(items[0], data_source=3))


def test_a_truncated_json_file_names_its_line(tmp_path, clean_file):
    path = tmp_path / "clean.json"
    path.write_text(clean_file.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    with pytest.raises(SuiteError, match=rf"^{path}:\d+: not valid JSON"):
        load_suite(path)


_VALUES = st.none() | st.integers() | st.text(max_size=20) | st.lists(st.text(max_size=30), max_size=3)
_TURNS = st.fixed_dictionaries({"from": st.sampled_from(["system", "user", "assistant", "function", "x"]) | _VALUES,
                                "value": _VALUES | _PIECES})


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "scenario", "conversations", "messages", "answer", "data_source"]),
                       _VALUES | st.lists(_TURNS, max_size=4), max_size=5))
def test_any_row_reads_or_raises_invalid_scenario(row):
    try:
        scenario = scenario_from_rotbench(row)
    except InvalidScenario:
        return
    assert scenario.max_turns == 1 and scenario.grading is not None and scenario.grading.golds
