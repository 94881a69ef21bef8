"""`toolgym eval` and evaluate(): figures, transcripts, and every kind of agent (offline)."""

import json

import gymnasium as gym
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai_stub import StubOpenAI, text, tool_call

import toolgym
from toolgym.agents import (
    OpenAIAgent,
    RandomAgent,
    make_agent,
    sample_arguments,
    to_openai_messages,
)
from toolgym.cli import main
from toolgym.error import InvalidKnob
from toolgym.evaluate import FIGURES, evaluate
from toolgym.oracle import OracleAgent
from toolgym.suites import load_suite


@pytest.fixture(scope="module")
def generated():
    return toolgym.generate_suite(8, seed=4)


def test_the_oracle_solves_a_generated_suite_perfectly(generated):
    report = evaluate(generated, OracleAgent(), progress=False)
    assert report.overall == {"solve_precision": 1.0, "solve_rate": 1.0, "solve_f1": 1.0,
                              "answer_accuracy": 1.0, "pass_rate": None, "tool_selection": None,
                              "parameter_identification": None, "content_filling": None, "episodes": 8,
                              "errors": 0}
    assert sum(s["episodes"] for s in report.by_shape.values()) == 8
    assert list(report.by_shape) == [s for s in toolgym.SHAPES if s in report.by_shape]
    assert {e["scenario_id"] for e in report.episodes} == {s.id for s in generated}


def test_the_report_renders_as_a_table_and_as_json(generated):
    report = evaluate(generated[:2], OracleAgent(), progress=False)
    table = report.table()
    assert "Solve-F1" in table and table.splitlines()[-1].startswith("overall")
    data = json.loads(report.to_json())
    assert set(data) == {"overall", "by_shape"}
    assert set(data["overall"]) == {*FIGURES, "episodes", "errors"}


def test_evaluate_plays_a_suite_env_once_per_scenario_in_order(generated):
    env = gym.make("ToolGym/Suite-v0", scenarios=generated)
    report = evaluate(env, OracleAgent(), limit=3, progress=False)
    assert [e["scenario_id"] for e in report.episodes] == [s.id for s in generated[:3]]
    env.close()


def test_evaluate_on_a_generator_env_needs_a_limit():
    env = gym.make("ToolGym/SingleHop-v0")
    with pytest.raises(InvalidKnob, match="limit"):
        evaluate(env, OracleAgent(), progress=False)
    assert evaluate(env, OracleAgent(), limit=2, progress=False, seed=0).overall["episodes"] == 2
    env.close()


def test_the_random_agent_plays_the_same_way_for_the_same_seed(generated):
    first = evaluate(generated, RandomAgent(seed=3), progress=False)
    again = evaluate(list(reversed(generated)), RandomAgent(seed=3), progress=False)
    by_id = {e["scenario_id"]: e["messages"] for e in again.episodes}
    assert all(e["messages"] == by_id[e["scenario_id"]] for e in first.episodes)


def test_toolgym_eval_prints_the_table_and_a_progress_bar(capsys):
    assert main(["eval", "--suite", "gen:4:1", "--agent", "oracle"]) == 0
    out, err = capsys.readouterr()
    assert "Solve-P" in out and "overall" in out and "100.0" in out
    assert "eval" in err  # tqdm, on stderr


