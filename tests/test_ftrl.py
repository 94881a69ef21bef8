"""FTRL rows <-> scenarios, and scoring that equals FTRL's own formulas on the same trajectories."""

import json

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolgym
from toolgym.agents import sample_arguments
from toolgym.error import InvalidScenario
from toolgym.ftrl import FTRL_KEYS, scenario_from_ftrl, scenario_to_ftrl
from toolgym.oracle import format_calls
from toolgym.reward import REWARD_VARIANTS, score_trajectory
from toolgym.scenario import Scenario, SourceImpl, ToolCall

# -- FTRL's reference formulas, written out again from its code (DESIGN.md) --------------------


def ftrl_answer_verify(predict: str, golden: str) -> bool:
    predict = predict.lower().replace(",", "").strip()
    return all(item.lower().replace(",", "").strip() in predict for item in golden.split(", "))


def ftrl_reference(unsolved_set: dict, answer: str, turns: list, final: str | None, variant: str):
    """Per-turn rewards and (Solve-P, Solve-R, Solve-F1) as FTRL computes them."""
    unsolved = {k: list(v) for k, v in unsolved_set.items()}
    total = sum(len(v) for v in unsolved.values())
    rewards, calls = [], 0
    for turn in turns:
        q = 0
        for name, output in turn:
            answers = unsolved.get(name, [])
            for gold in answers:
                if ftrl_answer_verify(output, gold):
                    answers.remove(gold)
                    q += 1
                    break
        p = len(turn)
        calls += p
        rewards.append({"f1": 2 * q / (p + 1), "precision": q / p, "rate": float(q), "pr": q * q / p}[variant])
    remaining = sum(len(v) for v in unsolved.values())
    if final is not None:
        if final == "":
            rewards.append(-0.5)
        elif any(tag in final for tag in ("<tool_call>", "</tool_call>", "<tool_parsed_response>")):
            rewards.append(-0.3)
        elif answer.lower().replace(",", "").strip() in final.lower().replace(",", "").strip():
            rewards.append(1 / (1 + remaining))
        elif remaining == 0:
            rewards.append(0.5)
        else:
            rewards.append(0.0)
    solved = total - remaining
    metrics = (solved / calls if calls else 1.0, solved / total, 2 * solved / (calls + total))
    return rewards, metrics


def transcript(question: str, turns: list, final: str | None) -> list[dict]:
    messages = [{"role": "user", "content": question}]
    for t, turn in enumerate(turns):
        ids = [f"call_{t}_{i}" for i in range(len(turn))]
        messages.append({"role": "assistant", "content": "", "tool_calls": [
            {"id": i, "type": "function", "function": {"name": name, "arguments": "{}"}}
            for i, (name, _) in zip(ids, turn, strict=True)]})
        messages += [{"role": "tool", "tool_call_id": i, "content": out} for i, (_, out) in zip(ids, turn, strict=True)]
    if final is not None:
        messages.append({"role": "assistant", "content": final})
    return messages


def make_row(names: list[str], unsolved: dict, answer: str, **extra) -> dict:
    specs = [{"type": "function", "function": {"name": n, "description": f"The {n} tool.",
              "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}
             for n in names]
    codes = {n: f"def {n}(q):\n    return 'echo ' + q\n" for n in names}
    row = {"messages": [{"role": "user", "content": "Answer with tools.\nQuestion: What is it?"}],
           "tools": json.dumps(specs), "codes": json.dumps(codes), "unsolved_set": json.dumps(unsolved),
           "solve_rate": 0.0, "data_source": "self/multi_hop", "split": "test", "answer": answer}
    return {**row, **extra}


# -- conversion ---------------------------------------------------------------------------------


def test_a_row_becomes_a_scenario_with_source_tools_and_sub_answers():
    row = make_row(["city_lookup", "calc"], {"city_lookup": ["Paris"], "calc": ["1,024", "7"]}, "1,031")
    scenario = scenario_from_ftrl(row)
    assert scenario.question == "What is it?"
    assert scenario.shape == "self/multi_hop" and scenario.match == "ftrl"
    assert [t.name for t in scenario.tools] == ["city_lookup", "calc"]
    assert all(isinstance(t.impl, SourceImpl) for t in scenario.tools)
    assert [(s.tool, s.answer, s.call) for s in scenario.subtasks] == [
        ("city_lookup", "Paris", None), ("calc", "1,024", None), ("calc", "7", None)]
    assert scenario.messages == tuple(row["messages"])
    assert scenario.meta == {"solve_rate": 0.0, "data_source": "self/multi_hop", "split": "test"}


def test_the_question_is_the_whole_last_user_message_when_it_has_no_marker():
    row = make_row(["f"], {"f": ["x"]}, "x")
    row["messages"] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " Who won? "}]
    assert scenario_from_ftrl(row).question == "Who won?"


