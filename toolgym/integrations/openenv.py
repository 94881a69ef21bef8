"""OpenEnv (TRL's environment servers): ToolGym envs served one per session, and their clients.

The server (:func:`create_app`, :func:`serve`, ``toolgym serve``) is OpenEnv's
``HTTPEnvServer`` over :class:`ToolGymEnvironment`: every WebSocket session gets its own ToolGym
env (``gym.make`` with the server's :class:`EnvSpec`), many sessions run at once (``max_sessions``,
at least the trainer's generation batch), a session whose client disconnects is closed at once and
one left idle longer than ``session_timeout`` seconds is reaped. ``GET /sessions`` says how many
are open.

Messages: an action is one assistant turn (:class:`ToolGymAction`: the model's text or an
OpenAI-style message); an observation (:class:`ToolGymObservation`) is the Gymnasium observation
(the chat so far and the scenario's tool schemas, which differ per scenario) with ``reward``,
``done``, ``terminated``, ``truncated`` and ``info``. ``reset`` takes Gymnasium's ``seed`` and
``options`` (``{"index": i}`` on a suite), and ``with_scenario`` to ship the scenario itself.

Clients: :class:`ToolGymEnvClient` is OpenEnv's async ``EnvClient`` (``.sync()`` for a blocking
one); :class:`RemoteToolEnv` is a ``gymnasium.Env`` over one session, so ToolGym's episode loop,
agents and ``toolgym_train``'s rollouts play remote envs as they play local ones.

Needs ``pip install -e .[openenv]`` (``openenv-core``); ``import toolgym`` never loads it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient
from openenv.core.env_server.http_server import HTTPEnvServer
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, ConcurrencyConfig, Observation, State
from pydantic import Field, model_validator

from toolgym.error import InvalidKnob, ToolGymError, did_you_mean
from toolgym.scenario import Scenario
from toolgym.spaces import AssistantTurn, Conversation

__all__ = [
    "EnvSpec",
    "RemoteToolEnv",
    "ToolGymAction",
    "ToolGymEnvClient",
    "ToolGymEnvironment",
    "ToolGymObservation",
    "create_app",
    "serve",
]

DEFAULT_MAX_SESSIONS = 256
"""Sessions a server holds at once by default: more than a usual generation batch."""

DEFAULT_SESSION_TIMEOUT = 600.0
"""Seconds a session may stay idle before it is reaped."""


@dataclass(frozen=True)
class EnvSpec:
    """How a server makes the env of each session.

    Args:
        env_id: A registered ToolGym id (a generator of scenarios) when ``scenarios`` is None.
        env_kwargs: ``gym.make`` keyword arguments (knobs).
        scenarios: A suite to play instead (``reset(options={"index": i})`` picks one).
        max_turns: Turns per episode (Gymnasium's ``max_episode_steps``).
    """

    env_id: str = "ToolGym/Scenario-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    scenarios: tuple[Scenario, ...] | None = None
    max_turns: int = 20

    def make(self) -> gym.Env:
        """A fresh env as this spec describes it.

        Without Gymnasium's passive checker: a session whose first reset is refused (a bad option)
        must stay usable, and the checker loses track after a failed first reset.
        """
        common = {"max_episode_steps": self.max_turns, "disable_env_checker": True, **self.env_kwargs}
        if self.scenarios is not None:
            return gym.make("ToolGym/Suite-v0", scenarios=list(self.scenarios), **common)
        return gym.make(self.env_id, **common)


class ToolGymAction(Action):
    """One assistant turn: the model's raw text, or an OpenAI-style assistant message."""

    text: str | None = Field(default=None, description="The model's raw output for this turn")
    message: dict[str, Any] | None = Field(
        default=None, description="An assistant message {'content': ..., 'tool_calls': [...]}")

    @model_validator(mode="after")
    def _one_of(self) -> ToolGymAction:
        if (self.text is None) == (self.message is None):
            raise ValueError("A ToolGym action holds exactly one of 'text' and 'message'.")
        return self

    @classmethod
    def of(cls, turn: str | dict[str, Any] | ToolGymAction) -> ToolGymAction:
        """The action of a turn given as text, as a message dict, or as an action."""
        if isinstance(turn, ToolGymAction):
            return turn
        return cls(text=turn) if isinstance(turn, str) else cls(message=dict(turn))


class ToolGymObservation(Observation):
    """The Gymnasium observation of a ToolGym env, with the step's outcome."""

    messages: list[dict[str, Any]] = Field(default_factory=list, description="The chat so far")
    tools: list[dict[str, Any]] = Field(default_factory=list, description="The scenario's OpenAI tool schemas")
    terminated: bool = Field(default=False, description="The episode ended with a final answer")
    truncated: bool = Field(default=False, description="The episode hit its turn limit")
    info: dict[str, Any] = Field(default_factory=dict, description="The env's info: reward breakdown, Solve-P/R/F1")
    scenario: str | None = Field(default=None, description="The scenario as JSON (reset with with_scenario=True)")


def _observation(obs: dict[str, Any], info: dict[str, Any], reward: float | None = None,
                 terminated: bool = False, truncated: bool = False) -> ToolGymObservation:
    return ToolGymObservation(
        messages=obs["messages"], tools=obs["tools"], terminated=terminated, truncated=truncated,
        info=json.loads(json.dumps(info, default=str)), reward=reward, done=terminated or truncated,
    )


class ToolGymEnvironment(Environment[ToolGymAction, ToolGymObservation, State]):
    """One session's ToolGym env, behind OpenEnv's server.

    Args:
        spec: How to make the env.
    """

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, spec: EnvSpec | None = None) -> None:
        super().__init__()
        self._env = (spec or EnvSpec()).make()
        self._state = State(episode_id=None, step_count=0)
        self._closed = False

    def reset(self, seed: int | None = None, episode_id: str | None = None,
              options: dict[str, Any] | None = None, with_scenario: bool = False,
              **unknown: Any) -> ToolGymObservation:
        """Starts an episode: Gymnasium's ``seed`` and ``options``; ``with_scenario`` ships it."""
        self._check_open()
        if unknown:
            known = ["seed", "episode_id", "options", "with_scenario"]
            first = sorted(unknown)[0]
            raise InvalidKnob(f"Unknown reset argument {first!r}; expected some of {known}.{did_you_mean(first, known)}")
        obs, info = self._env.reset(seed=seed, options=options)
        scenario = self._env.unwrapped.scenario
        self._state = State(episode_id=episode_id or scenario.id, step_count=0, scenario_id=scenario.id)
        observation = _observation(obs, info)
        if with_scenario:
            observation.scenario = scenario.model_dump_json()
        return observation

    def step(self, action: ToolGymAction, timeout_s: float | None = None, **kwargs: Any) -> ToolGymObservation:
        """Plays one assistant turn."""
        self._check_open()
        turn = action.text if action.text is not None else action.message
        obs, reward, terminated, truncated, info = self._env.step(turn)
        self._state.step_count += 1
        return _observation(obs, info, float(reward), terminated, truncated)

    @property
    def state(self) -> State:
        return self._state

    def _check_open(self) -> None:
        if self._closed:
            raise ToolGymError("This session's env was closed (idle past the server's session timeout?); reconnect.")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._env.close()