def test_toolgym_eval_json_and_transcripts(tmp_path, capsys):
    out_file = tmp_path / "episodes.jsonl"
    code = main(["eval", "--suite", "gen:3:0", "--agent", "random", "--seed", "1", "--json",
                 "--out", str(out_file), "--no-progress"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overall"]["episodes"] == 3 and data["overall"]["pass_rate"] is None
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(records) == 3
    assert {"messages", "scenario_id", "shape", "solve_f1", "rewards"} <= set(records[0])


def test_toolgym_eval_plays_stateful_rows_with_replay(shop_suite, capsys):
    assert main(["eval", "--suite", str(shop_suite), "--agent", "replay", "--json", "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["by_shape"]["shop/orders"]["pass_rate"] == 1.0
    assert data["by_shape"]["shop/orders"]["solve_f1"] is None


def test_the_oracle_explains_that_ftrl_rows_carry_no_gold_calls(tmp_path, capsys):
    path = tmp_path / "ftrl.jsonl"
    toolgym.suites.save_suite(toolgym.generate_suite(1, seed=0), path, format="ftrl")
    assert main(["eval", "--suite", str(path), "--agent", "oracle", "--no-progress"]) == 2
    assert "gold calls" in capsys.readouterr().err


def test_an_unknown_agent_is_refused_with_a_suggestion():
    with pytest.raises(InvalidKnob, match="Did you mean 'random'"):
        make_agent("randon")


def test_random_agent_on_the_papers_test_set_reports_every_shape(ftrl_test_file):
    report = evaluate(load_suite(ftrl_test_file)[::10], RandomAgent(seed=0), progress=False)
    assert list(report.by_shape) == [f"self/{s}" for s in toolgym.SHAPES]
    assert 0.0 <= report.overall["solve_f1"] < 0.5


# -- schema-derived arguments ---------------------------------------------------------------------

_leaf = st.one_of(
    st.sampled_from([{"format": "date"}, {"format": "email"}, {"format": "date-time"}, {"minLength": 12},
                     {"pattern": r"^\d{4}-\d{2}-\d{2}$"}, {"pattern": r"^[A-Z0-9]+$"}, {"pattern": r"^\d{4}$"}, {}]
                    ).map(lambda extra: {"type": "string", **extra}),
    st.fixed_dictionaries({"type": st.sampled_from(["integer", "number"])},
                          optional={"minimum": st.integers(-5, 5), "maximum": st.integers(6, 50)}),
    st.fixed_dictionaries({"type": st.just("boolean")}),
    st.fixed_dictionaries({"enum": st.lists(st.text(max_size=4), min_size=1, max_size=3)}),
)
_schema = st.recursive(_leaf, lambda inner: st.one_of(
    st.builds(lambda items, n: {"type": "array", "items": items, "minItems": n}, inner, st.integers(0, 3)),
    st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), inner, max_size=4).flatmap(
        lambda props: st.lists(st.sampled_from(sorted(props)) if props else st.nothing(), unique=True, max_size=len(props)).map(
            lambda req: {"type": "object", "properties": props, "required": req}))), max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(_schema.filter(lambda s: s.get("type") == "object"), st.integers(0, 2**32 - 1) | st.none())
def test_sampled_arguments_fit_their_schema(schema, seed):
    import numpy as np

    rng = None if seed is None else np.random.default_rng(seed)
    arguments = sample_arguments(schema, rng)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert not list(validator.iter_errors(arguments))


# -- model agents, offline ------------------------------------------------------------------------


def test_a_local_hugging_face_model_plays_through_its_chat_template(tiny_model_dir, generated):
    agent = make_agent(f"hf:{tiny_model_dir}", max_new_tokens=6)
    env = gym.make("ToolGym/Suite-v0", scenarios=generated[:2], max_episode_steps=3)
    report = evaluate(env, agent, progress=False)
    env.close()
    assert report.overall["episodes"] == 2
    assert all(1 <= e["turns"] <= 3 for e in report.episodes)
    assert all(e["messages"][len(generated[i].messages)]["role"] == "assistant" for i, e in enumerate(report.episodes))


def test_hf_agent_needs_a_local_directory(tmp_path):
    with pytest.raises(InvalidKnob, match="local model directory"):
        make_agent(f"hf:{tmp_path / 'absent'}")


def test_an_openai_compatible_server_is_called_with_the_chat_and_the_tools():
    scenario = toolgym.generate_suite(1, seed=0, config=toolgym.GenerateConfig(shapes=("single_hop",)))[0]
    sub = scenario.subtasks[0]

    def respond(body):  # calls the gold tool first, then answers
        if any(m["role"] == "tool" for m in body["messages"]):
            return text(f"<answer>{scenario.answer}</answer>")
        return tool_call(sub.call.name, sub.call.arguments)

    with StubOpenAI(respond) as server:
        agent = make_agent("openai:stub-model", base_url=server.url, api_key="k")
        report = evaluate([scenario], agent, progress=False)
    assert report.overall["solve_f1"] == 1.0 and report.overall["answer_accuracy"] == 1.0
    path, auth, body = server.requests[-1]
    assert path == "/v1/chat/completions" and auth == "Bearer k"
    assert body["model"] == "stub-model" and body["tools"] == scenario.tool_docs
    assert isinstance(body["messages"][-2]["tool_calls"][0]["function"]["arguments"], str)
    assert body["messages"][-1]["role"] == "tool" and body["messages"][-1]["tool_call_id"] == "call_1_0"
    assert body["temperature"] == 0.0  # greedy by default


def test_an_unreachable_server_is_a_clear_error():
    agent = OpenAIAgent("m", base_url="http://127.0.0.1:9", timeout=2, max_retries=0)
    with pytest.raises(toolgym.error.ToolGymError, match="request failed"):
        agent.act({"messages": [{"role": "user", "content": "hi"}], "tools": []}, None)


def test_malformed_call_errors_reach_the_api_as_user_messages():
    messages = [{"role": "user", "content": "q"},
                {"role": "assistant", "content": "<tool_call>{bad</tool_call>"},
                {"role": "tool", "tool_call_id": "call_1_0", "name": "invalid_tool_call", "content": "Error: x"}]
    assert to_openai_messages(messages)[-1] == {"role": "user", "content": "[tool error] Error: x"}
