"""Shared checks of generated scenarios: every property a scenario promises its users."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from toolgym.reward import contains_answer
from toolgym.scenario import LookupImpl, Scenario
from toolgym.tools.builtin import format_number, run_builtin


def gold_outputs(scenario: Scenario) -> list[str]:
    """Runs every gold call in dependency order and returns the outputs."""
    outputs: list[str] = []
    for index, sub in enumerate(scenario.subtasks):
        assert all(dep < index for dep in sub.depends_on)
        tool = scenario.tool(sub.call.name)
        outputs.append(run_builtin(tool, sub.call.arguments))
    return outputs


def chain_ends(scenario: Scenario) -> list[int]:
    """Indices of the sub-tasks no later sub-task depends on (a list question's answers)."""
    needed = {dep for sub in scenario.subtasks for dep in sub.depends_on}
    return [i for i in range(len(scenario.subtasks)) if i not in needed]


def assert_final_answer(scenario: Scenario) -> None:
    """Asserts that the final answer is the last sub-answer, or for lists every chain's, in order."""
    assert scenario.subtasks
    if scenario.meta.get("question_kind") == "list":
        ends = chain_ends(scenario)
        assert len(ends) >= 2
        assert scenario.answer == ", ".join(scenario.subtasks[i].answer for i in ends)
    else:
        assert scenario.subtasks[-1].answer == scenario.answer


def assert_well_formed(scenario: Scenario) -> None:
    """Asserts the contract of a generated scenario (schema, gold calls, answers, round trip)."""
    assert Scenario.model_validate_json(scenario.model_dump_json()) == scenario
    names = [tool.name for tool in scenario.tools]
    assert len(names) == len(set(names))
    assert_final_answer(scenario)
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
        combining = not isinstance(scenario.tool(sub.tool).impl, LookupImpl)
        for other, rival in enumerate(scenario.subtasks):  # combining tools print no other answer
            if other != index and (rival.tool == sub.tool or combining):
                assert not contains_answer(output, rival.answer), (output, rival.answer)
    answers = [sub.answer.lower() for sub in scenario.subtasks]
    assert len(answers) == len(set(answers))


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def assert_chained(scenario: Scenario) -> None:
    """Asserts that each dependent call passes the answers it depends on, as the tools print them."""
    for sub in scenario.subtasks:
        given = {format_number(leaf) for leaf in _leaves(sub.call.arguments)}
        for dep in sub.depends_on:
            assert scenario.subtasks[dep].answer in given, (sub.call, scenario.subtasks[dep].answer)
