"""Noise in tool documents, at the levels RoTBench defines (its ``Code/Data_Process/transformer.py``).

RoTBench (Ye et al., 2024) tests and trains robustness by corrupting the names in tool documents:

- ``clean``: the documents as generated (no random draws at all).
- ``slight``: character insertions, deletions or substitutions (one kind per name) in the names of
  about half the tools (always one needed tool) and of about half the parameters of every tool.
- ``medium``: for the same share, an irrelevant name (``tool3``, ``param2`` or random letters) or
  the name reversed.
- ``heavy``: the tool names exchanged among all tools so that no tool keeps its name; in about half
  the tools (always one needed tool) the parameter names exchanged likewise, plus a new required
  parameter whose description says which value to pass.
- ``union``: every tool draws one of the three levels above.

The meaning stays in the descriptions, so every noisy scenario can still be solved. The env runs
calls by the noisy names: a renamed argument reaches the implementation under its own name through
:attr:`~toolgym.scenario.Tool.arguments_renamed`, and the new required parameter is a
:attr:`~toolgym.scenario.Tool.context` argument, checked and dropped before the implementation runs
(:func:`toolgym.tools.builtin.resolve_arguments`), whatever the implementation. Sub-tasks and gold
calls use the noisy names; the sub-answers and the reward are unchanged.
"""

from __future__ import annotations

import builtins
import keyword
import random
import string
from math import ceil

from toolgym.error import InvalidKnob, did_you_mean
from toolgym.scenario import SubTask, Tool, ToolCall
from toolgym.tools.builtin import SOURCE_NAMES

__all__ = ["NOISE_LEVELS", "add_noise", "check_noise"]

NOISE_LEVELS: tuple[str, ...] = ("clean", "slight", "medium", "heavy", "union")
"""The noise levels, from none to RoTBench's mix of the three."""

_LEVELS = ("slight", "medium", "heavy")
_RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) | SOURCE_NAMES
_TRIES = 20


def check_noise(level: object) -> str:
    """Returns ``level`` when it is one of :data:`NOISE_LEVELS`.

    Raises:
        InvalidKnob: naming the valid levels (and the closest one).
    """
    if not isinstance(level, str) or level not in NOISE_LEVELS:
        raise InvalidKnob(f"Unknown noise level {level!r}; valid: {', '.join(NOISE_LEVELS)}."
                          + did_you_mean(str(level), NOISE_LEVELS))
    return level


def _usable(name: str, taken: set[str]) -> bool:
    """Whether ``name`` can name a tool or argument: a fresh identifier that shadows nothing."""
    return (name.isascii() and name.isidentifier() and not name.startswith("_")
            and name not in _RESERVED and name not in taken)


def _letters(rand: random.Random, low: int, high: int) -> str:
    return "".join(rand.choice(string.ascii_letters) for _ in range(rand.randint(low, high)))


def _slight(name: str, rand: random.Random) -> str:
    """Inserts, deletes or substitutes 1 to about a third of the characters (one kind per name)."""
    third = ceil(len(name) / 3)
    count = rand.choice(range(1, third)) if third > 1 else 1
    action = rand.choice(("insert", "delete", "substitute"))
    for index in sorted(rand.sample(range(len(name)), min(count, len(name))), reverse=True):
        letter = rand.choice(string.ascii_letters)
        if action == "insert":
            name = name[:index] + letter + name[index:]
        elif action == "delete":
            name = name[:index] + name[index + 1:]
        else:
            name = name[:index] + letter + name[index + 1:]
    return name


def _medium(name: str, kind: str, rand: random.Random) -> str:
    """The name reversed, or an irrelevant one: ``tool3`` / ``param2`` or random letters."""
    if rand.random() < 0.5 and name[::-1] != name:
        return name[::-1]
    most = 10 if kind == "tool" else 5  # RoTBench: tool names of 1-10 letters, parameters 1-5
    if rand.random() < 0.5:
        return f"{kind}{rand.randint(1, most)}"
    return _letters(rand, 1, most)


def _fresh(name: str, level: str, kind: str, taken: set[str], rand: random.Random) -> str:
    """A noisy version of ``name`` at ``level`` that differs from it and from every name ``taken``."""
    for _ in range(_TRIES):
        candidate = _slight(name, rand) if level == "slight" else _medium(name, kind, rand)
        if candidate != name and _usable(candidate, taken):
            return candidate
    number = 1
    while not _usable(f"{kind}{number}", taken | {name}):
        number += 1
    return f"{kind}{number}"


def _derange(items: list[str], rand: random.Random) -> list[str]:
    """A random cyclic permutation (Sattolo's algorithm): no item keeps its place."""
    items = list(items)
    for i in range(len(items) - 1, 0, -1):
        j = rand.randrange(i)
        items[i], items[j] = items[j], items[i]
    return items


def _changed(tools: tuple[Tool, ...], rand: random.Random) -> set[int]:
    """About half the tools, always with one needed tool (RoTBench always changes the gold tool)."""
    changed = set(rand.sample(range(len(tools)), ceil(len(tools) / 2)))
    needed = [i for i, tool in enumerate(tools) if not tool.distractor]
    if needed:
        changed.add(rand.choice(needed))
    return changed


