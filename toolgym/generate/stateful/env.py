"""The env behind ``ToolGym/Stateful-v0`` and the per-domain ids: a new stateful world every reset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolgym.env import ToolUseEnv
from toolgym.error import InvalidKnob
from toolgym.scenario import Scenario

__all__ = ["StatefulWorldEnv"]


class StatefulWorldEnv(ToolUseEnv):
    """A :class:`~toolgym.env.ToolUseEnv` whose generated scenarios are stateful worlds.

    ## Description
    Each reset draws a world (a seeded database of one domain: shop, library, travel or
    subscriptions), its tools (read and write, as source run in the sandbox), its policy (the
    system message) and a goal, from ``np_random``. The episode is a conversation with the
    simulated user (``user=``; the scripted one by default: it states its request, answers
    questions from the facts it knows, and stops at the first reply that asks nothing).

    ## Rewards
    tau-bench's rule: the turn that ends the episode scores 1 when the final data hashes as the
    gold actions' data does and every required output was said, else 0 (see
    :class:`~toolgym.reward.StatefulScorer`).

    ## Arguments
    Every argument of :class:`~toolgym.env.ToolUseEnv`, but the builder's knobs are those of
    :class:`toolgym.generate.stateful.StatefulConfig` (``domains``, ``shapes``, ``writes``,
    ``distractors``, ``strictness``, ``records``, ``noise``).

    ## Version History
    * v0: four domains, five goal shapes; the ``noise`` knob (RoTBench's levels) came later,
      clean by default, leaving clean worlds as they were.
    """

    @staticmethod
    def _scenario_source(scenarios: Sequence[Scenario] | None, path: str | None, knobs: dict):
        if scenarios is not None or path is not None:
            raise InvalidKnob("ToolGym/Stateful-v0 builds its worlds; play saved ones with "
                              'gym.make("ToolGym/Suite-v0", path=...).')
        from toolgym.generate.stateful.builder import StatefulConfig

        return None, StatefulConfig.from_kwargs(**knobs)

    def _pick_scenario(self, options: dict[str, Any]) -> Scenario:
        if "scenario" in options:
            return super()._pick_scenario(options)
        if "index" in options:
            raise InvalidKnob("options['index'] needs a suite: use ToolGym/Suite-v0.")
        from toolgym.generate.stateful.builder import build_stateful_scenario

        return build_stateful_scenario(self.np_random, self._config)
