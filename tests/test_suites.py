"""Suite files: JSONL and Parquet, ToolGym and FTRL rows, clear errors, and the paper's test set."""

import ast
import json
import shutil
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolgym
from toolgym import suites
from toolgym.agents import sample_arguments
from toolgym.error import InvalidScenario, SuiteError
from toolgym.ftrl import scenario_to_ftrl
from toolgym.oracle import format_calls
from toolgym.scenario import Scenario, ToolCall
from toolgym.suites import (
    FORMATS,
    RowFormat,
    load_suite,
    save_suite,
    scenario_to_row,
    to_hf_dataset,
)

SANDBOX_FAILURES = ("unknown tool", "timed out", "crashed", "broke the sandbox", "exceeded the",
                    "is not defined by the tool's code", "MemoryError")


@pytest.fixture(scope="module")
def generated():
    return toolgym.generate_suite(6, seed=2)


@pytest.fixture
def shop_copy(tmp_path, shop_suite):
    """The shop suite and its domain, copied to tmp_path: tests never write into the repository."""
    shutil.copytree(shop_suite.parent, tmp_path / "fixtures")
    return tmp_path / "fixtures" / shop_suite.name


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_generated_suite_round_trips_in_the_toolgym_format(tmp_path, generated, suffix):
    pytest.importorskip("pyarrow")
    path = tmp_path / f"suite{suffix}"
    assert save_suite(generated, path) == 6
    assert load_suite(path) == generated


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_the_papers_rows_round_trip_in_the_ftrl_format(tmp_path, ftrl_test_file, ftrl_rows, suffix):
    pytest.importorskip("pyarrow")
    path = tmp_path / f"ftrl{suffix}"
    save_suite(load_suite(ftrl_test_file), path, format="ftrl")
    assert [scenario_to_ftrl(s) for s in load_suite(path)] == ftrl_rows
    if suffix == ".jsonl":
        assert path.read_bytes() == ftrl_test_file.read_bytes()


def test_one_file_may_mix_toolgym_scenarios_and_ftrl_rows(tmp_path, generated):
    path = tmp_path / "mixed.jsonl"
    lines = [generated[0].model_dump_json(), json.dumps(scenario_to_ftrl(generated[1])),
             json.dumps({"scenario": generated[2].model_dump_json()})]
    path.write_text("\n".join(lines) + "\n\n")
    loaded = load_suite(path)
    assert loaded[0] == generated[0] and loaded[2] == generated[2]
    assert loaded[1].match == "ftrl" and loaded[1].sub_answers() == generated[1].sub_answers()


def test_an_unknown_format_is_refused_with_a_suggestion(tmp_path, generated):
    with pytest.raises(SuiteError, match="Did you mean 'ftrl'"):
        save_suite(generated, tmp_path / "x.jsonl", format="frtl")


def test_a_stateful_suite_saved_elsewhere_still_finds_its_domain(tmp_path, shop_copy):
    scenarios = load_suite(shop_copy)
    out = tmp_path / "elsewhere" / "shop_copy.jsonl"
    save_suite(scenarios, out, format="ftrl")
    assert [s.task for s in load_suite(out)] == [s.task for s in scenarios]
    assert json.loads(out.read_text().splitlines()[0])["data_source"] == "../fixtures/shop/orders"
    same_dir = shop_copy.parent / "same_dir.jsonl"
    save_suite(scenarios, same_dir, format="ftrl")
    assert same_dir.read_text() == shop_copy.read_text()  # beside the domain: the rows come back unchanged


def test_scenario_to_row_writes_each_scenario_in_its_kind_of_row(shop_suite, generated):
    stateful_row = scenario_to_row(load_suite(shop_suite)[0], "ftrl")
    assert stateful_row == json.loads(shop_suite.read_text().splitlines()[0])
    assert "codes" in scenario_to_row(generated[0], "ftrl")
    assert scenario_to_row(generated[0]) == generated[0].model_dump(mode="json")
    with pytest.raises(SuiteError, match="Did you mean 'ftrl'"):
        scenario_to_row(generated[0], "frtl")


def test_a_new_row_format_is_one_entry_in_the_table(tmp_path, generated, monkeypatch):
    def read(row, *, base_dir=None):
        return Scenario.model_validate_json(row["mine"])

    def write(scenario, *, base_dir=None):
        return {"mine": scenario.model_dump_json()}

    entry = RowFormat("mine", lambda row: "mine" in row, read, write)
    monkeypatch.setattr(suites, "ROW_FORMATS", (entry, *suites.ROW_FORMATS))
    monkeypatch.setattr(suites, "FORMATS", (*FORMATS, "mine"))
    path = tmp_path / "mine.jsonl"
    save_suite(generated, path, format="mine")
    assert json.loads(path.read_text().splitlines()[0]) == {"mine": generated[0].model_dump_json()}
    assert load_suite(path) == generated


def test_to_hf_dataset_holds_conversational_prompts_and_the_scenario(tmp_path):
    pytest.importorskip("datasets")
    scenarios = toolgym.generate_suite(3, seed=1)
    ds = to_hf_dataset(scenarios)
    assert len(ds) == 3
    assert ds[0]["prompt"] == [{"role": m["role"], "content": m["content"]} for m in scenarios[0].messages]
    assert json.loads(ds[1]["tools"]) == scenarios[1].tool_docs
    assert Scenario.model_validate_json(ds[2]["scenario"]) == scenarios[2]
    ds.to_parquet(str(tmp_path / "ds.parquet"))
    assert load_suite(tmp_path / "ds.parquet") == scenarios  # the dataset is a suite file too


