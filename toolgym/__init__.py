"""ToolGym: automatically built tool-use environments for Gymnasium.

Importing the package registers the environment IDs::

    import gymnasium as gym
    import toolgym

    env = gym.make("ToolGym/Scenario-v0")
"""

from __future__ import annotations

from toolgym import error
from toolgym.env import ToolUseEnv
from toolgym.oracle import OracleAgent, oracle_turns
from toolgym.registration import ENV_IDS, register_envs
from toolgym.reward import episode_metrics, score_trajectory
from toolgym.scenario import SHAPES, Scenario, SubTask, Tool, ToolCall, ToolDoc
from toolgym.suites import load_suite, save_suite

__version__ = "0.1.0"

__all__ = [
    "ENV_IDS",
    "SHAPES",
    "GenerateConfig",
    "OracleAgent",
    "Scenario",
    "SubTask",
    "Tool",
    "ToolCall",
    "ToolDoc",
    "ToolUseEnv",
    "build_scenario",
    "episode_metrics",
    "error",
    "generate_suite",
    "load_suite",
    "oracle_turns",
    "save_suite",
    "score_trajectory",
]

register_envs()

_LAZY = {"GenerateConfig", "build_scenario", "generate_suite"}


def __getattr__(name: str):
    # The builder loads on first use, so `import toolgym` stays light.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module("toolgym.generate"), name)
    raise AttributeError(f"module 'toolgym' has no attribute {name!r}")
