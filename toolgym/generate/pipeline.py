"""The procedural, seeded environment builder: the five stages run end to end, no LLM.

:class:`GenerateConfig` holds the knobs; :func:`build_scenario` draws one
:class:`~toolgym.scenario.Scenario` from a numpy ``Generator``; :func:`generate_suite` draws
``n`` of them from one seed. Same seed and knobs give a byte-identical ``model_dump_json()`` in
any process.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from toolgym.error import InvalidKnob, did_you_mean
from toolgym.generate.decomposition import QUESTION_KINDS, Decomposition, can_decompose, decompose
from toolgym.generate.deployment import Conflict, deploy
from toolgym.generate.difficulty import difficulty_knobs, difficulty_summary
from toolgym.generate.documents import draft
from toolgym.generate.domains import DOMAIN_NAMES
from toolgym.generate.integration import integrate
from toolgym.generate.knobs import check_int, check_names, check_rate, check_rng, knob
from toolgym.generate.noise import add_noise, check_noise
from toolgym.generate.packs import resolve_domains
from toolgym.generate.paraphrase import check_spec, paraphrase_scenario
from toolgym.generate.scaling import (
    CONTEXT_PARAMS,
    add_context_params,
    add_distractors,
    expand_parameters,
    generalize_functions,
    max_optional_params,
    reserved_params,
)
from toolgym.generate.styles import DOC_STYLES, vary_documents
from toolgym.generate.world import World, words
from toolgym.prompts import opening_messages
from toolgym.scenario import SHAPES, Scenario

__all__ = ["GenerateConfig", "build_scenario", "generate_suite", "iter_suite"]

_ATTEMPTS = 50






def _check_domains(value: Any) -> tuple[str, ...]:
    """Validates the ``domains`` knob: names and paths, as strings (paths stay as given)."""
    items = (value,) if isinstance(value, str | os.PathLike) else tuple(value)
    if not items or not all(isinstance(item, str | os.PathLike) for item in items):
        raise InvalidKnob(f"domains must name at least one entity type, bundled pack or pack file "
                          f"(strings or paths), got {value!r}.")
    items = tuple(dict.fromkeys(os.fspath(item) for item in items))
    resolve_domains(items, reserved_params())  # raises at once for an unknown name or a bad pack
    return items


@dataclass(frozen=True)
class GenerateConfig:
    """Knobs of the procedural environment builder.

    Example:
        >>> GenerateConfig(shapes=("multi_hop",), max_hops=4).max_hops
        4
    """

    shapes: tuple[str, ...] = knob("Shapes to draw from, uniformly.", SHAPES)
    min_hops: int = knob("Fewest hops of a multi-hop chain (2 to 6).", 2)
    max_hops: int = knob("Most hops of a multi-hop chain (2 to 6, at least min_hops).", 3)
    max_parallel: int = knob("Most independent sub-questions or chains of parallel shapes (2 to 5).", 3)
    question_kinds: tuple[str, ...] = knob(
        "How parallel shapes combine their sub-answers, drawn uniformly among those the domains "
        "can make: sum, difference, comparison, ordering, list, date_difference, unit_conversion.",
        QUESTION_KINDS)
    distractors: int = knob("Distractor tools per scenario (0 to 40; fewer if domains run out).", 4)
    merge_prob: float = knob("Probability that same-entity tools merge into one general tool.", 0.5)
    optional_params: int = knob("Optional parameters added to every tool.", 3)
    rich_types: bool = knob("Allow enum, boolean, number, array and object parameters.", True)
    domains: tuple[str, ...] | None = knob(
        "Entity types to use (None: every bundled type): entity type names, bundled pack names "
        "(core: the nine original types, music, medicine ...) or paths of pack files (.yaml).", None)
    doc_style: str = knob("Tool names and descriptions: varied (styles and synonyms drawn per "
                           "scenario) or plain (get_<entity>_<attr>, one description).", "varied")
    required_params: float = knob(
        "Required context parameters per lookup tool (0 to 5): the integer part on every one, one "
        "more with the fraction as probability (FTRL's test set: 0.5 with optional_params=6).", 0.0)
    noise: str = knob("Noise in tool and parameter names, RoTBench's levels: clean, slight, "
                       "medium, heavy or union.", "clean")
    difficulty: int | None = knob(
        "Preset of the other knobs, 1 (one-hop clean toy tasks) to 5 (paper scale); a knob given "
        "explicitly wins (see toolgym.generate.difficulty). " + difficulty_summary(), None)
    paraphrase: str | None = knob(
        "LLM stage (off by default): openai:MODEL or hf:PATH rewrites each question in natural language; "
        "a rewrite that drops an entity the tools need, or reveals a sub-answer, leaves the template "
        "(see toolgym.generate.paraphrase).", None)
    paraphrase_tools: bool = knob("With paraphrase: rewrite the tool descriptions too.", False)
    paraphrase_base_url: str | None = knob(
        "With paraphrase=openai:MODEL: the server's API root (default: $OPENAI_BASE_URL; key: $OPENAI_API_KEY).", None)
    paraphrase_cache: str | None = knob(
        "With paraphrase: the folder of cached rewrites, by scenario id, model and text "
        "(default: $XDG_CACHE_HOME or ~/.cache, then toolgym/paraphrase).", None)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.difficulty is not None:
            raise InvalidKnob(
                f"GenerateConfig(difficulty={self.difficulty!r}) cannot tell your knobs from the defaults: "
                f"use GenerateConfig.from_kwargs(difficulty={self.difficulty!r}, ...) (as gym.make and the "
                "CLI do), where the level presets the knobs you leave out.")
        self._check_paraphrase()
        set_(self, "shapes", check_names("shapes", self.shapes, SHAPES))
        set_(self, "min_hops", check_int("min_hops", self.min_hops, 2, 6))
        set_(self, "max_hops", check_int("max_hops", self.max_hops, 2, 6))
        if self.min_hops > self.max_hops:
            raise InvalidKnob(f"min_hops ({self.min_hops}) exceeds max_hops ({self.max_hops}); "
                              "raise max_hops or lower min_hops.")
        set_(self, "max_parallel", check_int("max_parallel", self.max_parallel, 2, 5))
        set_(self, "question_kinds", check_names("question_kinds", self.question_kinds, QUESTION_KINDS))
        set_(self, "distractors", check_int("distractors", self.distractors, 0, 40))
        if not isinstance(self.rich_types, bool):
            raise InvalidKnob(f"rich_types must be True or False, got {self.rich_types!r}.")
        most = max_optional_params(self.rich_types)
        set_(self, "optional_params", check_int("optional_params", self.optional_params, 0, most))
        if isinstance(self.merge_prob, bool) or not isinstance(self.merge_prob, numbers.Real) \
                or not 0.0 <= self.merge_prob <= 1.0:
            raise InvalidKnob(f"merge_prob must be a probability from 0 to 1, got {self.merge_prob!r}.")
        set_(self, "merge_prob", float(self.merge_prob))
        if self.domains is not None:
            set_(self, "domains", _check_domains(self.domains))
        if self.doc_style not in DOC_STYLES:
            raise InvalidKnob(f"doc_style must be one of {', '.join(DOC_STYLES)}, got "
                              f"{self.doc_style!r}.{did_you_mean(self.doc_style, DOC_STYLES)}")
        set_(self, "required_params", check_rate("required_params", self.required_params,
                                                  len(CONTEXT_PARAMS)))
        set_(self, "noise", check_noise(self.noise))
        self._check_feasible()

    def _check_paraphrase(self) -> None:
        if self.paraphrase is not None:
            check_spec(self.paraphrase)
        elif self.paraphrase_tools or self.paraphrase_base_url or self.paraphrase_cache:
            raise InvalidKnob("paraphrase_tools, paraphrase_base_url and paraphrase_cache need paraphrase= "
                              "(openai:MODEL or hf:PATH); set it or drop them.")
        if not isinstance(self.paraphrase_tools, bool):
            raise InvalidKnob(f"paraphrase_tools must be True or False, got {self.paraphrase_tools!r}.")
        for name in ("paraphrase_base_url", "paraphrase_cache"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise InvalidKnob(f"{name} must be a string or None, got {getattr(self, name)!r}.")

    def _check_feasible(self) -> None:
        for shape in self.shapes:
            if not can_decompose(shape, self.types, self.min_hops, self.question_kinds):
                kinds = (f", question_kinds={list(self.question_kinds)}"
                         if shape.startswith("parallel") else "")
                raise InvalidKnob(
                    f"domains {list(self.types)} cannot make {shape} questions "
                    f"(min_hops={self.min_hops}{kinds}); add related domains such as 'person' and "
                    f"'city'{', or question kinds such as list' if kinds else ''}, "
                    f"or drop {shape!r} from shapes.")

    @property
    def types(self) -> tuple[str, ...]:
        """The entity types in use."""
        return DOMAIN_NAMES if self.domains is None else resolve_domains(self.domains, reserved_params())

    def to_dict(self) -> dict[str, Any]:
        """Returns the knobs as JSON-serializable values (a fresh dict on every call)."""
        return json.loads(self._knobs_json())

    def _knobs_json(self) -> str:
        cached = self.__dict__.get("_json")
        if cached is None:  # a config is frozen, so its knobs serialize once
            knobs = asdict(self)
            knobs["shapes"] = list(self.shapes)
            knobs["question_kinds"] = list(self.question_kinds)
            knobs["domains"] = None if self.domains is None else list(self.domains)
            cached = self.__dict__["_json"] = json.dumps(knobs)
        return cached

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> GenerateConfig:
        """Builds a config from keyword arguments (``gym.make`` knobs), rejecting unknown ones.

        ``difficulty=N`` presets the knobs of level N (:mod:`toolgym.generate.difficulty`); the
        knobs given here win over it, and the config records the level.

        Example:
            >>> config = GenerateConfig.from_kwargs(difficulty=1, distractors=2)
            >>> config.shapes, config.distractors, config.difficulty
            (('single_hop',), 2, 1)
        """
        valid = [f.name for f in fields(cls)]
        for key in kwargs:
            if key not in valid:
                raise InvalidKnob(f"Unknown knob {key!r}.{did_you_mean(key, valid)} "
                                  f"Valid knobs: {', '.join(valid)}.")
        level = kwargs.pop("difficulty", None)
        if level is None:
            return cls(**kwargs)
        config = cls(**{**difficulty_knobs(level), **kwargs})  # explicit knobs win over the preset
        object.__setattr__(config, "difficulty", level)
        return config


def _ambiguous(decomposition: Decomposition) -> bool:
    """Whether two sub-answers are equal or one contains the other as whole words."""
    answers = [words(step.answer) for step in decomposition.steps]
    return any(a in b or b in a for i, a in enumerate(answers) for b in answers[i + 1:])


def _attempt(rng: np.random.Generator, config: GenerateConfig, scenario_id: str) -> Scenario:
    world = World(rng)
    rand = world.random
    shape = rand.choice(config.shapes)
    hops = range(config.min_hops, config.max_hops + 1)
    decomposition = decompose(world, shape, config.types, hops, config.max_parallel,
                              config.question_kinds)
    if _ambiguous(decomposition):
        raise Conflict("sub-answers overlap")
    specs = integrate(draft(decomposition), config.merge_prob, rand)
    specs = generalize_functions(specs, config.merge_prob / 2, rand)
    distractors = add_distractors(specs, config.distractors, config.types, rand)
    if config.doc_style == "varied":
        vary_documents(specs + distractors, rand)
    for spec in specs + distractors:
        expand_parameters(spec, config.optional_params, config.rich_types, rand)
    tools, subtasks = deploy(world, decomposition, specs, distractors, rand)
    tools, subtasks = add_context_params(tools, subtasks, config.required_params, rand)
    tools, subtasks = add_noise(tools, subtasks, config.noise, rand)
    return Scenario(
        id=scenario_id, shape=shape, question=decomposition.question,
        messages=opening_messages(decomposition.question), tools=tools, subtasks=subtasks,
        answer=decomposition.answer,
        meta={"generator": "toolgym.generate", "shape": shape, "knobs": config.to_dict(),
              **({"question_kind": decomposition.kind} if decomposition.kind else {})},
    )


def build_scenario(rng: np.random.Generator, config: GenerateConfig | None = None, *,
                   scenario_id: str | None = None) -> Scenario:
    """Draws one scenario; every random choice comes from ``rng``.

    Args:
        rng: The random source, e.g. a Gymnasium env's ``np_random``.
        config: The knobs (defaults if None).
        scenario_id: The id to give; by default one drawn from ``rng``.

    Returns:
        A scenario whose sub-tasks the gold calls solve, in dependency order.

    Example:
        >>> import numpy as np
        >>> scenario = build_scenario(np.random.default_rng(0))
        >>> scenario.shape in SHAPES
        True
    """
    config = config or GenerateConfig()
    check_rng(rng)
    scenario_id = scenario_id or f"gen-{int(rng.integers(0, 2**48)):012x}"
    for _ in range(_ATTEMPTS):
        try:
            scenario = _attempt(rng, config, scenario_id)
        except Conflict:
            continue
        return paraphrase_scenario(scenario, config) if config.paraphrase else scenario
    raise RuntimeError(f"no unambiguous scenario in {_ATTEMPTS} draws; please report the knobs {config}")


def iter_suite(n: int, seed: int, config: GenerateConfig | None = None, *,
               progress: bool = False) -> Iterator[Scenario]:
    """Yields ``n`` scenarios; scenario ``i`` comes from ``numpy.random.default_rng([seed, i])``.

    Ids are ``gen-<seed>-<i>``, so a suite can be regenerated or extended piece by piece.

    Args:
        n: How many scenarios.
        seed: The suite's seed (a non-negative integer).
        config: The knobs (defaults if None).
        progress: Show a tqdm progress bar on stderr.
    """
    n = check_int("n", n, 0, 10**9)
    seed = check_int("seed", seed, 0, 2**63 - 1)
    config = config or GenerateConfig()
    indices: Iterable[int] = range(n)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="generating", unit="scenario")
    for i in indices:
        scenario = build_scenario(np.random.default_rng([seed, i]), config, scenario_id=f"gen-{seed}-{i}")
        yield scenario.model_copy(update={"meta": {**scenario.meta, "seed": seed, "index": i}})


def generate_suite(n: int, seed: int, config: GenerateConfig | None = None) -> list[Scenario]:
    """Returns ``n`` scenarios drawn from ``seed``, as :func:`iter_suite` yields them.

    Example:
        >>> [s.id for s in generate_suite(2, seed=5)]
        ['gen-5-0', 'gen-5-1']
    """
    n = check_int("n", n, 0, 10**9)
    seed = check_int("seed", seed, 0, 2**63 - 1)
    return list(iter_suite(n, seed, config))
