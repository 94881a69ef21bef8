"""The registered environment IDs: nothing but ``gymnasium.register`` calls."""

from __future__ import annotations

import gymnasium as gym

__all__ = ["ENV_IDS", "STATEFUL_IDS", "register_envs"]

_ENTRY_POINT = "toolgym.env:ToolUseEnv"
_SUITE_ENTRY_POINT = "toolgym.env:make_suite_env"
MAX_EPISODE_STEPS = 20

ENV_IDS: dict[str, dict] = {
    "ToolGym/Scenario-v0": {},
    "ToolGym/SingleHop-v0": {"shapes": ("single_hop",)},
    "ToolGym/ParallelSingleHop-v0": {"shapes": ("parallel_single_hop",)},
    "ToolGym/MultiHop-v0": {"shapes": ("multi_hop",)},
    "ToolGym/ParallelMultiHop-v0": {"shapes": ("parallel_multi_hop",)},
    "ToolGym/Suite-v0": {},
}
"""Each ID and the keyword arguments it fixes; ``Suite-v0`` needs ``path=``."""

_STATEFUL_ENTRY_POINT = "toolgym.generate.stateful.env:StatefulWorldEnv"
TAU_BENCH_STEPS = 30  # toolgym.stateful.TAU_BENCH_TURNS, not imported: this module stays light
STATEFUL_IDS: dict[str, dict] = {
    "ToolGym/Stateful-v0": {},
    "ToolGym/StatefulShop-v0": {"domains": ("shop",)},
    "ToolGym/StatefulLibrary-v0": {"domains": ("library",)},
    "ToolGym/StatefulTravel-v0": {"domains": ("travel",)},
    "ToolGym/StatefulSubscriptions-v0": {"domains": ("subscriptions",)},
}
"""Generated stateful worlds (:mod:`toolgym.generate.stateful`): all domains, then one per domain.
Registered beside :data:`ENV_IDS` (whose generated ids are scored by Solve-F1), 30 turns each."""


def register_envs() -> None:
    """Registers every ID in :data:`ENV_IDS` and :data:`STATEFUL_IDS` (idempotent)."""
    for env_id, kwargs in {**ENV_IDS, **STATEFUL_IDS}.items():
        if env_id in gym.registry:
            continue
        stateful = env_id in STATEFUL_IDS
        gym.register(
            id=env_id,
            entry_point=(_STATEFUL_ENTRY_POINT if stateful
                         else _SUITE_ENTRY_POINT if env_id == "ToolGym/Suite-v0" else _ENTRY_POINT),
            max_episode_steps=TAU_BENCH_STEPS if stateful else MAX_EPISODE_STEPS,
            kwargs=dict(kwargs),
        )