# -- the server ---------------------------------------------------------------------------------


def create_app(spec: EnvSpec | None = None, *, max_sessions: int = DEFAULT_MAX_SESSIONS,
               session_timeout: float | None = DEFAULT_SESSION_TIMEOUT) -> Any:
    """The FastAPI app of an OpenEnv server of ToolGym envs.

    Args:
        spec: How each session's env is made (default: ``ToolGym/Scenario-v0``).
        max_sessions: Sessions open at once; a client past that gets a capacity error.
        session_timeout: Seconds of inactivity after which a session is closed (None: never).

    Raises:
        InvalidKnob: a bad limit, or a spec whose env cannot be made.
    """
    from fastapi import FastAPI

    if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 1:
        raise InvalidKnob(f"max_sessions must be a positive int, got {max_sessions!r}.")
    if session_timeout is not None and not session_timeout > 0:
        raise InvalidKnob(f"session_timeout must be positive seconds or None, got {session_timeout!r}.")
    spec = spec or EnvSpec()
    try:
        spec.make().close()  # a bad id or knob raises here, not in every session
    except gym.error.Error as exc:
        known = [k for k in gym.registry if k.startswith("ToolGym/")]
        raise InvalidKnob(f"{exc}{did_you_mean(spec.env_id, known)} ToolGym ids: {', '.join(known)}.") from None
    config = ConcurrencyConfig(max_concurrent_envs=max_sessions, session_timeout=session_timeout)
    server = HTTPEnvServer(functools.partial(ToolGymEnvironment, spec), ToolGymAction, ToolGymObservation,
                           concurrency_config=config)
    app = FastAPI(title="ToolGym environments (OpenEnv)")
    server.register_routes(app)
    app.add_middleware(_QuietDisconnects)

    @app.get("/sessions", tags=["Health"], summary="Open sessions")
    def sessions() -> dict[str, int]:
        return {"active": server.active_sessions, "max": server.max_concurrent_envs}

    app.state.openenv_server = server
    return app


