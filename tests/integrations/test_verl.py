"""verl: exported rows follow verl's convention, and compute_score equals FTRL's reward formulas."""

from __future__ import annotations

import ast
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolgym.agents import sample_arguments
from toolgym.error import InvalidScenario
from toolgym.evaluate import play_episode
from toolgym.ftrl import scenario_from_ftrl
from toolgym.generate import generate_suite
from toolgym.integrations.verl import VERL_COLUMNS, compute_score, export_verl, verl_rows
from toolgym.oracle import OracleAgent, format_calls
from toolgym.reward import REWARD_VARIANTS
from toolgym.scenario import ToolCall
from toolgym.tools.sandbox import SandboxRuntime
from toolgym.tools.validation import ArgumentValidator

# -- FTRL's reward, written out again from bytedance/FTRL Code/verl/utils/reward_score/tool.py ----


def ftrl_parse_qwen(text: str) -> tuple[str, list[tuple[str, str]]]:
    """FTRL's ``parse_qwen``: (content, [(name, arguments JSON)]); blocks that fail are skipped."""
    start = text.find("<tool_call>")
    if start == -1:
        return text.strip(), []
    calls = []
    for block in text[start:].split("</tool_call>"):
        block = block.strip()
        if not block.startswith("<tool_call>"):
            continue
        try:
            call = json.loads(block.lstrip("<tool_call>").strip())  # noqa: B005 (FTRL strips a character set)
            if call.get("name"):
                arguments = call["arguments"]
                arguments = arguments if isinstance(arguments, dict) else json.loads(arguments)
                calls.append((call["name"], json.dumps(arguments, ensure_ascii=False)))
        except Exception:
            pass
    return (text[:start].strip() if calls else text.strip()), calls


def ftrl_answer_verify(predict: str, golden: str) -> bool:
    predict = predict.lower().replace(",", "").strip()
    return all(item.lower().replace(",", "").strip() in predict for item in golden.split(", "))


def ftrl_score(response: str, run, unsolved_set: dict, solve_rate: float, answer: str, variant: str) -> float:
    """``compute_solve_<variant>`` for split "train"; ``run(name, arguments JSON)`` is get_feedback."""
    unsolved = {k: list(v) for k, v in unsolved_set.items()}
    unsolved_cnt = sum(len(v) for v in unsolved.values())
    response = response.strip().removesuffix("<|endoftext|>").strip().removesuffix("<|im_end|>").strip()
    content, calls = ftrl_parse_qwen(response)
    if calls:
        tmp = 0
        for name, arguments in calls:
            output = run(name, arguments)
            answers = unsolved.get(name, [])
            for gold in answers:
                if ftrl_answer_verify(output, gold):
                    answers.remove(gold)
                    tmp += 1
                    break
        p = len(calls)
        return {"f1": 2 * tmp / (p + 1), "precision": tmp / p, "rate": float(tmp), "pr": tmp * tmp / p}[variant]
    if content == "":
        return -0.5
    if any(tag in content for tag in ("<tool_call>", "</tool_call>", "<tool_parsed_response>")):
        return -0.3
    if answer.lower().replace(",", "").strip() in content.lower().replace(",", "").strip():
        return 1 / (1 + unsolved_cnt)
    return 0.5 if solve_rate == 1.0 else 0.0


class Feedback:
    """FTRL's ``get_feedback`` over a row's ``codes``: the source runs (here in ToolGym's sandbox,
    the same source FTRL ``exec``s), an unknown tool or a raising tool gives an error text."""

    def __init__(self) -> None:
        self.runtime = SandboxRuntime({})

    def load(self, codes: dict) -> None:
        self.runtime.reset(codes)
        self.codes = codes

    def __call__(self, name: str, arguments: str) -> str:
        if name not in self.codes:
            return f"an error occured when call {name}: {name!r}"
        return self.runtime.call(name, json.loads(arguments)).text


@pytest.fixture(scope="module")
def feedback():
    runner = Feedback()
    yield runner
    runner.runtime.close()


# -- responses ----------------------------------------------------------------------------------


def _literals(code: str) -> list[str]:
    """Short string constants of a tool's source: the values its lookups answer for."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return sorted(s for s in found if 0 < len(s) <= 40 and "\n" not in s)


def _callable_tools(scenario) -> list:
    """Tools whose schema is usable and whose first sampled arguments pass ToolGym's check."""
    validator = ArgumentValidator([t.doc for t in scenario.tools])
    usable = []
    for tool in scenario.tools:
        try:
            if validator.check(tool.name, sample_arguments(tool.doc.parameters)) is None:
                usable.append(tool)
        except InvalidScenario:
            pass
    return usable


