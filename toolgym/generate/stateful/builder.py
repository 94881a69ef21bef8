"""Stateful worlds from a seed: a database, tools with a policy, and a goal scored by the final state.

:class:`StatefulConfig` holds the knobs; :func:`build_stateful_scenario` draws one scenario (its
world and one goal) from a numpy ``Generator``; :func:`generate_stateful_suite` draws ``n`` from a
seed. Same seed and knobs give a byte-identical ``model_dump_json()`` in any process.

A goal is a list of steps drawn against the data as earlier steps left it, so later writes
depend on earlier ones. The builder runs the gold actions in-process (the tools are our own
code) to check that every gold write succeeds and to compute the target state's hash; episodes
run the same code in the sandbox, and the oracle's episodes must reach the same hash.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from toolgym.error import InvalidKnob, did_you_mean
from toolgym.generate.knobs import check_int, check_names, check_rng, knob
from toolgym.generate.noise import NOISE_LEVELS, Renaming, check_noise, noise_tools
from toolgym.generate.stateful.base import (
    Ctx,
    FakeData,
    StatefulDomain,
    Step,
    ToolDef,
    UserFacts,
    compile_tools,
)
from toolgym.generate.stateful.distractors import DISTRACTORS
from toolgym.generate.stateful.library import LIBRARY
from toolgym.generate.stateful.shop import SHOP
from toolgym.generate.stateful.subscriptions import SUBSCRIPTIONS
from toolgym.generate.stateful.travel import TRAVEL
from toolgym.scenario import Scenario, SourceImpl, StatefulTask, Tool, ToolCall
from toolgym.state_hash import StateHasher
from toolgym.stateful import TAU_BENCH_TURNS

__all__ = ["DOMAINS", "STATEFUL_SHAPES", "STRICTNESS", "StatefulConfig", "build_stateful_scenario",
           "generate_stateful_suite"]

DOMAINS: dict[str, StatefulDomain] = {d.name: d for d in (SHOP, LIBRARY, TRAVEL, SUBSCRIPTIONS)}
"""The stateful domains by name."""

STATEFUL_SHAPES = ("single_write", "multi_write", "conditional", "refusal", "lookup")
"""Goal shapes: one write; ``writes`` dependent writes; a write whose choice the data decides; a
request the policy forbids (the target state is the start state, an output says why); a question
answered from the data (outputs only)."""

STRICTNESS = ("lenient", "strict")
"""Policies: ``strict`` write tools also need the user id the agent looked up from the email."""

_ATTEMPTS = 50





@dataclass(frozen=True)
class StatefulConfig:
    """Knobs of the stateful world builder.

    Example:
        >>> StatefulConfig(domains=("shop",), writes=3).writes
        3
    """

    domains: tuple[str, ...] = knob("Stateful domains to draw from, uniformly.", tuple(DOMAINS))
    shapes: tuple[str, ...] = knob("Goal shapes to draw from, uniformly.", STATEFUL_SHAPES)
    writes: int = knob("Writes of a multi_write goal (2 to 4; fewer if the user's data runs out).", 2)
    distractors: int = knob(f"Unrelated read tools added to the domain's own (0 to {len(DISTRACTORS)}).", 2)
    strictness: str = knob("Policy: 'lenient' or 'strict' (writes need the verified user id).", "strict")
    records: int = knob("Records in the database, about (20 to 5000).", 60)
    noise: str = knob(f"Noise in tool and argument names, RoTBench's levels: {', '.join(NOISE_LEVELS)}.",
                       "clean")

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "domains", check_names("domains", self.domains, tuple(DOMAINS)))
        set_(self, "shapes", check_names("shapes", self.shapes, STATEFUL_SHAPES))
        set_(self, "writes", check_int("writes", self.writes, 2, 4))
        set_(self, "distractors", check_int("distractors", self.distractors, 0, len(DISTRACTORS)))
        set_(self, "records", check_int("records", self.records, 20, 5000))
        if self.strictness not in STRICTNESS:
            raise InvalidKnob(f"strictness must be one of {', '.join(STRICTNESS)}, got {self.strictness!r}."
                              + did_you_mean(self.strictness, STRICTNESS))
        check_noise(self.noise)

    def to_dict(self) -> dict[str, Any]:
        """The knobs as JSON values; ``noise`` only when not clean, so clean worlds keep the bytes
        they had before the knob existed."""
        knobs = asdict(self)
        knobs.update(domains=list(self.domains), shapes=list(self.shapes))
        if knobs["noise"] == "clean":
            del knobs["noise"]
        return knobs

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> StatefulConfig:
        """A config from keyword arguments (``gym.make`` knobs), rejecting unknown ones."""
        valid = [f.name for f in fields(cls)]
        for key in kwargs:
            if key not in valid:
                raise InvalidKnob(f"Unknown knob {key!r}.{did_you_mean(key, valid)} Valid knobs: {', '.join(valid)}.")
        return cls(**kwargs)


class _NoGoal(Exception):
    """The drawn user's data offers no goal of the drawn shape; draw again."""


def _steps(ctx: Ctx, domain: StatefulDomain, shape: str, writes: int, run: Any) -> list[Step]:
    """Draws the goal's steps, running each step's gold calls on the data before the next."""
    kind = {"single_write": "write", "multi_write": "write"}.get(shape, shape)
    steps: list[Step] = []
    for _ in range(writes if shape == "multi_write" else 1):
        intents = list(domain.intents()[kind])
        ctx.rng.shuffle(intents)
        step = next((s for s in (intent(ctx) for intent in intents) if s is not None), None)
        if step is None:
            break
        for call in step.calls:
            run(call)
        steps.append(step)
    if len(steps) < (2 if shape == "multi_write" else 1):
        raise _NoGoal(shape)
    return steps


