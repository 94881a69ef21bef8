"""Stateful tasks as conversations with a simulated user (tau-bench as FTRL's evaluation plays it)."""

import hashlib
import json

import gymnasium as gym
import pytest
from openai_stub import StubOpenAI, text, tool_call

from toolgym.agents import RandomAgent, make_agent
from toolgym.cli import main
from toolgym.env import suite_turn_limit
from toolgym.error import InvalidKnob
from toolgym.evaluate import evaluate, play_episode
from toolgym.oracle import format_calls
from toolgym.reward import score_trajectory
from toolgym.scenario import ToolCall
from toolgym.suites import load_suite
from toolgym.users import GREETING, STOP, Dialogue, ScriptedUser, make_user, user_system_prompt


@pytest.fixture(scope="module")
def shop(shop_suite):
    return load_suite(shop_suite)


def call(name, **arguments):
    return format_calls([ToolCall(name=name, arguments=arguments)])


class Script:
    """Plays fixed turns."""

    def __init__(self, turns):
        self.turns = iter(turns)

    def act(self, observation, env):
        return next(self.turns)


def play(shop, index, turns, **env_kwargs):
    env = gym.make("ToolGym/Suite-v0", scenarios=shop, max_episode_steps=suite_turn_limit(shop), **env_kwargs)
    try:
        return play_episode(env, Script(turns), options={"index": index})
    finally:
        env.close()


CANCEL = ("cancel_order", {"order_id": "#W001", "reason": "no longer needed"})


# -- the user simulators ----------------------------------------------------------------------------


def test_the_scripted_user_states_the_instruction_then_stops():
    dialogue = Dialogue(ScriptedUser(), "Cancel order #W001.")
    assert dialogue.open() == "Cancel order #W001."
    assert dialogue.answer("Done.") == STOP
    assert [m["role"] for m in dialogue.messages] == ["assistant", "user", "assistant", "user"]
    assert dialogue.messages[0]["content"] == GREETING


def test_the_user_prompt_is_ftrls_verbatim():
    prompt = user_system_prompt("Be Ann.")
    assert prompt.startswith("You are a user interacting with an agent.\n\nInstruction: Be Ann.\nRules:\n")
    assert "- If the instruction goal is satisified, generate '###STOP###' as a standalone message" in prompt
    assert prompt.endswith("stick to the personalities in the instruction.")


def test_an_unknown_user_spec_or_object_is_refused(shop):
    with pytest.raises(InvalidKnob, match="Did you mean 'scripted'"):
        make_user("scriptd")
    with pytest.raises(InvalidKnob, match="user must be"):
        gym.make("ToolGym/Suite-v0", scenarios=shop, user=42)


# -- the conversation in the env ----------------------------------------------------------------------


def test_the_scripted_user_reproduces_the_results_of_single_reply_episodes(shop):
    """Figures and transcripts as before users existed (measured on that code, strict matching):
    the only change is the user's closing ###STOP### message."""
    before = {
        "random0": [([0.0] * 7, False, 10, "bbf3ef615964"), ([0.0], False, 0, "9df71638d8e0"),
                    ([0.0] * 3, False, 3, "1eef6a859662"), ([0.0] * 6, False, 9, "9329cd23f9af")],
        "random1": [([0.0], False, 0, "e306a9621463"), ([0.0], False, 0, "13ad7832c07e"),
                    ([0.0] * 4, False, 4, "1d0fc6472104"), ([0.0] * 3, False, 4, "ed13cf5132e3")],
        "scripts": [([0.0, 1.0], True, 1, "ca0b148c2685"), ([0.0, 0.0], False, 1, "e71bcee9cce9"),
                    ([0.0], False, 0, "34578de05bb9"), ([0.0, 0.0, 1.0], True, 2, "f437867c4771"),
                    ([0.0, 1.0], True, 1, "022d99369cef"), ([0.0, 0.0], False, 1, "8c1a2991f286")],
    }
    scripts = [
        (0, [call(CANCEL[0], **CANCEL[1]), "Done."]),
        (0, [call("cancel_order", order_id="#W001", reason="ordered by mistake"), "Done."]),
        (1, ["I can't do that."]),
        (2, [call("get_order", order_id="#W001"), call("cancel_order", order_id="#W001", reason="ordered by mistake"),
             "You paid 25."]),
        (3, [call("get_product", product_id="P3"), "There are 12 in stock."]),
        (3, [call("get_product", product_id="P3"), "Let me check."]),
    ]
    now = {"scripts": [play(shop, i, turns, match="strict") for i, turns in scripts]}
    for seed in (0, 1):
        env = gym.make("ToolGym/Suite-v0", scenarios=shop, match="strict", max_episode_steps=30)
        now[f"random{seed}"] = evaluate(env, RandomAgent(seed, answer_probability=0.2), progress=False).episodes
        env.close()
    for name, records in now.items():
        for record, (rewards, passed, calls, digest) in zip(records, before[name], strict=True):
            *chat, stop = record["messages"]
            assert stop == {"role": "user", "content": STOP}
            assert (record["rewards"], record["passed"], record["calls"]) == (rewards, passed, calls)
            assert hashlib.sha256(json.dumps(chat, sort_keys=True).encode()).hexdigest()[:12] == digest