def imported_modules(module) -> set[str]:
    """Every module that ``module``'s source imports, at the top or inside functions."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
    return names


def test_the_row_format_modules_know_nothing_of_each_other_nor_of_the_dispatcher():
    formats = {fmt.read.__module__ for fmt in suites.ROW_FORMATS} - {"toolgym.suites"}
    assert formats == {"toolgym.ftrl", "toolgym.stateful", "toolgym.rotbench", "toolgym.toolhop"}
    for name in formats:
        assert not imported_modules(sys.modules[name]) & (formats | {"toolgym.suites"}) - {name}, name


def test_a_row_with_a_bookkeeping_column_is_refused():
    row = {**scenario_to_ftrl(toolgym.generate_suite(1, seed=0)[0]), "ftrl_raw": {}}
    with pytest.raises(InvalidScenario, match="'ftrl_raw' is reserved"):
        suites.row_to_scenario(row)


BROKEN = {
    "truncated_json": ('{"id": "a", "shape": "single_hop"\n', ":1: not valid JSON (a truncated line?)"),
    "not_an_object": ('[1, 2]\n', ":1: expected a JSON object, got list"),
    "wrong_types": ('\n{"id": 3, "shape": "x", "question": "q", "messages": [], "tools": []}\n',
                    ":2: not a valid ToolGym scenario: field 'id'"),
    "ftrl_wrong_types": ('{"messages": "hi", "codes": "{}", "unsolved_set": "{}"}\n', ":1: FTRL field 'messages'"),
    "ftrl_bad_json": ('{"messages": [], "tools": "[", "codes": "{}", "unsolved_set": "{}"}\n',
                      ":1: FTRL field 'tools' is not valid JSON"),
    "empty_file": ("", ":1: the suite holds no scenario"),
    "blank_lines": ("\n  \n", ":1: the suite holds no scenario"),
    "missing_domain": ('{"instruction": "hi", "actions": [], "outputs": [], "data_source": "nowhere/x"}\n',
                       ":1: No domain directory at"),
    "bad_action": ('{"instruction": "hi", "actions": [{"function": {"name": "get_order", "arguments": "{"}}], '
                   '"outputs": [], "data_source": "shop/orders"}\n', ':1: actions[0] is not a tool call: "arguments" is a string that is not JSON'),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_suite_file_raises_a_suite_error_naming_file_and_line(tmp_path, shop_copy, case):
    text, expected = BROKEN[case]
    path = shop_copy.parent / f"broken_{case}.jsonl"  # beside the shop domain
    path.write_text(text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).startswith(f"{path}:")
    assert expected in str(info.value)


def test_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(SuiteError, match="toolgym generate"):
        load_suite(tmp_path / "none.jsonl")


def test_a_corrupt_parquet_file_raises_a_suite_error(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(SuiteError, match="not a readable Parquet file"):
        load_suite(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=40) | st.builds(json.dumps, st.dictionaries(
    st.sampled_from(["id", "messages", "codes", "unsolved_set", "instruction", "actions", "tools"]),
    st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2), max_size=4)),
    max_size=4))
def test_any_garbage_file_loads_or_raises_a_suite_error_with_its_line(tmp_path, lines):
    path = tmp_path / "garbage.jsonl"
    path.write_text("\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines), encoding="utf-8")
    try:
        load_suite(path)
    except SuiteError as exc:
        assert str(exc).startswith(f"{path}:")


def test_the_suite_env_picks_scenarios_by_seed_and_by_index(tmp_path, generated):
    path = tmp_path / "suite.jsonl"
    save_suite(generated, path)
    env = gym.make("ToolGym/Suite-v0", path=str(path))
    first = [env.reset(seed=s)[1]["scenario_id"] for s in range(5)]
    assert first == [env.reset(seed=s)[1]["scenario_id"] for s in range(5)]
    assert env.reset(options={"index": 4})[1]["scenario_id"] == generated[4].id
    env.close()


def test_the_papers_test_set_loads_completely_and_every_tool_is_callable(ftrl_test_file):
    scenarios = load_suite(ftrl_test_file)
    assert len(scenarios) == 200 and sum(len(s.tools) for s in scenarios) > 1000
    env = gym.make("ToolGym/Suite-v0", path=str(ftrl_test_file))
    for i, scenario in enumerate(scenarios):
        obs, _ = env.reset(options={"index": i})
        calls = [ToolCall(name=t.name, arguments=sample_arguments(t.doc.parameters)) for t in scenario.tools]
        obs, *_ = env.step(format_calls(calls))
        outputs = [m["content"] for m in obs["messages"] if m["role"] == "tool"]
        assert len(outputs) == len(calls)
        for call, output in zip(calls, outputs, strict=True):
            where = f"{scenario.id} ({scenario.shape}) {call.name}: {output[:200]}"
            assert not output.startswith("Error: Invalid arguments"), where  # our validator let it through
            assert not any(failure in output for failure in SANDBOX_FAILURES), where
    env.close()
