"""Stage 5, localized deployment: tools with their data, gold calls and sub-tasks.

Every :class:`~toolgym.generate.documents.ToolSpec` becomes a :class:`~toolgym.scenario.Tool`
whose :class:`~toolgym.scenario.LookupImpl` holds the records of the needed entities plus a few
filler entities of the same type (so lookups search a real table, and a wrong key gets a "did you
mean" hint). Every step becomes a :class:`~toolgym.scenario.SubTask` with its gold call.
"""

from __future__ import annotations

import random

from toolgym.generate.decomposition import Conflict, Decomposition, Step
from toolgym.generate.documents import CALCULATOR, COMPARATOR, DATE_CALCULATOR, ToolSpec
from toolgym.generate.integration import tool_for
from toolgym.generate.world import Entity, World, words
from toolgym.scenario import (
    CalculatorImpl,
    ComparatorImpl,
    DateCalculatorImpl,
    LookupImpl,
    SubTask,
    Tool,
    ToolCall,
)
from toolgym.tools.builtin import field_label

__all__ = ["Conflict", "deploy"]


def _answers_of(decomposition: Decomposition, specs: list[ToolSpec]) -> dict[str, list[Step]]:
    table: dict[str, list[Step]] = {}
    for step in decomposition.steps:
        table.setdefault(_spec_of(step, specs).name, []).append(step)
    return table


def _spec_of(step: Step, specs: list[ToolSpec]) -> ToolSpec:
    if step.combiner is not None:
        return tool_for(specs, step.combiner, None)
    if step.subject is None or step.attr is None:
        raise ValueError(f"step {step.question!r} is neither a lookup nor a combining step")
    return tool_for(specs, step.subject.type, step.attr.name)


def _clashes(world: World, entity: Entity, spec: ToolSpec, steps: list[Step]) -> bool:
    """Whether a call on ``entity`` could print a sub-answer of ``spec`` that it does not hold."""
    name = words(entity.name)
    for step in steps:
        answer = words(step.answer)
        if answer in name:
            return True
        for field in spec.fields:
            if step.subject is entity and step.attr is not None and step.attr.name == field:
                continue
            if answer in words(f"{field_label(field)} {world.text(entity, field)}"):
                return True
    return False


def _records(world: World, spec: ToolSpec, steps: list[Step],
             rand: random.Random) -> dict[str, dict[str, str | int | float]]:
    """The table of a lookup tool: needed subjects, then fillers, in a shuffled order."""
    needed: list[Entity] = []
    for step in steps:
        if step.subject is not None and all(step.subject is not e for e in needed):
            needed.append(step.subject)
    if any(_clashes(world, entity, spec, steps) for entity in needed):
        raise Conflict(spec.name)
    if not needed:  # distractors show entities of the question when they have the type
        needed = [e for e in world.entities[spec.entity] if e.attrs][:3]
    rows = list(needed)
    for _ in range(rand.randint(2, 4)):
        filler = world.new(spec.entity)
        if not _clashes(world, filler, spec, steps):
            rows.append(filler)
    rand.shuffle(rows)
    return {e.name: {f: world.record_value(e, f) for f in spec.fields} for e in rows}


def _tool(world: World, spec: ToolSpec, steps: list[Step], rand: random.Random) -> Tool:
    if spec.entity == CALCULATOR:
        precision = "precision" if "precision" in spec.properties else None
        return Tool(doc=spec.doc(), impl=CalculatorImpl(precision_param=precision))
    if spec.entity == COMPARATOR:
        return Tool(doc=spec.doc(), impl=ComparatorImpl())
    if spec.entity == DATE_CALCULATOR:
        return Tool(doc=spec.doc(), impl=DateCalculatorImpl())
    impl = LookupImpl(key_param=spec.key_param, field_param=spec.field_param,
                      field=None if spec.field_param else spec.fields[0],
                      records=_records(world, spec, steps, rand), entity=spec.entity)
    return Tool(doc=spec.doc(), impl=impl, distractor=spec.distractor)


def _combining_call(step: Step) -> dict[str, object]:
    """The gold arguments of a combining step, named as its tool's document names them."""
    if step.combiner == COMPARATOR:
        items = [{"label": label, "value": value}
                 for label, value in zip(step.labels, step.operands, strict=True)]
        return {"operation": step.operation, "items": items}
    if step.combiner == DATE_CALCULATOR:
        start, end = step.operands
        return {"operation": step.operation, "start_date": start, "end_date": end}
    return {"operation": step.operation, "numbers": list(step.operands)}


def _subtask(step: Step, spec: ToolSpec) -> SubTask:
    if step.combiner is not None:
        arguments = _combining_call(step)
    elif step.subject is not None and step.attr is not None:
        arguments = {spec.key_param: step.subject.name}
        if spec.field_param:
            arguments[spec.field_param] = step.attr.name
    else:
        raise ValueError(f"step {step.question!r} is neither a lookup nor a combining step")
    return SubTask(question=step.question, tool=spec.name, answer=step.answer,
                   call=ToolCall(name=spec.name, arguments=arguments), depends_on=step.depends_on)


def deploy(world: World, decomposition: Decomposition, specs: list[ToolSpec],
           distractors: list[ToolSpec], rand: random.Random) -> tuple[tuple[Tool, ...], tuple[SubTask, ...]]:
    """Builds the tools (needed and distractors, shuffled) and the sub-tasks.

    Raises:
        Conflict: when a needed tool's table would print a sub-answer for the wrong call.
    """
    answers = _answers_of(decomposition, specs)
    tools = [_tool(world, spec, answers.get(spec.name, []), rand) for spec in specs]
    tools += [_tool(world, spec, [], rand) for spec in distractors]
    rand.shuffle(tools)
    subtasks = tuple(_subtask(step, _spec_of(step, specs))
                     for step in decomposition.steps)
    return tuple(tools), subtasks

