"""Gymnasium wrappers of ToolGym envs (Gymnasium keeps its own in ``gymnasium.wrappers``).

:class:`Curriculum` moves a generator env along the difficulty levels of
:mod:`toolgym.generate.difficulty` by the agent's recent success; :class:`CurriculumSchedule` is
its level and rule, which several envs (a vector env's, a training run's batch) can share.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from toolgym.error import InvalidKnob, did_you_mean

__all__ = ["CURRICULUM_METRICS", "Curriculum", "CurriculumSchedule"]

CURRICULUM_METRICS: tuple[str, ...] = ("solve_f1", "answer_correct")
"""``info`` figures a curriculum can read at an episode's end (``answer_correct`` counts as 1 or 0)."""


class CurriculumSchedule:
    """A difficulty level and the rule that moves it, fed one score per finished episode.

    Once ``window`` episodes of the current level have ended, their mean score decides: at least
    ``up`` raises the level one step, at most ``down`` lowers it one step; a move starts a fresh
    window. Scores of episodes played at another level (ones still running when the level moved)
    are left out.

    Args:
        levels: The difficulty levels to move along, in increasing order (a subset of 1..5).
        window: Episodes whose mean score decides a move.
        up: Mean score at or above which the level rises.
        down: Mean score at or below which the level falls (below ``up``).
        metric: The ``info`` figure scored: ``"solve_f1"`` or ``"answer_correct"``.
        start: The first level (default: the lowest).

    Example:
        >>> schedule = CurriculumSchedule(levels=(1, 2), window=2)
        >>> [schedule.record(1.0, 1) for _ in range(2)]
        [1, 2]
    """

    def __init__(self, levels: Sequence[int] = (1, 2, 3, 4, 5), window: int = 16, up: float = 0.8,
                 down: float = 0.3, metric: str = "solve_f1", start: int | None = None) -> None:
        self.levels = _check_levels(levels)
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise InvalidKnob(f"window must be a positive number of episodes, got {window!r}.")
        if not 0.0 <= down < up <= 1.0:
            raise InvalidKnob(f"Need 0 <= down < up <= 1 (scores are from 0 to 1), got down={down!r}, up={up!r}.")
        if metric not in CURRICULUM_METRICS:
            raise InvalidKnob(f"Unknown curriculum metric {metric!r}; expected one of {CURRICULUM_METRICS}."
                              + did_you_mean(str(metric), CURRICULUM_METRICS))
        start = self.levels[0] if start is None else start
        if start not in self.levels:
            raise InvalidKnob(f"start={start!r} is not one of the levels {list(self.levels)}.")
        self.window, self.up, self.down, self.metric = window, float(up), float(down), metric
        self.level: int = start
        """The level the next episode is played at."""
        self.history: list[dict[str, Any]] = []
        """One entry per finished episode: ``{"episode", "level", "score"}`` (the level it was played at)."""
        self._scores: deque[float] = deque(maxlen=window)

    def score(self, info: dict[str, Any]) -> float:
        """The episode's score from its last ``info``: Solve-F1 or answer correctness (missing: 0)."""
        return float(info.get(self.metric) or 0.0)

    def record(self, score: float, level: int) -> int:
        """Counts one finished episode played at ``level``; returns the level of the next one."""
        self.history.append({"episode": len(self.history), "level": level, "score": float(score)})
        if level != self.level:
            return self.level
        self._scores.append(float(score))
        if len(self._scores) < self.window:
            return self.level
        mean = sum(self._scores) / len(self._scores)
        index = self.levels.index(self.level)
        if mean >= self.up and index + 1 < len(self.levels):
            self._move(self.levels[index + 1])
        elif mean <= self.down and index > 0:
            self._move(self.levels[index - 1])
        return self.level

    def _move(self, level: int) -> None:
        self.level = level
        self._scores.clear()

    @property
    def levels_played(self) -> list[int]:
        """The level of each finished episode, in order: the curriculum over time."""
        return [entry["level"] for entry in self.history]

    def to_dict(self) -> dict[str, Any]:
        """The settings, the current level and the history, as JSON (a training run's results)."""
        return {"levels": list(self.levels), "window": self.window, "up": self.up, "down": self.down,
                "metric": self.metric, "level": self.level, "history": list(self.history)}


