"""Stateful tasks: fresh data per episode, the hidden data parameter, and the state-hash reward."""

import json
import os
import shutil

import gymnasium as gym
import pytest

from toolgym import stateful
from toolgym.error import InvalidScenario
from toolgym.oracle import OracleAgent, format_calls, oracle_turns
from toolgym.scenario import ToolCall
from toolgym.stateful import (
    fresh_state,
    gold_hash,
    load_domain,
    passes,
    replay,
    scenario_from_stateful_row,
    state_hash,
    stateful_to_row,
)
from toolgym.suites import load_suite


@pytest.fixture(scope="module")
def shop(shop_suite):
    return load_suite(shop_suite)


@pytest.fixture
def env(shop):
    env = gym.make("ToolGym/Suite-v0", scenarios=shop)
    yield env
    env.close()


def play(env, index, turns):
    env.reset(options={"index": index})
    for turn in turns:
        obs, reward, terminated, truncated, info = env.step(turn)
    return obs, reward, terminated, info


def call(name, **arguments):
    return format_calls([ToolCall(name=name, arguments=arguments)])


def test_a_stateful_row_opens_with_the_wiki_and_the_instruction(shop, shop_suite):
    scenario = shop[0]
    wiki = (shop_suite.parent / "shop" / "orders" / "wiki.md").read_text()
    assert [m["role"] for m in scenario.messages] == ["system", "user"]
    assert scenario.messages[0]["content"] == wiki
    assert scenario.messages[1]["content"] == scenario.question.strip()
    assert scenario.shape == "shop/orders"
    assert scenario.task.domain == str((shop_suite.parent / "shop" / "orders").resolve())
    assert scenario.task.actions[0] == ToolCall(name="cancel_order", arguments={"order_id": "#W001", "reason": "no longer needed"})


def test_the_data_parameter_is_hidden_from_the_agent(shop):
    doc = shop[0].tool("update_address").doc
    assert "data" not in doc.parameters["properties"] and "data" not in doc.parameters["required"]
    assert doc.parameters["required"] == ["order_id", "address1", "city", "zip"]


def test_fresh_state_loads_every_data_file_by_stem_and_anew_each_time(shop):
    first = fresh_state(shop[0].task)
    assert sorted(first) == ["orders", "products"]
    first["orders"]["#W001"]["status"] = "changed"
    assert fresh_state(shop[0].task)["orders"]["#W001"]["status"] == "pending"


def test_the_state_hash_ignores_key_order_but_not_values():
    assert state_hash({"a": 1, "b": [1, {"x": 2, "y": 3}]}) == state_hash({"b": [1, {"y": 3, "x": 2}], "a": 1})
    assert state_hash({"a": 1}) != state_hash({"a": 1.5})


@pytest.mark.parametrize("index", range(4))
def test_replaying_the_gold_actions_and_saying_the_outputs_passes(env, shop, index):
    obs, reward, terminated, info = play(env, index, oracle_turns(shop[index]))
    assert terminated and reward == 1.0 and info["answer_correct"]


def test_tools_change_the_episodes_data_and_a_reset_restores_it(env):
    obs, *_ = play(env, 0, [call("cancel_order", order_id="#W001", reason="no longer needed"),
                            call("get_order", order_id="#W001")])
    assert json.loads(obs["messages"][-1]["content"])["status"] == "cancelled"
    obs, *_ = play(env, 0, [call("get_order", order_id="#W001")])
    assert json.loads(obs["messages"][-1]["content"])["status"] == "pending"


def test_doing_nothing_fails_a_task_that_changes_the_data(env):
    obs, reward, terminated, info = play(env, 0, ["I cancelled it."])
    assert terminated and reward == 0.0 and not info["answer_correct"]
    assert info["reward_breakdown"]["kind"] == "wrong"


def test_a_wrong_change_fails(env):
    turns = [call("cancel_order", order_id="#W001", reason="ordered by mistake"), "Done."]
    assert play(env, 0, turns)[1] == 0.0


def test_an_extra_change_fails_even_when_the_asked_one_was_made(env):
    turns = [call("cancel_order", order_id="#W001", reason="no longer needed"),
             call("update_address", order_id="#W002", address1="x", city="y", zip="z"), "Done."]
    assert play(env, 0, turns)[1] == 0.0


def test_a_required_output_must_be_said(env, shop):
    assert shop[3].task.outputs == ("12",) and shop[3].match == "ftrl"
    assert play(env, 3, [call("get_product", product_id="P3"), "Let me check."])[1] == 0.0
    said_with_a_call = format_calls([ToolCall(name="get_product", arguments={"product_id": "P3"})], content="12 left?")
    assert play(env, 3, [said_with_a_call, "There you are."])[1] == 1.0


def test_under_ftrl_matching_an_output_said_in_a_plain_reply_does_not_count(env, shop):
    """FTRL's evaluation_taubench.py looks for outputs only in assistant messages with tool calls."""
    assert play(env, 3, [call("get_product", product_id="P3"), "There are 12 in stock."])[1] == 0.0
    strict = gym.make("ToolGym/Suite-v0", scenarios=shop, match="strict")
    assert play(strict, 3, [call("get_product", product_id="P3"), "There are 12 in stock."])[1] == 1.0
    strict.close()


