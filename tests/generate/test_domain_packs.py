"""Domain packs: the bundled data, the checks a bad pack fails with, and user packs end to end."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import gymnasium as gym
import pytest
from generate_checks import assert_well_formed

import toolgym  # noqa: F401  (registers the env ids)
from toolgym.error import InvalidKnob, InvalidPack
from toolgym.generate import GenerateConfig, generate_suite
from toolgym.generate.domains import DOMAIN_NAMES, DOMAINS, PACKS, areas
from toolgym.generate.packs import resolve_domains
from toolgym.generate.scaling import reserved_params
from toolgym.oracle import OracleAgent

ORIGINAL_TYPES = ("person", "city", "country", "company", "product", "film", "book", "team", "event")

GADGETS = """\
description: Gadgets, made by the bundled companies.
word_lists:
  gadget_word: [Widget, Sprocket, Gizmo, Doohickey]
entity_types:
  - name: gadget
    area: gadgets
    synonyms: [contraption]
    key_param: gadget
    key_doc: Name of the gadget.
    names: ["{catch_phrase_adjective} {gadget_word} {roman}"]
    attributes:
      - name: maker
        kind: entity
        target: company
        questions: ["Who makes {x}?", "Which company builds {x}?", "What company produces {x}?"]
        nouns: ["the maker of {x}", "the company that builds {x}"]
        docs: ["the company that makes the gadget", "the gadget's maker"]
      - name: mass_kg
        kind: float
        low: 0.5
        high: 40
        unit: kilograms
        questions: ["How heavy is {x} in kg?", "What does {x} weigh in kg?", "What is the mass of {x} in kg?"]
        nouns: ["the mass of {x} in kg", "the weight of {x} in kg"]
        docs: ["the gadget's mass in kilograms", "how much the gadget weighs, in kg"]
      - name: launch_date
        kind: date
        low: 1990
        high: 2020
        questions: ["When did {x} launch?", "What is the launch date of {x}?", "On which date was {x} launched?"]
        nouns: ["the launch date of {x}", "the day {x} launched"]
        docs: ["the launch date, YYYY-MM-DD", "when the gadget launched"]