@st.composite
def call_of(draw, tool, words: list[str], validator: ArgumentValidator) -> ToolCall:
    """Schema-valid arguments, their strings often taken from the tool's code or the question."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arguments = sample_arguments(tool.doc.parameters, rng)
    if validator.check(tool.name, arguments) is not None:
        arguments = sample_arguments(tool.doc.parameters)
    properties = tool.doc.parameters.get("properties", {})
    for name, schema in properties.items():
        if schema.get("type") == "string" and "enum" not in schema and words and draw(st.booleans()):
            trial = {**arguments, name: draw(st.sampled_from(words))}
            if validator.check(tool.name, trial) is None:
                arguments = trial
    return ToolCall(name=tool.name, arguments=arguments)


def _final_texts(answer: str) -> st.SearchStrategy[str]:
    return st.sampled_from([
        f"The answer is {answer}.", answer.upper().replace(",", ""), f"<answer>{answer}</answer>",
        "I could not find it.", "", "   ", "<tool_call>{not json</tool_call>", "see </tool_call>",
        f"{answer[: max(1, len(answer) // 2)]}", "<tool_parsed_response>",
    ])


@st.composite
def responses(draw, tools: list, words: list[str], validator: ArgumentValidator, answer: str,
              gold: list[ToolCall] = ()) -> str:
    """A model response: tool calls (gold, sampled, unknown, malformed) or a final reply."""
    end = draw(st.sampled_from(["", "<|im_end|>", "<|endoftext|>"]))
    if not tools or draw(st.integers(0, 3)) == 0:
        return draw(_final_texts(answer)) + end
    calls = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 9))
        if gold and kind < 4:
            calls.append(draw(st.sampled_from(list(gold))))
        elif kind == 9:
            calls.append(ToolCall(name="no_such_tool", arguments={}))
        else:
            calls.append(draw(call_of(draw(st.sampled_from(tools)), words, validator)))
    text = format_calls(calls, content=draw(st.sampled_from(["", "Let me look that up."])))
    if draw(st.integers(0, 5)) == 0:  # a block that does not parse, beside the good ones
        text += "\n<tool_call>\n{\"name\": \"broken\", \"arguments\": \n</tool_call>"
    return text + end


# -- the paper's test set -----------------------------------------------------------------------


def _credit_calls(scenario, codes: dict, feedback: Feedback, validator: ArgumentValidator) -> list[ToolCall]:
    """Calls that obtain a sub-answer, found by trying the strings of each tool's code as one
    argument (FTRL rows carry sub-answers but no gold calls); at most one per tool."""
    unsolved = scenario.sub_answers()
    feedback.load(codes)
    found = []
    for tool in _callable_tools(scenario):
        base = sample_arguments(tool.doc.parameters)
        strings = [n for n, s in tool.doc.parameters.get("properties", {}).items()
                   if n in base and s.get("type") == "string" and "enum" not in s]
        trials = ({**base, name: word} for name in strings for word in _literals(codes[tool.name])[:80])
        for arguments in trials if tool.name in unsolved else ():
            if validator.check(tool.name, arguments) is None and any(
                ftrl_answer_verify(feedback(tool.name, json.dumps(arguments)), gold) for gold in unsolved[tool.name]
            ):
                found.append(ToolCall(name=tool.name, arguments=arguments))
                break
    return found


@pytest.fixture(scope="module")
def ftrl_case(ftrl_rows, feedback):
    """Row index -> (row, its verl row, callable tools, words, validator, credit calls), built on use."""
    cases = {}

    def case(index: int):
        if index not in cases:
            row = ftrl_rows[index]
            scenario = scenario_from_ftrl(row)
            codes = json.loads(row["codes"])
            words = sorted({w for code in codes.values() for w in _literals(code)} | set(scenario.question.split()))
            validator = ArgumentValidator([t.doc for t in scenario.tools])
            credit = _credit_calls(scenario, codes, feedback, validator)
            cases[index] = (row, verl_rows(scenario)[0], _callable_tools(scenario), words, validator, credit)
        return cases[index]

    return case


@settings(max_examples=160, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), index=st.integers(0, 199), variant=st.sampled_from(REWARD_VARIANTS))
def test_scores_of_any_response_on_the_papers_test_set_equal_ftrls_formula(
    data, index, variant, ftrl_case, feedback
):
    row, verl_row, tools, words, validator, credit = ftrl_case(index)
    response = data.draw(responses(tools, words, validator, row["answer"], credit))
    feedback.load(json.loads(row["codes"]))
    expected = ftrl_score(response, feedback, json.loads(row["unsolved_set"]), row["solve_rate"], row["answer"], variant)
    score = compute_score(verl_row["data_source"], response, verl_row["reward_model"]["ground_truth"],
                          verl_row["extra_info"], variant=variant)
    assert score == pytest.approx(expected)


def test_calls_that_obtain_sub_answers_of_the_papers_test_set_score_as_ftrls_formula(ftrl_case, feedback):
    positive = 0
    for index in range(60):
        row, verl_row, tools, _, _, credit = ftrl_case(index)
        other = [ToolCall(name=t.name, arguments=sample_arguments(t.doc.parameters)) for t in tools[:2]]
        for calls in ([*credit], [*credit, *credit], [*other, *credit]) if credit else ():
            response = format_calls(calls)
            feedback.load(json.loads(row["codes"]))
            expected = ftrl_score(response, feedback, json.loads(row["unsolved_set"]), row["solve_rate"], row["answer"], "f1")
            score = compute_score(verl_row["data_source"], response, row["answer"], verl_row["extra_info"])
            assert score == pytest.approx(expected)
            positive += expected > 0
    assert positive >= 30  # a third of the first 60 rows have such a call (measured: 15 rows)


# -- generated scenarios: gold calls give credit; prefixes carry the remaining sub-answers -------


@pytest.fixture(scope="module")
def prefix_cases():
    cases = []
    for scenario in generate_suite(12, seed=3):
        validator = ArgumentValidator([t.doc for t in scenario.tools])
        words = sorted({str(v) for t in scenario.tools for r in getattr(t.impl, "records", {}).values()
                        for v in r.values()} | set(scenario.question.split()))
        gold = [s.call for s in scenario.subtasks]
        for row in verl_rows(scenario, prefixes=True):
            cases.append((row, list(scenario.tools), words, validator, gold))
    return cases


@settings(max_examples=160, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), pick=st.integers(0, 10**6), variant=st.sampled_from(REWARD_VARIANTS))
def test_scores_at_any_prefix_with_gold_calls_equal_ftrls_formula_on_the_remaining_sub_answers(
    data, pick, variant, prefix_cases, feedback
):
    row, tools, words, validator, gold = prefix_cases[pick % len(prefix_cases)]
    response = data.draw(responses(tools, words, validator, row["answer"], gold))
    feedback.load(json.loads(row["codes"]))  # FTRL runs the rendered sources of generated tools
    expected = ftrl_score(response, feedback, json.loads(row["unsolved_set"]), row["solve_rate"], row["answer"], variant)
    score = compute_score(row["data_source"], response, row["reward_model"]["ground_truth"], row["extra_info"],
                          variant=variant, match="ftrl")
    assert score == pytest.approx(expected)


def test_the_oracles_next_turn_at_every_prefix_scores_what_the_env_gave_it():
    import gymnasium as gym

    for scenario in generate_suite(8, seed=1):
        env = gym.make("ToolGym/Suite-v0", scenarios=[scenario])
        record = play_episode(env, OracleAgent(), options={"index": 0})
        env.close()
        rows = verl_rows(scenario, prefixes=True)
        assert len(rows) == len(record["rewards"])  # a row before every turn
        for row, action, reward in zip(rows, record["actions"], record["rewards"], strict=True):
            score = compute_score(row["data_source"], action, row["reward_model"]["ground_truth"], row["extra_info"])
            assert score == pytest.approx(reward)


def test_ftrls_own_row_fields_in_extra_info_score_without_a_toolgym_scenario(ftrl_rows, feedback):
    row = ftrl_rows[0]
    extra = {k: row[k] for k in ("tools", "codes", "unsolved_set")}
    tool = json.loads(row["unsolved_set"])
    name = next(iter(tool))
    response = format_calls([ToolCall(name=name, arguments={})])
    feedback.load(json.loads(row["codes"]))
    assert compute_score(row["data_source"], f"It is {row['answer']}", row["answer"], extra) == pytest.approx(
        ftrl_score(f"It is {row['answer']}", feedback, tool, 0.0, row["answer"], "f1"))
    assert compute_score(row["data_source"], response, row["answer"], extra) == pytest.approx(0.0)


# -- the rows -----------------------------------------------------------------------------------


def test_exported_parquet_has_verls_columns_and_a_row_per_prefix(tmp_path):
    import pyarrow.parquet as pq

    scenarios = generate_suite(3, seed=0)
    path = tmp_path / "train.parquet"
    count = export_verl(scenarios, path, prefixes=True)
    rows = pq.read_table(path).to_pylist()
    assert count == len(rows) == sum(len(verl_rows(s, prefixes=True)) for s in scenarios)
    assert all(list(row) == list(VERL_COLUMNS) for row in rows)
    assert [row["extra_info"]["index"] for row in rows] == list(range(len(rows)))
    for row in rows:
        scenario = next(s for s in scenarios if s.id == row["extra_info"]["id"])
        assert row["data_source"] == f"toolgym/{scenario.shape}" and row["ability"] == "tool_use"
        assert row["reward_model"] == {"style": "rule", "ground_truth": scenario.answer}
        assert json.loads(row["tools"]) == scenario.tool_docs
        turn = row["extra_info"]["turn"]
        assert len(row["extra_info"]["actions"]) == turn
        assert sum(m["role"] == "assistant" for m in row["prompt"]) == turn
        remaining = sum(len(v) for v in json.loads(row["unsolved_set"]).values())
        assert row["solve_rate"] == pytest.approx(1 - remaining / len(scenario.subtasks))
    last = [r for r in rows if r["extra_info"]["id"] == scenarios[0].id][-1]
    assert last["solve_rate"] == 1.0 and last["prompt"][-1]["role"] == "tool"
    call = next(m for m in last["prompt"] if m["tool_calls"])["tool_calls"][0]
    assert isinstance(json.loads(call["function"]["arguments"]), dict)


def test_tools_in_prompt_puts_the_schemas_in_the_system_message_and_scores_the_same():
    scenario = generate_suite(1, seed=4)[0]
    plain, inline = verl_rows(scenario, prefixes=True), verl_rows(scenario, prefixes=True, tools_in_prompt=True)
    for a, b in zip(plain, inline, strict=True):
        system = b["prompt"][0]
        assert system["role"] == "system" and system["content"].startswith(a["prompt"][0]["content"])
        assert all(json.dumps(doc, ensure_ascii=False) in system["content"] for doc in scenario.tool_docs)
        assert b["prompt"][1:] == a["prompt"][1:] and b["extra_info"] == a["extra_info"]
    row = verl_rows(scenario_from_ftrl(_ftrl_like_row()), tools_in_prompt=True)[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]  # a system message is added


def _ftrl_like_row() -> dict:
    tools = [{"type": "function", "function": {"name": "f", "description": "", "parameters": {"type": "object", "properties": {}}}}]
    return {"messages": [{"role": "user", "content": "Question: Who?"}], "tools": json.dumps(tools),
            "codes": json.dumps({"f": "def f():\n    return 'Ann'"}), "unsolved_set": json.dumps({"f": ["Ann"]}),
            "answer": "Ann", "solve_rate": 0.0, "data_source": "self/single_hop", "split": "test"}


def test_the_papers_rows_export_with_their_own_columns(ftrl_rows, tmp_path):
    scenarios = [scenario_from_ftrl(row) for row in ftrl_rows[:4]]
    export_verl(scenarios, tmp_path / "rows.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    for row, original in zip(rows, ftrl_rows, strict=False):
        assert row["data_source"] == original["data_source"]
        assert row["prompt"][0]["content"] == original["messages"][0]["content"]
        for key in ("tools", "codes", "unsolved_set", "solve_rate", "split", "answer"):
            assert row[key] == original[key]


def test_prefixes_of_a_row_without_gold_calls_and_stateful_tasks_are_refused_with_the_reason(ftrl_rows, shop_suite):
    from toolgym.suites import load_suite

    with pytest.raises(InvalidScenario, match="--prefixes needs oracle transcripts"):
        verl_rows(scenario_from_ftrl(ftrl_rows[0]), prefixes=True)
    with pytest.raises(InvalidScenario, match="stateful task"):
        verl_rows(load_suite(shop_suite)[0])


def test_a_row_whose_answer_was_changed_or_that_holds_no_scenario_is_refused():
    row = verl_rows(generate_suite(1, seed=0)[0])[0]
    with pytest.raises(InvalidScenario, match="changed after export"):
        compute_score(row["data_source"], "<answer>x</answer>", "another answer", row["extra_info"])
    with pytest.raises(InvalidScenario, match="toolgym export --format verl"):
        compute_score(row["data_source"], "<answer>x</answer>", "x", {"index": 0})


# -- the command line ---------------------------------------------------------------------------


def test_toolgym_export_writes_verl_rows_and_refuses_prefixes_without_gold_calls(tmp_path, ftrl_test_file, capsys):
    import pyarrow.parquet as pq

    from toolgym.cli import main

    out = tmp_path / "train.parquet"
    assert main(["export", "--suite", "gen:3:0", "--format", "verl", "--prefixes", "-o", str(out)]) == 0
    rows = pq.read_table(out).to_pylist()
    assert f"wrote {len(rows)} verl rows (3 scenarios)" in capsys.readouterr().out
    assert [r["extra_info"]["turn"] for r in rows] == [r["extra_info"]["turn"] for s in generate_suite(3, seed=0)
                                                       for r in verl_rows(s, prefixes=True)]
    assert main(["export", "--suite", str(ftrl_test_file), "--prefixes", "-o", str(tmp_path / "x.parquet")]) == 2
    assert "--prefixes needs oracle transcripts" in capsys.readouterr().err