def test_every_row_of_the_papers_test_set_round_trips_byte_for_byte(ftrl_rows):
    for row in ftrl_rows:
        scenario = scenario_from_ftrl(row)
        again = scenario_to_ftrl(Scenario.model_validate_json(scenario.model_dump_json()))
        assert json.dumps(again, ensure_ascii=False) == json.dumps(row, ensure_ascii=False)
        assert "ftrl_raw" not in scenario.meta  # nothing odd: the scenario's own fields suffice


def test_the_papers_test_set_has_fifty_environments_per_shape(ftrl_rows):
    shapes = [scenario_from_ftrl(row).shape for row in ftrl_rows]
    assert len(shapes) == 200
    assert {s: shapes.count(s) for s in set(shapes)} == {
        f"self/{shape}": 50 for shape in toolgym.SHAPES}


def test_a_row_with_a_broken_field_is_refused_with_its_name():
    with pytest.raises(InvalidScenario, match="'tools' is not valid JSON"):
        scenario_from_ftrl(make_row(["f"], {"f": ["x"]}, "x", tools="[{"))
    with pytest.raises(InvalidScenario, match="'unsolved_set' must hold a JSON object"):
        scenario_from_ftrl(make_row(["f"], {"f": ["x"]}, "x", unsolved_set="[1]"))
    with pytest.raises(InvalidScenario, match="'messages'"):
        scenario_from_ftrl(make_row(["f"], {"f": ["x"]}, "x", messages="hi"))


def test_stateful_rows_and_scenarios_belong_to_another_format(shop_suite):
    row = json.loads(shop_suite.read_text().splitlines()[0])
    with pytest.raises(InvalidScenario, match="FTRL field 'messages'"):
        scenario_from_ftrl(row)
    stateful_scenario = toolgym.load_suite(shop_suite)[0]
    with pytest.raises(InvalidScenario, match="scenario_to_row"):
        scenario_to_ftrl(stateful_scenario)


def test_a_generated_scenario_becomes_a_row_whose_tools_answer_the_gold_calls():
    scenario = toolgym.generate_suite(1, seed=5)[0]
    row = scenario_to_ftrl(scenario)
    assert list(row) == [*FTRL_KEYS, "extra_info"]
    assert row["extra_info"] == {"id": scenario.id, **scenario.meta}
    assert row["data_source"] == f"toolgym/{scenario.shape}"
    assert (row["split"], row["solve_rate"]) == ("train", 0.0)
    assert json.loads(row["unsolved_set"]) == scenario.sub_answers()
    assert list(json.loads(row["codes"])) == [t.name for t in scenario.tools]
    imported = scenario_from_ftrl(row)
    assert imported.id == scenario.id
    env = gym.make("ToolGym/Suite-v0", scenarios=[imported])
    env.reset(options={"index": 0})
    for sub in scenario.subtasks:  # the rendered sources answer the gold calls as the originals do
        *_, info = env.step(format_calls([sub.call]))
    assert info["solved"] == info["sub_answers"] == len(scenario.subtasks)
    env.close()


# -- any FTRL-like row survives FTRL -> Scenario -> FTRL ----------------------------------------

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_names = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def ftrl_like_rows(draw) -> dict:
    names = draw(st.lists(_names, max_size=4, unique=True))
    specs = []
    for name in names:
        fn = {"name": name, "description": draw(_text),
              "parameters": {"type": "object", "properties": {p: {"type": "string"} for p in draw(
                  st.lists(_names, max_size=3, unique=True))}}}
        if draw(st.booleans()):
            fn = dict(reversed(list(fn.items())))  # another key order
        if draw(st.integers(0, 4)) == 0:
            fn.pop("description")
        specs.append({"type": "function", "function": fn} if draw(st.integers(0, 4)) else fn)
    codes = {n: f"def {n}():\n    return {draw(_text)!r}\n" for n in draw(st.permutations(names))}
    if draw(st.integers(0, 4)) == 0:
        codes["orphan"] = "x = 1"
    answers = st.lists(_text | st.integers(), max_size=3) if draw(st.integers(0, 4)) == 0 else st.lists(_text, max_size=3)
    unsolved = {n: draw(answers) for n in draw(st.lists(st.sampled_from(names), unique=True)) } if names else {}
    row = {
        "messages": draw(st.lists(st.fixed_dictionaries(
            {"role": st.sampled_from(["system", "user", "assistant"]), "content": _text}), min_size=1, max_size=3)),
        "tools": json.dumps(specs, ensure_ascii=draw(st.booleans())),
        "codes": json.dumps(codes, ensure_ascii=draw(st.booleans())),
        "unsolved_set": json.dumps(unsolved, ensure_ascii=draw(st.booleans())),
        "solve_rate": draw(st.floats(0, 1) | st.integers(0, 1)),
        "data_source": draw(st.sampled_from([f"self/{s}" for s in toolgym.SHAPES]) | _text),
        "split": draw(st.sampled_from(["train", "test"])),
        "answer": draw(_text | st.integers() | st.none()),
    }
    for key in draw(st.lists(st.sampled_from(["solve_rate", "data_source", "split", "answer", "tools"]), unique=True)):
        del row[key]
    for key in draw(st.lists(st.sampled_from(["id", "extra_info", "reward_model", "ability"]), unique=True)):
        row[key] = draw(_json)
    order = draw(st.permutations(list(row)))
    return {key: row[key] for key in order}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ftrl_like_rows())