"""


def _write(tmp_path, text: str, name: str = "gadgets.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def play_oracle(env, seed: int) -> dict:
    obs, info = env.reset(seed=seed)
    agent, done, truncated = OracleAgent(env), False, False
    while not (done or truncated):
        obs, _, done, truncated, info = env.step(agent.act(obs))
    return info


# --- the bundled packs ---------------------------------------------------------------------------

def test_the_bundled_packs_hold_thirty_types_over_ten_areas_with_three_phrasings_each():
    assert len(DOMAIN_NAMES) >= 30 and len(areas()) >= 10
    for name in DOMAIN_NAMES:
        for attr in DOMAINS[name].attributes:
            assert len(attr.questions) >= 3 and len(attr.nouns) >= 2 and len(attr.docs) >= 2, attr.name


def test_the_bundled_packs_have_dates_units_and_relations_across_areas():
    attrs = [(t, a) for t in DOMAIN_NAMES for a in DOMAINS[t].attributes]
    assert len({t for t, a in attrs if a.kind == "date"}) >= 15
    assert sum(1 for _, a in attrs if a.numeric and a.unit) >= 30
    crossing = {(DOMAINS[t].area, DOMAINS[a.target].area) for t, a in attrs
                if a.kind == "entity" and DOMAINS[a.target].area != DOMAINS[t].area}
    assert len(crossing) >= 15


def test_core_selects_exactly_the_nine_original_types_in_their_order():
    assert PACKS["core"] == ORIGINAL_TYPES == DOMAIN_NAMES[:9]
    assert resolve_domains(["core"]) == ORIGINAL_TYPES
    assert resolve_domains(["music", "person", "album"]) == ("musician", "album", "record_label", "person")
    assert not set(PACKS) & set(DOMAIN_NAMES)  # an item names a pack or a type, never both
    assert not {DOMAINS[name].key_param for name in DOMAIN_NAMES} & reserved_params()


@pytest.mark.parametrize("type_", DOMAIN_NAMES)
def test_the_oracle_solves_questions_about_every_bundled_type(type_):
    env = gym.make("ToolGym/Scenario-v0", shapes=["single_hop"], domains=[type_])
    for seed in (0, 1):
        info = play_oracle(env, seed)
        assert info["solve_f1"] == 1.0 and info["answer_correct"]


def test_multi_hop_chains_cross_the_bundled_areas_and_stay_well_formed():
    suite = generate_suite(60, 4, GenerateConfig(shapes=("multi_hop", "parallel_multi_hop")))
    visited = set()
    for scenario in suite:
        assert_well_formed(scenario)
        visited |= {DOMAINS[t.impl.entity].area for t in scenario.tools
                    if not t.distractor and getattr(t.impl, "entity", None) in DOMAINS}
    assert len(visited) >= 10


# --- tool-document styles ------------------------------------------------------------------------

FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")


def test_varied_documents_give_hundreds_of_distinct_valid_unique_tool_names():
    suite = generate_suite(200, 0, GenerateConfig(distractors=7))
    names = [[tool.name for tool in s.tools] for s in suite]
    assert all(len(set(n)) == len(n) for n in names)
    assert all(FUNCTION_NAME.match(name) for n in names for name in n)
    assert len({name for n in names for name in n}) >= 500
    descriptions = {t.doc.description for s in suite for t in s.tools}
    assert len(descriptions) >= 500


def test_plain_documents_keep_the_get_entity_attribute_names():
    suite = generate_suite(30, 0, GenerateConfig(doc_style="plain", merge_prob=0.0, shapes=("single_hop",)))
    for scenario in suite:
        tool = scenario.tool(scenario.subtasks[0].tool)
        assert tool.name == f"get_{tool.impl.entity}_{tool.impl.field}"
        assert tool.doc.description.startswith("Returns ")


def test_a_bad_doc_style_or_domain_names_the_fix():
    with pytest.raises(InvalidKnob, match="doc_style must be one of varied, plain.*'plain'"):
        GenerateConfig(doc_style="plane")
    with pytest.raises(InvalidKnob, match="Unknown domain 'musik'.*'music'"):
        GenerateConfig(domains=["musik"])
    with pytest.raises(InvalidKnob, match="at least one"):
        GenerateConfig(domains=[])


# --- user packs ----------------------------------------------------------------------------------

def test_a_user_pack_extends_the_bundled_types_through_gym_make(tmp_path):
    path = _write(tmp_path, GADGETS)
    env = gym.make("ToolGym/Scenario-v0", domains=[path, "company", "person", "city"],
                   shapes=["single_hop", "multi_hop"])
    seen = set()
    for seed in range(12):
        info = play_oracle(env, seed)
        assert info["solve_f1"] == 1.0 and info["answer_correct"]
        scenario = env.unwrapped.scenario
        seen |= {getattr(t.impl, "entity", None) for t in scenario.tools}
        knobs = json.loads(json.dumps(scenario.meta))["knobs"]
        assert knobs["domains"] == [path, "company", "person", "city"]
    assert "gadget" in seen


def test_a_user_pack_gives_byte_identical_scenarios_in_another_process(tmp_path):
    path = _write(tmp_path, GADGETS)
    code = ("import hashlib, sys; from toolgym.generate import GenerateConfig, generate_suite; "
            "s = generate_suite(30, 3, GenerateConfig(domains=[sys.argv[1], 'core'])); "
            "print(hashlib.sha256('\\n'.join(x.model_dump_json() for x in s).encode()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True)
    suite = generate_suite(30, 3, GenerateConfig(domains=[path, "core"]))
    assert any(t.impl.entity == "gadget" for s in suite for t in s.tools if hasattr(t.impl, "entity"))
    digest = hashlib.sha256("\n".join(s.model_dump_json() for s in suite).encode()).hexdigest()
    assert out.stdout.strip() == digest


MISTAKES = [
    ('questions: ["Who makes {x}?", "Which company builds {x}?", "What company produces {x}?"]',
     'questions: ["Who makes {x}?", "Which company builds {x}?"]',
     "entity_types[0].attributes[0].questions: at least 3 phrasings needed, got 2 (in broken_gadget.maker)"),
    ("target: company", "target: compny",
     "entity_types[0].attributes[0].target: unknown entity type 'compny'; load a pack that defines it. "
     "Did you mean 'company'?"),
    ("low: 1990", "low: 2030", "entity_types[0].attributes[2].high: low (2030) exceeds high (2020)"),
    ('"When did {x} launch?"', '"When did it launch?"', "entity_types[0].attributes[2].questions: "
     "'When did it launch?' must contain the slot {x} exactly once"),
    ("kind: float", "kind: enum", "entity_types[0].attributes[1].choices: kind 'enum' needs a non-empty list"),
    ("{gadget_word}", "{gadget_words}", "entity_types[0].names[0]: unknown word list 'gadget_words'"),
    ("target: company", "target: company\n        inverse: ceo",
     "entity_types[0].attributes[0].inverse: 'ceo' must be an entity attribute of 'company' whose "
     "target is 'broken_gadget'"),
    ("    synonyms: [contraption]", "    synonym: [contraption]", "entity_types[0].synonym: Extra inputs"),
    ("name: gadget\n", "name: film\n", "entity_types[0].name: entity type 'film' is already defined by "
     "packs/core.yaml; rename it"),
    ("key_param: gadget", "key_param: Gadget Name", "entity_types[0].key_param: 'Gadget Name' must be "
     "a snake_case identifier"),
    ("key_param: gadget", "key_param: format", "entity_types[0].key_param: 'format' is a parameter the "
     "builder adds to tools"),
]


@pytest.mark.parametrize(("old", "new", "message"), MISTAKES)
def test_a_pack_with_a_mistake_fails_naming_the_file_and_the_field(tmp_path, old, new, message):
    assert old in GADGETS
    # Another type name than the loaded gadget's, so only the mistake can fail the load.
    text = GADGETS.replace(old, new, 1).replace("name: gadget\n", "name: broken_gadget\n")
    path = _write(tmp_path, text, "broken.yaml")
    with pytest.raises(InvalidPack) as caught:
        GenerateConfig(domains=[path])
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_an_unreadable_or_malformed_pack_file_says_so(tmp_path):
    with pytest.raises(InvalidPack, match="missing.yaml: cannot read the pack file"):
        resolve_domains([str(tmp_path / "missing.yaml")])
    with pytest.raises(InvalidPack, match="bad.yaml: not valid YAML"):
        resolve_domains([_write(tmp_path, "entity_types: [", "bad.yaml")])
    with pytest.raises(InvalidPack, match="list.yaml: a pack must be a mapping"):
        resolve_domains([_write(tmp_path, "- 1\n- 2\n", "list.yaml")])
