"""Arguments drawn from the schemas of generated tools, through the env's checks and the tools."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from toolgym.error import ToolError
from toolgym.generate import GenerateConfig, build_scenario
from toolgym.tools.builtin import run_builtin
from toolgym.tools.validation import ArgumentValidator

SCENARIOS = [build_scenario(np.random.default_rng(seed), GenerateConfig()) for seed in range(12)]
TOOLS = [(scenario, tool) for scenario in SCENARIOS for tool in scenario.tools]


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), index=st.integers(0, len(TOOLS) - 1))
def test_arguments_drawn_from_a_generated_schema_are_accepted_and_answered(data, index):
    scenario, tool = TOOLS[index]
    arguments = data.draw(from_schema(tool.doc.parameters))
    assert ArgumentValidator([tool.doc]).check(tool.name, arguments) is None
    try:
        output = run_builtin(tool, arguments)
    except ToolError as error:  # a well-typed call may still name no record: a message, not a crash
        assert str(error)
    else:
        assert isinstance(output, str) and output


WRONG_TYPE = {"string": 12345, "integer": "twelve", "number": "twelve", "boolean": "yes",
              "array": "not a list", "object": ["not", "an", "object"]}


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), index=st.integers(0, len(TOOLS) - 1))
def test_arguments_of_the_wrong_type_are_rejected_naming_the_field(data, index):
    _, tool = TOOLS[index]
    arguments = data.draw(from_schema(tool.doc.parameters))
    properties = tool.doc.parameters["properties"]
    field = data.draw(st.sampled_from(sorted(properties)))
    arguments[field] = WRONG_TYPE.get(properties[field].get("type"), None)
    message = ArgumentValidator([tool.doc]).check(tool.name, arguments)
    assert message is not None and repr(field) in message
