"""Shared checks of generated scenarios: every property a scenario promises its users."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from toolgym.reward import contains_answer
from toolgym.scenario import Scenario
from toolgym.tools.builtin import run_builtin


def gold_outputs(scenario: Scenario) -> list[str]:
    """Runs every gold call in dependency order and returns the outputs."""
    outputs: list[str] = []
    for index, sub in enumerate(scenario.subtasks):
        assert all(dep < index for dep in sub.depends_on)
        tool = scenario.tool(sub.call.name)
        outputs.append(run_builtin(tool, sub.call.arguments))
    return outputs


def assert_well_formed(scenario: Scenario) -> None:
    """Asserts the contract of a generated scenario (schema, gold calls, answers, round trip)."""
    assert Scenario.model_validate_json(scenario.model_dump_json()) == scenario
    names = [tool.name for tool in scenario.tools]
    assert len(names) == len(set(names))
    assert scenario.subtasks and scenario.subtasks[-1].answer == scenario.answer
    assert scenario.messages[-1]["content"] == scenario.question
    keyed = {sub.tool for sub in scenario.subtasks}
    for tool in scenario.tools:
        Draft202012Validator.check_schema(tool.doc.parameters)
        assert tool.distractor == (tool.name not in keyed)
    for sub in scenario.subtasks:
        assert sub.call.name == sub.tool
        Draft202012Validator(scenario.tool(sub.tool).doc.parameters).validate(sub.call.arguments)
    outputs = gold_outputs(scenario)
    for index, (sub, output) in enumerate(zip(scenario.subtasks, outputs, strict=True)):
        assert contains_answer(output, sub.answer), (output, sub.answer)
        for other, rival in enumerate(scenario.subtasks):
            if other != index and rival.tool == sub.tool:
                assert not contains_answer(output, rival.answer), (output, rival.answer)
    answers = [sub.answer.lower() for sub in scenario.subtasks]
    assert len(answers) == len(set(answers))


def assert_chained(scenario: Scenario) -> None:
    """Asserts that each dependent lookup is keyed by the answer it depends on."""
    for sub in scenario.subtasks:
        values = list(sub.call.arguments.values())
        for dep in sub.depends_on:
            needed = scenario.subtasks[dep].answer
            numbers = sub.call.arguments.get("numbers")
            assert needed in values or (numbers is not None and len(numbers) == len(sub.depends_on))