def test_a_reply_goes_to_the_user_and_the_users_answer_is_the_next_observation(shop):
    def user(instruction, dialogue):
        said = [m["content"] for m in dialogue if m["role"] == "assistant"]
        return {1: "Hi, I need to cancel an order.", 2: "It is #W001; I no longer need it."}.get(len(said), STOP)

    env = gym.make("ToolGym/Suite-v0", scenarios=shop, user=user)
    obs, _ = env.reset(options={"index": 0})
    assert obs["messages"][-1] == {"role": "user", "content": "Hi, I need to cancel an order."}
    obs, reward, terminated, truncated, _ = env.step("Which order?")
    assert obs["messages"][-1]["content"] == "It is #W001; I no longer need it." and not (terminated or truncated)
    assert reward == 0.0
    env.step(call(CANCEL[0], **CANCEL[1]))
    obs, reward, terminated, _, info = env.step("It is cancelled.")
    assert terminated and reward == 1.0 and info["answer_correct"]
    assert obs["messages"][-1] == {"role": "user", "content": STOP}
    env.close()


def test_stop_anywhere_in_the_users_reply_ends_the_episode(shop):
    record = play(shop, 0, [call(CANCEL[0], **CANCEL[1]), "Done."],
                  user=lambda i, d: i if len(d) == 1 else f"Thanks! {STOP}")
    assert record["turns"] == 2 and record["passed"] and not record["truncated"]


@pytest.mark.parametrize("tool", ["transform_to_user_agent", "transfer_to_human_agents"])
def test_a_transfer_call_ends_the_episode_and_is_scored(shop, tool):
    never_stops = lambda instruction, dialogue: "Go on."  # noqa: E731
    record = play(shop, 0, [call(CANCEL[0], **CANCEL[1]), call(tool)], user=never_stops)
    assert record["turns"] == 2 and not record["truncated"] and record["passed"] and record["rewards"] == [0.0, 1.0]
    assert record["messages"][-1]["role"] == "tool"  # the call ran (the shop has no such tool: an error)
    failed = play(shop, 0, [call(tool)], user=never_stops)
    assert failed["turns"] == 1 and not failed["truncated"] and failed["passed"] is False


def test_a_user_who_never_stops_runs_into_the_turn_limit(shop):
    record = play(shop, 0, ["Hello?"] * 30, user=lambda instruction, dialogue: "Hm.")
    assert record["turns"] == 30 and record["truncated"] and record["passed"] is False
    assert sum(m["role"] == "user" for m in record["messages"]) == 31


def test_an_empty_reply_costs_ftrls_penalty_and_pass_stays_tau_benchs_rule(shop):
    record = play(shop, 3, [call("get_product", product_id="P3"), "", "Done."], match="strict",
                  user=lambda i, d: i if len(d) == 1 else ("Well?" if len(d) == 3 else STOP))
    assert record["rewards"] == [0.0, -0.5, 0.0]
    record = play(shop, 0, [call(CANCEL[0], **CANCEL[1]), ""])  # the scripted user stops at once
    assert record["rewards"] == [0.0, -0.5] and record["passed"]  # the data is right: pass^1 holds


def test_under_ftrl_parity_only_the_first_call_of_a_turn_runs(shop):
    two = call(CANCEL[0], **CANCEL[1]) + "\n" + call("get_product", product_id="P1")
    ftrl = play(shop, 0, [two, "Done."])
    assert [m["name"] for m in ftrl["messages"] if m["role"] == "tool"] == ["cancel_order"]
    assert len(ftrl["messages"][2]["tool_calls"]) == 1 and ftrl["passed"]
    strict = play(shop, 0, [two, "Done."], match="strict")
    assert [m["name"] for m in strict["messages"] if m["role"] == "tool"] == ["cancel_order", "get_product"]