def test_passing_reads_outputs_lowercased_without_commas(shop):
    task = shop[2].task.model_copy(update={"outputs": ("1000",)})
    final = json.loads(json.dumps(fresh_state(task)))
    final["orders"]["#W001"].update(status="cancelled", cancel_reason="ordered by mistake")
    final["products"]["P1"]["stock"] += 2
    said = [{"role": "assistant", "content": "You paid $1,000."}]
    assert passes(task, final, said)
    assert not passes(task, final, [{"role": "user", "content": "1000"}])


def test_the_gold_hash_is_computed_once_per_task(shop, monkeypatch):
    task = shop[1].task.model_copy(update={"outputs": ("a never seen output",)})
    replays = []
    original = stateful.replay
    monkeypatch.setattr(stateful, "replay", lambda *a, **k: replays.append(1) or original(*a, **k))
    assert gold_hash(task) == gold_hash(task)
    assert len(replays) == 1


@pytest.fixture
def shop_copy(tmp_path, shop_suite):
    """The shop suite and its domain, copied to tmp_path, free to change."""
    shutil.copytree(shop_suite.parent, tmp_path / "fixtures")
    return tmp_path / "fixtures" / shop_suite.name


def test_a_data_file_changed_on_disk_is_scored_anew_not_from_a_cache(shop_copy):
    task = load_suite(shop_copy)[0].task
    before = gold_hash(task)
    orders_file = shop_copy.parent / "shop" / "orders" / "orders.json"
    orders = json.loads(orders_file.read_text())
    orders["#W001"]["note"] = "changed on disk"
    orders_file.write_text(json.dumps(orders))
    final = replay(task, task.actions)
    assert final["orders"]["#W001"]["note"] == "changed on disk"
    assert gold_hash(task) == state_hash(final) != before
    assert passes(task, final, [])
    (orders_file.parent / "extra.json").write_text('{"k": 1}')  # a new data file
    assert fresh_state(task)["extra"] == {"k": 1}
    assert gold_hash(task) != state_hash(final)


def test_changed_codes_and_tools_are_read_anew(shop_copy):
    domain = shop_copy.parent / "shop" / "orders"
    task = load_suite(shop_copy)[0].task
    before = gold_hash(task)
    codes = json.loads((domain / "codes.json").read_text())
    codes["cancel_order"] = codes["cancel_order"].replace('"cancelled"', '"canceled"')
    (domain / "codes.json").write_text(json.dumps(codes))
    assert load_domain(domain).codes == codes
    assert gold_hash(task) != before
    assert replay(task, task.actions)["orders"]["#W001"]["status"] == "canceled"
    tools = json.loads((domain / "tools.json").read_text())
    tools[0]["function"]["description"] = "A new description."
    (domain / "tools.json").write_text(json.dumps(tools))
    assert load_suite(shop_copy)[0].tools[0].doc.description == "A new description."


def test_gold_actions_replay_in_the_sandbox_not_in_this_process(tmp_path):
    domain = tmp_path / "evil" / "d"
    domain.mkdir(parents=True)
    (domain / "tools.json").write_text(json.dumps([{"type": "function", "function": {
        "name": "boom", "description": "", "parameters": {"type": "object", "properties": {}}}}]))
    (domain / "codes.json").write_text(json.dumps({"boom": (
        "def boom(data):\n    import os\n    data['counter']['n'] += 1\n    os.environ['TOOLGYM_PWNED'] = '1'\n    return 'ok'\n")}))
    (domain / "counter.json").write_text('{"n": 0}')
    scenario = scenario_from_stateful_row(
        {"instruction": "go", "actions": [{"function": {"name": "boom", "arguments": "{}"}}], "outputs": [],
         "data_source": "evil/d"}, base_dir=tmp_path)
    assert gold_hash(scenario.task) == state_hash({"counter": {"n": 1}})
    assert "TOOLGYM_PWNED" not in os.environ


def test_a_stateful_row_round_trips(shop_suite):
    rows = [json.loads(line) for line in shop_suite.read_text().splitlines()]
    for row in rows:
        odd = {**row, "id": 7, "actions": [{"name": a["function"]["name"], "arguments": json.loads(a["function"]["arguments"])}
                                           for a in row["actions"]]}
        for original in (row, odd, dict(reversed(list(odd.items())))):
            scenario = scenario_from_stateful_row(original, base_dir=shop_suite.parent)
            assert stateful_to_row(scenario) == original
            assert list(stateful_to_row(scenario)) == list(original)


def test_a_stateful_row_without_instruction_or_domain_is_refused(shop_suite):
    with pytest.raises(InvalidScenario, match="'instruction'"):
        scenario_from_stateful_row({"instruction": 3, "actions": []}, base_dir=shop_suite.parent)
    with pytest.raises(InvalidScenario, match="'data_source'"):
        scenario_from_stateful_row({"instruction": "x", "actions": []}, base_dir=shop_suite.parent)


def test_the_replay_agent_passes_every_shop_task(shop):
    from toolgym.evaluate import evaluate

    report = evaluate(shop, OracleAgent(), progress=False)
    assert report.overall["pass_rate"] == 1.0 and report.overall["solve_f1"] is None