def _instruction(user: UserFacts, steps: list[Step], strict: bool) -> tuple[str, list[tuple[str, str]]]:
    asks = [steps[0].ask] + [f"then {s.ask}" for s in steps[1:]]
    facts = [("name", user.name), ("email", user.email)]
    for step in steps:
        facts += [f for f in step.facts if f not in facts]
    request = f"You are {user.name}. You want to {'; '.join(asks)}."
    if any(s.outputs for s in steps):
        request += " Ask the agent to tell you what it finds."
    lines = "\n".join(f"- {label}: {value}" for label, value in facts)
    return f"{request}\nFacts you know:\n{lines}", facts


def _tools(domain: StatefulDomain, config: StatefulConfig, rng: random.Random) -> tuple[tuple[Tool, ...], Renaming]:
    """The domain's tools and drawn distractors in a drawn order, under the drawn noise (the last
    draws of a scenario; clean draws nothing), and what the noise renamed."""
    strict = config.strictness == "strict"
    defs: list[ToolDef] = domain.tools() + rng.sample(DISTRACTORS, config.distractors)
    rng.shuffle(defs)
    tools = tuple(Tool(doc=t.doc(strict), impl=SourceImpl(code=t.source(strict)), distractor=t in DISTRACTORS)
                  for t in defs)
    return noise_tools(tools, config.noise, rng)


@functools.cache
def _functions(domain: str, strict: bool) -> dict[str, Any]:
    """A domain's tools compiled in-process, once per process (they keep no state of their own)."""
    return compile_tools(DOMAINS[domain].tools(), strict)


def _attempt(rng: random.Random, config: StatefulConfig, scenario_id: str) -> Scenario:
    domain = DOMAINS[rng.choice(config.domains)]
    shape = rng.choice(config.shapes)
    strict = config.strictness == "strict"
    fake = FakeData(rng)
    data = domain.build(rng, fake, config.records)
    start = json.loads(json.dumps(data))
    user_id = rng.choice(sorted(data["users"]))
    raw = data["users"][user_id]
    user = UserFacts(user_id, raw["name"], raw["email"])
    functions = _functions(domain.name, strict)

    def run(call: ToolCall) -> Any:
        return functions[call.name](data, **call.arguments)  # a gold call that fails is a builder bug

    ctx = Ctx(data=data, user=user, rng=rng, strict=strict, fake=fake)
    steps = _steps(ctx, domain, shape, config.writes, run)
    identity = [ToolCall(name="find_user_id_by_email", arguments={"email": user.email})] if strict else []
    actions = identity + [call for step in steps for call in step.calls]
    instruction, facts = _instruction(user, steps, strict)
    tools, renaming = _tools(domain, config, rng)
    task = StatefulTask(actions=tuple(map(renaming.call, actions)), outputs=tuple(o for s in steps for o in s.outputs),
                        data=start, target_hash=StateHasher(start).hexdigest(data))
    wiki = renaming.text(domain.wiki(strict))
    return Scenario(
        id=scenario_id, shape=shape, question=instruction,
        messages=({"role": "system", "content": wiki}, {"role": "user", "content": instruction}),
        tools=tools, task=task, max_turns=TAU_BENCH_TURNS,
        meta={"generator": "toolgym.generate.stateful", "domain": domain.name, "shape": shape,
              "knobs": config.to_dict(), "questions": ["What is your email address?"] if strict else [],
              "facts": [list(f) for f in facts]},
    )


def build_stateful_scenario(rng: np.random.Generator, config: StatefulConfig | None = None, *,
                            scenario_id: str | None = None) -> Scenario:
    """Draws one stateful scenario (a world and a goal); every random choice comes from ``rng``.

    Args:
        rng: The random source, e.g. a Gymnasium env's ``np_random``.
        config: The knobs (defaults if None).
        scenario_id: The id to give; by default one drawn from ``rng``.

    Example:
        >>> scenario = build_stateful_scenario(np.random.default_rng(0), StatefulConfig(domains=("shop",)))
        >>> scenario.meta["domain"], scenario.task.target_hash is not None
        ('shop', True)
    """
    config = config or StatefulConfig()
    check_rng(rng)
    scenario_id = scenario_id or f"stateful-{int(rng.integers(0, 2**48)):012x}"
    rand = random.Random(int(rng.integers(0, 2**63)))
    for _ in range(_ATTEMPTS):
        try:
            return _attempt(rand, config, scenario_id)
        except _NoGoal:
            continue
    raise RuntimeError(f"no goal in {_ATTEMPTS} draws; raise records or widen shapes: {config}")


def generate_stateful_suite(n: int, seed: int, config: StatefulConfig | None = None) -> list[Scenario]:
    """``n`` scenarios; scenario ``i`` comes from ``numpy.random.default_rng([seed, i])``, id
    ``stateful-<seed>-<i>``.

    Example:
        >>> [s.id for s in generate_stateful_suite(2, seed=3, config=StatefulConfig(domains=("library",)))]
        ['stateful-3-0', 'stateful-3-1']
    """
    n, seed = check_int("n", n, 0, 10**9), check_int("seed", seed, 0, 2**63 - 1)
    return [build_stateful_scenario(np.random.default_rng([seed, i]), config, scenario_id=f"stateful-{seed}-{i}")
            for i in range(n)]