def _check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    from toolgym.generate.difficulty import DIFFICULTY_LEVELS

    levels = tuple(levels)
    valid = all(not isinstance(x, bool) and isinstance(x, int) and x in DIFFICULTY_LEVELS for x in levels)
    if not levels or not valid or list(levels) != sorted(set(levels)):
        raise InvalidKnob(f"levels must be increasing difficulty levels from {sorted(DIFFICULTY_LEVELS)}, "
                          f"e.g. (1, 2, 3, 4, 5); got {levels!r}.")
    return levels


class Curriculum(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Raises or lowers a generator env's ``difficulty`` by the agent's recent success.

    At each episode's end the score (``info["solve_f1"]`` or ``info["answer_correct"]``) goes to the
    :class:`CurriculumSchedule`; a new level applies at the next reset (through
    ``ToolUseEnv.set_knobs(difficulty=...)``, so knobs the env was made with still win over the
    preset). ``info["difficulty"]`` is the level of the current episode; :attr:`history` logs every
    finished episode's level and score.

    Args:
        env: A ToolGym generator env (``gym.make("ToolGym/Scenario-v0", ...)``), wrapped or not.
        levels, window, up, down, metric, start: The schedule's settings (see
            :class:`CurriculumSchedule`).
        schedule: A schedule to share with other envs instead (then give no other setting).

    Example:
        >>> import gymnasium as gym, toolgym
        >>> env = Curriculum(gym.make("ToolGym/Scenario-v0"), window=8)
        >>> _, info = env.reset(seed=0)
        >>> info["difficulty"], env.unwrapped.generator_config.shapes
        (1, ('single_hop',))
    """

    def __init__(self, env: gym.Env, levels: Sequence[int] = (1, 2, 3, 4, 5), window: int = 16,
                 up: float = 0.8, down: float = 0.3, metric: str = "solve_f1", start: int | None = None,
                 *, schedule: CurriculumSchedule | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, levels=tuple(levels), window=window, up=up, down=down,
                                                 metric=metric, start=start, schedule=schedule)
        gym.Wrapper.__init__(self, env)
        if getattr(env.unwrapped, "generator_config", None) is None:
            raise InvalidKnob("Curriculum moves the builder's difficulty: wrap a generator env such as "
                              "gym.make('ToolGym/Scenario-v0'), not a suite env.")
        settings = (tuple(levels), window, up, down, metric, start)
        if schedule is not None and settings != ((1, 2, 3, 4, 5), 16, 0.8, 0.3, "solve_f1", None):
            raise InvalidKnob("Give Curriculum either a shared schedule= or its settings, not both.")
        self.schedule = schedule or CurriculumSchedule(levels, window, up, down, metric, start)
        self._applied: int | None = None
        self._episode_level: int | None = None

    @property
    def level(self) -> int:
        """The level the next episode is played at."""
        return self.schedule.level

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every finished episode's ``{"episode", "level", "score"}``, in order."""
        return self.schedule.history

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        level = self.schedule.level
        if level != self._applied:
            self.env.unwrapped.set_knobs(difficulty=level)
            self._applied = level
        obs, info = self.env.reset(seed=seed, options=options)
        self._episode_level = level
        return obs, {**info, "difficulty": level}

    def step(self, action: Any):
        if self._episode_level is None:
            raise gym.error.ResetNeeded("Call reset() before step().")
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "difficulty": self._episode_level}
        if terminated or truncated:
            self.schedule.record(self.schedule.score(info), self._episode_level)
        return obs, reward, terminated, truncated, info
