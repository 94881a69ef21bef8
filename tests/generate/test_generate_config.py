"""Bad knobs raise InvalidKnob at once, saying what is wrong and how to fix it."""

from __future__ import annotations

import numpy as np
import pytest

from toolgym.error import InvalidKnob
from toolgym.generate import GenerateConfig, build_scenario, generate_suite


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"shapes": ("multihop",)}, ["Unknown shape", "'multi_hop'", "single_hop"]),
    ({"shapes": ()}, ["at least one"]),
    ({"min_hops": 4, "max_hops": 3}, ["min_hops (4) exceeds max_hops (3)"]),
    ({"min_hops": 1}, ["min_hops must be from 2"]),
    ({"max_parallel": 1}, ["max_parallel"]),
    ({"distractors": -1}, ["distractors"]),
    ({"distractors": 2.5}, ["integer"]),
    ({"merge_prob": 1.5}, ["probability"]),
    ({"optional_params": 9, "rich_types": False}, ["optional_params must be from 0 to 5"]),
    ({"rich_types": "yes"}, ["True or False"]),
    ({"domains": ("films",)}, ["Unknown domain", "'film'"]),
    ({"domains": ("film",), "shapes": ("multi_hop",)}, ["cannot make multi_hop", "drop"]),
])
def test_bad_knobs_raise_invalid_knob_with_a_fix(kwargs, words):
    with pytest.raises(InvalidKnob) as raised:
        GenerateConfig(**kwargs)
    for word in words:
        assert word in str(raised.value)


def test_unknown_keyword_knobs_are_rejected_with_a_suggestion():
    with pytest.raises(InvalidKnob, match=r"Unknown knob 'distractor'\. Did you mean 'distractors'\?"):
        GenerateConfig.from_kwargs(distractor=3)


def test_known_keyword_knobs_build_a_config_with_normalized_values():
    config = GenerateConfig.from_kwargs(shapes=["multi_hop"], domains=["person", "city"], merge_prob=1)
    assert config.shapes == ("multi_hop",) and config.domains == ("person", "city")
    assert config.merge_prob == 1.0 and isinstance(config.merge_prob, float)
    assert GenerateConfig(shapes="single_hop").shapes == ("single_hop",)


def test_a_single_domain_can_still_make_single_hop_questions():
    config = GenerateConfig(shapes=("single_hop", "parallel_single_hop"), domains=("film",))
    for scenario in generate_suite(10, 0, config):
        assert all(t.impl.entity == "film" for t in scenario.tools if t.impl.kind == "lookup")


def test_a_non_generator_rng_is_refused():
    with pytest.raises(InvalidKnob, match="default_rng"):
        build_scenario(np.random.RandomState(0), GenerateConfig())  # type: ignore[arg-type]


def test_suite_size_and_seed_are_checked():
    with pytest.raises(InvalidKnob, match="seed"):
        generate_suite(1, -1, GenerateConfig())
    with pytest.raises(InvalidKnob, match="n must"):
        generate_suite(-2, 0, GenerateConfig())


def test_domains_with_short_chains_cap_the_hops_instead_of_failing():
    config = GenerateConfig(shapes=("multi_hop", "parallel_multi_hop"), min_hops=2, max_hops=6,
                            domains=("book", "person", "company"))
    for scenario in generate_suite(20, 1, config):
        hops = [s for s in scenario.subtasks if scenario.tool(s.tool).impl.kind == "lookup"]
        assert 2 <= len(hops) <= 9
