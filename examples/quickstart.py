"""Play a generated tool-use environment with the oracle and with a naive agent.

    python examples/quickstart.py
"""

import gymnasium as gym

import toolgym  # noqa: F401  (registers the ToolGym/* ids)
from toolgym.oracle import OracleAgent


def play(env, act, seed):
    obs, info = env.reset(seed=seed)
    total, done, truncated = 0.0, False, False
    while not (done or truncated):
        obs, reward, done, truncated, info = env.step(act(obs))
        total += reward
    return total, info


def naive_agent(obs):
    """Calls the first tool with made-up arguments, then gives up."""
    if len(obs["messages"]) > 2:
        return "<answer>I do not know</answer>"
    tool = obs["tools"][0]["function"]
    return '<tool_call>{"name": "' + tool["name"] + '", "arguments": {}}</tool_call>'


def main():
    env = gym.make("ToolGym/MultiHop-v0", render_mode="ansi", distractors=3)
    total, info = play(env, OracleAgent(env).act, seed=7)
    print(env.render())
    print(f"oracle: return {total:.2f}, Solve-F1 {info['solve_f1']:.2f}, correct {info['answer_correct']}")
    total, info = play(env, naive_agent, seed=7)
    print(env.render())
    print(f"naive:  return {total:.2f}, Solve-F1 {info['solve_f1']:.2f}, correct {info['answer_correct']}")


if __name__ == "__main__":
    main()