def test_any_ftrl_like_row_survives_ftrl_to_scenario_to_ftrl(row):
    scenario = scenario_from_ftrl(row)
    stored = Scenario.model_validate_json(scenario.model_dump_json())  # and a save/load on the way
    again = scenario_to_ftrl(stored)
    assert list(again) == list(row)
    assert json.dumps(again, ensure_ascii=False) == json.dumps(row, ensure_ascii=False)
    for key in ("tools", "codes", "unsolved_set"):
        if key in row:
            assert json.loads(again[key]) == json.loads(row[key])


# -- scoring equals FTRL's formulas -------------------------------------------------------------


@st.composite
def trajectories(draw):
    """An FTRL-like row and a trajectory over its tools: turns of (tool, output), then a reply."""
    names = ["t0", "t1", "t2"]
    pieces = ["Paris", "paris", "1,024", "1024", "blue", "red", "Blue, Red", "noise", "10", "a"]
    unsolved = {}
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        unsolved[name] = draw(st.lists(st.sampled_from(pieces), min_size=1, max_size=3))
    answer = draw(st.sampled_from(pieces + ["Blue, Red, 10"]))
    output = st.lists(st.sampled_from(pieces + ["the", "result:", ","]), max_size=5).map(" ".join)
    turns = draw(st.lists(st.lists(st.tuples(st.sampled_from([*names, "nope"]), output), min_size=1, max_size=4),
                          max_size=4))
    final = draw(st.none() | st.just("") | st.just("<tool_call>") | output.filter(lambda s: s == s.strip())
                 | st.sampled_from(pieces).map(lambda p: f"The answer is {p}"))
    return make_row(names, unsolved, answer), turns, final


@settings(max_examples=300, deadline=None)
@given(trajectories(), st.sampled_from(REWARD_VARIANTS))
def test_per_turn_rewards_and_solve_metrics_equal_ftrls_on_any_trajectory(case, variant):
    row, turns, final = case
    scenario = scenario_from_ftrl(row)
    score = score_trajectory(scenario, transcript(scenario.question, turns, final), variant=variant)
    rewards, (precision, rate, f1) = ftrl_reference(json.loads(row["unsolved_set"]), row["answer"], turns, final, variant)
    assert [t.reward for t in score.turns] == pytest.approx(rewards)
    assert score.metrics.solve_precision == pytest.approx(precision)
    assert score.metrics.solve_rate == pytest.approx(rate)
    assert score.metrics.solve_f1 == pytest.approx(f1)


def test_the_env_scores_a_real_ftrl_environment_as_ftrl_would(ftrl_rows):
    for row in ftrl_rows[::25]:
        env = gym.make("ToolGym/Suite-v0", scenarios=[scenario_from_ftrl(row)])
        obs, info = env.reset(options={"index": 0})
        calls = [ToolCall(name=t["function"]["name"], arguments=sample_arguments(t["function"]["parameters"]))
                 for t in obs["tools"]]
        obs, reward, *_ = env.step(format_calls(calls))
        obs, final_reward, _, _, info = env.step(f"It is {row['answer']}.")
        outputs = [(m["name"], m["content"]) for m in obs["messages"] if m["role"] == "tool"]
        rewards, metrics = ftrl_reference(json.loads(row["unsolved_set"]), row["answer"], [outputs],
                                          f"It is {row['answer']}.", "f1")
        assert [reward, final_reward] == pytest.approx(rewards)
        assert (info["solve_precision"], info["solve_rate"], info["solve_f1"]) == pytest.approx(metrics)
        env.close()
