"""The registered environment IDs: nothing but ``gymnasium.register`` calls."""

from __future__ import annotations

import gymnasium as gym

__all__ = ["ENV_IDS", "register_envs"]

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


def register_envs() -> None:
    """Registers every ID in :data:`ENV_IDS` (idempotent)."""
    for env_id, kwargs in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=_SUITE_ENTRY_POINT if env_id == "ToolGym/Suite-v0" else _ENTRY_POINT,
            max_episode_steps=MAX_EPISODE_STEPS,
            kwargs=dict(kwargs),
        )
