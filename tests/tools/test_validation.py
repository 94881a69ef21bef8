import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from toolgym.error import InvalidScenario
from toolgym.scenario import ToolDoc
from toolgym.tools.validation import ArgumentValidator

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "year": {"type": "integer", "minimum": 1800},
        "units": {"type": "string", "enum": ["metric", "imperial"]},
        "verbose": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "filters": {"type": "object", "properties": {"min": {"type": "number"}}},
    },
    "required": ["title"],
    "additionalProperties": False,
}
VALIDATOR = ArgumentValidator([ToolDoc(name="film", description="", parameters=SCHEMA)])


@settings(max_examples=50, deadline=None)
@given(from_schema(SCHEMA))
def test_arguments_drawn_from_the_schema_are_accepted(arguments):
    assert VALIDATOR.check("film", arguments) is None


@given(st.sampled_from(["year", "units", "verbose", "tags"]), st.none() | st.just(0.5) | st.lists(st.integers(), min_size=1, max_size=2))
def test_arguments_violating_the_schema_name_the_field(field, value):
    message = VALIDATOR.check("film", {"title": "X", field: value})
    assert message is not None and f"field '{field}" in message


def test_a_missing_required_argument_is_named():
    assert "'title' is a required property" in VALIDATOR.check("film", {})


def test_an_extra_argument_is_named_with_a_suggestion():
    message = VALIDATOR.check("film", {"title": "X", "yeer": 2000})
    assert "unexpected argument 'yeer'" in message and "Did you mean 'year'" in message


def test_an_invalid_schema_is_the_scenarios_fault_and_raises_naming_the_tool():
    broken = ToolDoc(name="b", description="", parameters={"type": "object", "properties": {"a": {"type": 5}}})
    validator = ArgumentValidator([broken])
    with pytest.raises(InvalidScenario, match="tool 'b' is not a valid JSON Schema.*properties/a/type"):
        validator.check("b", {"a": "anything"})