def test_transcripts_of_conversations_score_as_the_env_scored_them(shop):
    user = lambda i, d: i if len(d) == 1 else ("Anything else?" if len(d) < 7 else STOP)  # noqa: E731
    turns = ["Hello.", call(CANCEL[0], **CANCEL[1]), "", "Bye."]
    env = gym.make("ToolGym/Suite-v0", scenarios=shop, user=user)  # 20 turns: enough here
    record = play_episode(env, Script(turns), options={"index": 0})
    state = env.unwrapped._runner.get_state()
    env.close()
    scored = score_trajectory(shop[0], record["messages"], state=state)
    assert [t.reward for t in scored.turns] == record["rewards"] == [0.0, 0.0, -0.5, 1.0]
    assert scored.answer_correct == record["passed"] is True
    transfer = play(shop, 0, [call(CANCEL[0], **CANCEL[1]), call("transfer_to_human_agents")], user=lambda i, d: "?")
    scored = score_trajectory(shop[0], transfer["messages"], state=state)
    assert [t.reward for t in scored.turns] == transfer["rewards"] and scored.answer_correct


def test_the_replay_agent_finishes_every_gold_trajectory_within_the_turn_limit(shop):
    report = evaluate(shop, make_agent("replay"), progress=False)
    assert report.overall["pass_rate"] == 1.0
    assert all(not e["truncated"] and e["turns"] <= 30 for e in report.episodes)


def test_a_local_model_can_play_the_user(tiny_model_dir, shop):
    user = make_user(f"hf:{tiny_model_dir}", max_new_tokens=4)
    record = play(shop, 0, ["Hello?", "Which order?"], user=user, max_turns=2)
    assert record["turns"] == 2 and [m["role"] for m in record["messages"]][1::2] == ["user"] * 3
    assert all(isinstance(m["content"], str) for m in record["messages"])


# -- both sides served: the agent and the user as models behind OpenAI-compatible servers ---------------


def _user_model(body):
    """The user model: reveals the order id when asked, stops once the agent says it is cancelled."""
    said = [m["content"] for m in body["messages"] if m["role"] == "user"]  # the agent's lines, swapped
    if len(said) == 1:
        return text("Hi, I'd like to cancel an order.")
    if "order id" in said[-1].lower():
        return text("It's #W001. I no longer need it.")
    return text(STOP if "cancelled" in said[-1].lower() else "Sorry?")


def _agent_model(reason):
    def respond(body):
        last = body["messages"][-1]
        if last["role"] == "tool":
            return text("Your order #W001 is cancelled.")
        if "#W001" in last["content"]:
            return tool_call("cancel_order", {"order_id": "#W001", "reason": reason})
        return text("Sure. What is the order id?")

    return respond


def _both(reason):
    agent = _agent_model(reason)
    return lambda body: _user_model(body) if body["model"] == "user-model" else agent(body)


@pytest.mark.parametrize(("reason", "passed"), [("no longer needed", 1.0), ("ordered by mistake", 0.0)])
def test_a_served_agent_and_a_served_user_hold_the_conversation(shop, shop_suite, tmp_path, capsys, reason, passed):
    out = tmp_path / "tau.jsonl"
    with StubOpenAI(_both(reason)) as server:
        code = main(["eval", "--suite", str(shop_suite), "--limit", "1", "--agent", "openai:agent-model",
                     "--base-url", server.url, "--api-key", "k", "--user", "openai:user-model", "--json",
                     "--no-progress", "--out", str(out)])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["overall"]["pass_rate"] == passed
    record = json.loads(out.read_text())
    roles = [m["role"] for m in record["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "tool", "assistant", "user"]
    assert record["messages"][-1]["content"] == STOP and record["rewards"] == [0.0, 0.0, passed]
    user_requests = [(auth, body) for _, auth, body in server.requests if body["model"] == "user-model"]
    auth, body = user_requests[0]  # the user flags default to the agent's
    assert auth == "Bearer k" and body["temperature"] == 0.0 and body["max_tokens"] == 512
    assert body["messages"] == [{"role": "system", "content": user_system_prompt(shop[0].question)},
                                {"role": "user", "content": GREETING}]
    assert "tools" not in body


def test_the_user_can_be_served_apart_from_the_agent(shop_suite, capsys):
    with StubOpenAI(_agent_model("no longer needed")) as agent, StubOpenAI(_user_model) as user:
        code = main(["eval", "--suite", str(shop_suite), "--limit", "1", "--agent", "openai:a", "--base-url", agent.url,
                     "--user", "openai:u", "--user-base-url", user.url, "--user-api-key", "uk", "--json", "--no-progress"])
    assert code == 0 and json.loads(capsys.readouterr().out)["overall"]["pass_rate"] == 1.0
    assert {auth for _, auth, _ in user.requests} == {"Bearer uk"} and len(user.requests) == 3
    assert all(body["model"] == "a" for _, _, body in agent.requests)


def test_toolgym_show_plays_a_stateful_task_to_the_users_stop(shop_suite, capsys):
    assert main(["show", str(shop_suite), "--index", "2"]) == 0
    out = capsys.readouterr().out
    assert "[user] ###STOP###" in out and "passed: True" in out