def _tool_names(tools: tuple[Tool, ...], levels: list[str], changed: set[int],
                rand: random.Random) -> list[str]:
    """The noisy tool names: heavy tools exchange theirs, changed slight and medium ones edit theirs."""
    names = [tool.name for tool in tools]
    heavy = [i for i, level in enumerate(levels) if level == "heavy"]
    if len(heavy) == 1 and len(names) > 1:  # a lone heavy tool exchanges with another tool
        heavy = sorted([*heavy, rand.choice([i for i in range(len(names)) if i != heavy[0]])])
    if len(heavy) >= 2:
        for i, name in zip(heavy, _derange([names[i] for i in heavy], rand), strict=True):
            names[i] = name
    for i in sorted(changed):
        if levels[i] != "heavy" or len(heavy) < 2:  # a single tool cannot exchange: rename it
            level = "medium" if levels[i] == "heavy" else levels[i]
            names[i] = _fresh(names[i], level, "tool", set(names) - {names[i]}, rand)
    return names


def _param_names(names: list[str], level: str, changed: bool, rand: random.Random) -> dict[str, str]:
    """Old argument name -> noisy name, for one tool's arguments."""
    mapping = {name: name for name in names}
    if level == "heavy":
        if changed and len(names) >= 2:
            mapping = dict(zip(names, _derange(names, rand), strict=True))
        return mapping
    taken = set(names)
    for old in sorted(rand.sample(names, ceil(len(names) / 2)), key=names.index):
        new = _fresh(old, level, "param", taken - {old}, rand)
        taken = (taken - {old}) | {new}
        mapping[old] = new
    return mapping


def _noisy_tool(tool: Tool, name: str, level: str, changed: bool,
                rand: random.Random) -> tuple[Tool, dict[str, str], dict[str, str]]:
    """Renames a tool and its arguments.

    Returns:
        The noisy tool, old argument name -> new name, and the instructed argument and its value
        (heavy noise) that gold calls must add.
    """
    parameters = tool.doc.parameters
    properties = parameters.get("properties") or {}
    mapping = _param_names(list(properties), level, changed, rand)
    new_properties = {mapping[old]: schema for old, schema in properties.items()}
    required = [mapping.get(old, old) for old in parameters.get("required", [])]
    context = {mapping[old]: value for old, value in tool.context.items()}
    renamed = {mapping[old]: tool.arguments_renamed.get(old, old)
               for old in properties if old not in tool.context}
    renamed = {new: impl for new, impl in renamed.items() if new != impl}
    instructed: dict[str, str] = {}
    if level == "heavy" and changed:
        param = _instructed_name(set(new_properties), rand)
        value = _letters(rand, 1, 3)
        new_properties[param] = {"type": "string", "description":
                                 f'Whenever you use this parameter, please set it as "{value}".'}
        required.append(param)
        instructed = {param: value}
    doc = tool.doc.model_copy(update={"name": name, "parameters": {
        **parameters, "properties": new_properties, "required": required}})
    noisy = Tool(doc=doc, impl=tool.impl, distractor=tool.distractor, arguments_renamed=renamed,
                 context={**context, **instructed})
    return noisy, mapping, instructed


def _instructed_name(taken: set[str], rand: random.Random) -> str:
    """A fresh name of 1-5 random letters for heavy noise's new required parameter."""
    for _ in range(_TRIES):
        name = _letters(rand, 1, 5)
        if _usable(name, taken):
            return name
    return _fresh("param", "medium", "param", taken, rand)


def _noisy_subtask(sub: SubTask, names: dict[str, str], mappings: dict[str, dict[str, str]],
                   instructed: dict[str, dict[str, str]]) -> SubTask:
    if sub.call is None:
        return sub.model_copy(update={"tool": names.get(sub.tool, sub.tool)})
    mapping = mappings.get(sub.call.name, {})
    arguments = {mapping.get(k, k): v for k, v in sub.call.arguments.items()}
    arguments.update(instructed.get(sub.call.name, {}))
    call = ToolCall(name=names.get(sub.call.name, sub.call.name), arguments=arguments)
    return sub.model_copy(update={"tool": names.get(sub.tool, sub.tool), "call": call})


def add_noise(tools: tuple[Tool, ...], subtasks: tuple[SubTask, ...], level: str,
              rand: random.Random) -> tuple[tuple[Tool, ...], tuple[SubTask, ...]]:
    """Renames tools and arguments at ``level`` and rewrites the gold calls to match.

    Args:
        tools: Every tool of the scenario (needed ones and distractors), with unique names.
        subtasks: The sub-tasks, whose ``tool`` and gold calls get the noisy names.
        level: One of :data:`NOISE_LEVELS`; ``clean`` returns the input without a draw.
        rand: The scenario's random source.

    Returns:
        The noisy tools (in the same order) and sub-tasks.
    """
    if check_noise(level) == "clean" or not tools:
        return tools, subtasks
    levels = [rand.choice(_LEVELS) if level == "union" else level for _ in tools]
    changed = _changed(tools, rand)
    names = _tool_names(tools, levels, changed, rand)
    noisy, mappings, instructed = [], {}, {}
    for i, tool in enumerate(tools):
        new, mappings[tool.name], instructed[tool.name] = _noisy_tool(
            tool, names[i], levels[i], i in changed, rand)
        noisy.append(new)
    renames = {tool.name: name for tool, name in zip(tools, names, strict=True)}
    return tuple(noisy), tuple(_noisy_subtask(sub, renames, mappings, instructed) for sub in subtasks)