class _QuietDisconnects:
    """ASGI middleware: a client that hangs up first is normal, not an error to log.

    OpenEnv's WebSocket handler frees the session, then closes the socket, which raises when the
    client already closed it (it catches only ``RuntimeError``); that would log a traceback for
    every ordinary disconnect.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        from starlette.websockets import WebSocketDisconnect

        try:
            await self.app(scope, receive, send)
        except WebSocketDisconnect:
            if scope.get("type") != "websocket":
                raise


def serve(spec: EnvSpec | None = None, *, host: str = "127.0.0.1", port: int = 8000,
          max_sessions: int = DEFAULT_MAX_SESSIONS, session_timeout: float | None = DEFAULT_SESSION_TIMEOUT,
          log_level: str = "info") -> None:
    """Runs the server until interrupted (see :func:`create_app`)."""
    import uvicorn

    app = create_app(spec, max_sessions=max_sessions, session_timeout=session_timeout)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


# -- the clients --------------------------------------------------------------------------------


class ToolGymEnvClient(EnvClient[ToolGymAction, ToolGymObservation, State]):
    """OpenEnv's client of a ToolGym server: one session (one env) per client.

    ``step`` takes a :class:`ToolGymAction`, the model's text, or an assistant message dict.

    Example:
        >>> async with ToolGymEnvClient(base_url="http://127.0.0.1:8000") as env:  # doctest: +SKIP
        ...     result = await env.reset(seed=0)
        ...     result = await env.step('<tool_call>{"name": "f", "arguments": {}}</tool_call>')
        ...     result.reward, result.observation.info["solve_f1"]
    """

    def _step_payload(self, action: ToolGymAction | str | dict[str, Any]) -> dict[str, Any]:
        return ToolGymAction.of(action).model_dump(exclude_none=True)

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[ToolGymObservation]:
        observation = ToolGymObservation(**payload.get("observation", {}), reward=payload.get("reward"),
                                         done=payload.get("done", False))
        return StepResult(observation=observation, reward=payload.get("reward"), done=payload.get("done", False))

    def _parse_state(self, payload: dict[str, Any]) -> State:
        return State(**payload)


class RemoteToolEnv(gym.Env[dict, Any]):
    """A Gymnasium env whose episodes run in one session of a ToolGym OpenEnv server.

    Observations, rewards and ``info`` are the server env's; ``scenario`` is the episode's
    scenario (shipped at reset), so ToolGym's agents and episode loop play it as a local env.

    Args:
        base_url: The server, e.g. ``http://127.0.0.1:8000``.
        message_timeout_s: Seconds to wait for a reply.

    Example:
        >>> from toolgym.evaluate import play_episode  # doctest: +SKIP
        >>> env = RemoteToolEnv("http://127.0.0.1:8000")  # doctest: +SKIP
        >>> play_episode(env, OracleAgent(), options={"index": 0})["solve_f1"]  # doctest: +SKIP
    """

    metadata = {"render_modes": []}

    def __init__(self, base_url: str, message_timeout_s: float = 120.0) -> None:
        self._client = ToolGymEnvClient(base_url=base_url, message_timeout_s=message_timeout_s).sync()
        self.observation_space, self.action_space = Conversation(), AssistantTurn()
        self.scenario: Scenario | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        if isinstance(options.get("scenario"), Scenario):
            options["scenario"] = options["scenario"].model_dump(mode="json")
        result = self._client.reset(seed=seed, options=options or None, with_scenario=True)
        self.scenario = Scenario.model_validate_json(result.observation.scenario)
        return _gym_observation(result.observation), result.observation.info

    def step(self, action: Any):
        result = self._client.step(ToolGymAction.of(action))
        obs = result.observation
        return _gym_observation(obs), float(result.reward or 0.0), obs.terminated, obs.truncated, obs.info

    def close(self) -> None:
        self._client.close()


def _gym_observation(observation: ToolGymObservation) -> dict[str, Any]:
    return {"messages": observation.messages, "tools": observation.tools}
