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

Tools given as source (:class:`~toolgym.scenario.SourceImpl`, e.g. the stateful worlds') draw their
names the same way, but carry the renaming in their code: the original code, then a wrapper
function under the noisy name, with the noisy argument names, that checks the instructed argument
(:func:`~toolgym.tools.builtin.resolve_arguments`, rendered into the source), calls the original
function and writes the noisy names into its error messages. Their ``arguments_renamed`` and
``context`` stay empty, so the code alone is the tool: the sandbox finds the function by the tool's
name and an FTRL ``codes.json`` needs nothing else. Noisy names never shadow a name their code uses,
nor ``data``. :func:`noise_tools` returns the :class:`Renaming`, which rewrites gold calls and the
texts that name tools or arguments (a policy).
"""

from __future__ import annotations

import builtins
import functools
import inspect
import keyword
import random
import string
import textwrap
import types
from dataclasses import dataclass, field
from math import ceil

from toolgym.error import InvalidKnob, did_you_mean
from toolgym.scenario import SourceImpl, SubTask, Tool, ToolCall
from toolgym.stateful import DATA_PARAM
from toolgym.tools.builtin import SOURCE_NAMES, resolve_arguments

__all__ = ["NOISE_LEVELS", "Renaming", "add_noise", "check_noise", "noise_tools"]

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


def _tool_names(tools: tuple[Tool, ...], levels: list[str], changed: set[int], rand: random.Random,
                reserved: frozenset[str]) -> list[str]:
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
            names[i] = _fresh(names[i], level, "tool", (set(names) - {names[i]}) | reserved, rand)
    return names


def _param_names(names: list[str], level: str, changed: bool, rand: random.Random,
                 reserved: frozenset[str]) -> dict[str, str]:
    """Old argument name -> noisy name, for one tool's arguments."""
    mapping = {name: name for name in names}
    if level == "heavy":
        if changed and len(names) >= 2:
            mapping = dict(zip(names, _derange(names, rand), strict=True))
        return mapping
    taken = set(names)
    for old in sorted(rand.sample(names, ceil(len(names) / 2)), key=names.index):
        new = _fresh(old, level, "param", (taken - {old}) | reserved, rand)
        taken = (taken - {old}) | {new}
        mapping[old] = new
    return mapping


def _noisy_tool(tool: Tool, name: str, level: str, changed: bool, rand: random.Random,
                reserved: frozenset[str]) -> tuple[Tool, dict[str, str], dict[str, str]]:
    """Renames a tool and its arguments.

    Returns:
        The noisy tool, old argument name -> new name, and the instructed argument and its value
        (heavy noise) that gold calls must add.
    """
    parameters = tool.doc.parameters
    properties = parameters.get("properties") or {}
    mapping = _param_names(list(properties), level, changed, rand, reserved)
    new_properties = {mapping[old]: schema for old, schema in properties.items()}
    required = [mapping.get(old, old) for old in parameters.get("required", [])]
    context = {mapping[old]: value for old, value in tool.context.items()}
    renamed = {mapping[old]: tool.arguments_renamed.get(old, old)
               for old in properties if old not in tool.context}
    renamed = {new: impl for new, impl in renamed.items() if new != impl}
    instructed: dict[str, str] = {}
    if level == "heavy" and changed:
        param = _instructed_name(set(new_properties) | reserved, rand)
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


@dataclass(frozen=True)
class Renaming:
    """What :func:`noise_tools` renamed; it rewrites gold calls and texts to the noisy names.

    Example:
        >>> renaming = Renaming(tools={"get_order": "tool3"}, arguments={"get_order": {"order_id": "oid"}},
        ...                     instructed={"get_order": {"abc": "xy"}})
        >>> renaming.call(ToolCall(name="get_order", arguments={"order_id": "W1"})).model_dump()
        {'name': 'tool3', 'arguments': {'oid': 'W1', 'abc': 'xy'}}
        >>> renaming.text("Call get_order with the order_id.")
        'Call tool3 with the order_id (named oid in tool3).'
    """

    tools: dict[str, str] = field(default_factory=dict)
    """Tool name -> its noisy name, for every tool (clean: empty)."""
    arguments: dict[str, dict[str, str]] = field(default_factory=dict)
    """Tool name -> (argument name -> its noisy name), the names before noise."""
    instructed: dict[str, dict[str, str]] = field(default_factory=dict)
    """Tool name -> the instructed argument (heavy noise) and the value a call must pass."""

    def call(self, call: ToolCall) -> ToolCall:
        """``call`` under the noisy names, with the instructed argument its tool requires."""
        mapping = self.arguments.get(call.name, {})
        arguments = {mapping.get(k, k): v for k, v in call.arguments.items()}
        arguments.update(self.instructed.get(call.name, {}))
        return ToolCall(name=self.tools.get(call.name, call.name), arguments=arguments)

    def text(self, text: str) -> str:
        """``text`` (a policy) with each tool named by its noisy name, and each argument written as
        code (snake_case) that noise renamed followed by its noisy name in every tool that has it."""
        words = {old: new for old, new in self.tools.items() if new != old}
        for old in sorted({name for mapping in self.arguments.values() for name in mapping if "_" in name}):
            places = [(self.tools.get(tool, tool), mapping[old]) for tool, mapping in self.arguments.items()
                      if old in mapping]
            if old not in words and any(new != old for _, new in places):
                words[old] = f"{old} (named {', '.join(f'{new} in {tool}' for tool, new in places)})"
        return _rename_words(text, words)


def _rename_words(text: str, words: dict[str, str]) -> str:
    """``text`` with each whole word that is a key of ``words`` replaced by its value, in one pass.

    Rendered into the source of noisy source tools, hence the import inside.
    """
    import re

    if not words:
        return text
    pattern = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.sub(rf"\b(?:{pattern})\b", lambda match: words[match.group(0)], text)


def _noisy_subtask(sub: SubTask, renaming: Renaming) -> SubTask:
    tool = renaming.tools.get(sub.tool, sub.tool)
    if sub.call is None:
        return sub.model_copy(update={"tool": tool})
    return sub.model_copy(update={"tool": tool, "call": renaming.call(sub.call)})


def noise_tools(tools: tuple[Tool, ...], level: str, rand: random.Random) -> tuple[tuple[Tool, ...], Renaming]:
    """Renames tools and arguments at ``level``.

    Built-in tools get the renaming in ``arguments_renamed`` and ``context``; source tools get it
    in their code (see the module's docstring).

    Args:
        tools: Every tool of the scenario (needed ones and distractors), with unique names.
        level: One of :data:`NOISE_LEVELS`; ``clean`` returns the input without a draw.
        rand: The scenario's random source.

    Returns:
        The noisy tools (in the same order) and what was renamed, to rewrite gold calls and texts.

    Raises:
        InvalidKnob: ``level`` is not a noise level.
    """
    if check_noise(level) == "clean" or not tools:
        return tools, Renaming()
    reserved = _reserved(tools)
    levels = [rand.choice(_LEVELS) if level == "union" else level for _ in tools]
    changed = _changed(tools, rand)
    names = _tool_names(tools, levels, changed, rand, reserved)
    noisy, mappings, instructed = [], {}, {}
    for i, tool in enumerate(tools):
        new, mappings[tool.name], instructed[tool.name] = _noisy_tool(
            tool, names[i], levels[i], i in changed, rand, reserved)
        noisy.append(new)
    renaming = Renaming({tool.name: name for tool, name in zip(tools, names, strict=True)}, mappings, instructed)
    noisy = [_wrapped(old, new, renaming) if isinstance(old.impl, SourceImpl) else new
             for old, new in zip(tools, noisy, strict=True)]
    return tuple(noisy), renaming


def add_noise(tools: tuple[Tool, ...], subtasks: tuple[SubTask, ...], level: str,
              rand: random.Random) -> tuple[tuple[Tool, ...], tuple[SubTask, ...]]:
    """Renames tools and arguments at ``level`` (:func:`noise_tools`) and rewrites the gold calls to match.

    Args:
        tools: Every tool of the scenario (needed ones and distractors), with unique names.
        subtasks: The sub-tasks, whose ``tool`` and gold calls get the noisy names.
        level: One of :data:`NOISE_LEVELS`; ``clean`` returns the input without a draw.
        rand: The scenario's random source.

    Returns:
        The noisy tools (in the same order) and sub-tasks.
    """
    noisy, renaming = noise_tools(tools, level, rand)
    if noisy is tools:
        return tools, subtasks
    return noisy, tuple(_noisy_subtask(sub, renaming) for sub in subtasks)


# Source tools ----------------------------------------------------------------------------------

_FACTORY = "_toolgym_noise_wrapper"

_WRAPPER = '''

def {factory}(_original, _context, _renamed, _words):
    """RoTBench noise: the tool under its noisy names, calling the original function."""
{helpers}
    def {name}({signature}):
        {doc}
        _arguments = {{_k: _v for _k, _v in {pairs} if _v is not None}}
        _arguments = resolve_arguments(_context, _renamed, _arguments)
        try:
            return _original({data}**_arguments)
        except ValueError as _error:
            raise ValueError(_rename_words(str(_error), _words)) from None

    return {name}


{name} = {factory}({original}, {context!r}, {renamed!r}, {words!r})
'''


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> types.CodeType | None:
    """The source compiled (never run), or None when it does not compile."""
    try:
        return compile(source, "<tool>", "exec")
    except (SyntaxError, ValueError):
        return None


@functools.lru_cache(maxsize=256)
def _code_names(source: str) -> frozenset[str]:
    """Every name the source's code uses or binds, at any depth (attributes too)."""
    stack, names = [_compiled(source)], set()
    while stack:
        code = stack.pop()
        if code is not None:
            names.update(code.co_names, code.co_varnames, code.co_cellvars, code.co_freevars)
            stack.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return frozenset(names)


def _reserved(tools: tuple[Tool, ...]) -> frozenset[str]:
    """Names that noise must not give: those the source tools' code uses, and ``data``."""
    sources = [tool.impl.code for tool in tools if isinstance(tool.impl, SourceImpl)]
    return frozenset({DATA_PARAM}).union(*map(_code_names, sources)) if sources else frozenset()


def _takes_data(source: str, name: str) -> bool:
    """Whether the source's top-level function ``name`` has a ``data`` parameter."""
    code = _compiled(source)
    for const in code.co_consts if code is not None else ():
        if isinstance(const, types.CodeType) and const.co_name == name:
            return DATA_PARAM in const.co_varnames[:const.co_argcount + const.co_kwonlyargcount]
    return False


@functools.cache
def _helpers() -> str:
    """The source of the helpers a wrapper defines inside its factory."""
    return textwrap.indent("\n".join(inspect.getsource(f) for f in (resolve_arguments, _rename_words)), "    ")


def _wrapped(original: Tool, noisy: Tool, renaming: Renaming) -> Tool:
    """The noisy source tool: the original code and a wrapper under the noisy names.

    Raises:
        ValueError: heavy noise gave the tool the name of something its own code uses.
    """
    if noisy.name == original.name and not noisy.arguments_renamed and not noisy.context:
        return noisy
    code = original.impl.code
    if noisy.name != original.name and noisy.name in _code_names(code):
        raise ValueError(f"noise cannot name tool {original.name!r} {noisy.name!r}: its code uses that name.")
    properties = noisy.doc.parameters.get("properties") or {}
    required = set(noisy.doc.parameters.get("required") or ()) - set(noisy.context)
    params = [p for p in properties if p in required] + [f"{p}=None" for p in properties if p not in required]
    data = _takes_data(code, original.name) and DATA_PARAM not in properties
    words = {old: new for old, new in renaming.tools.items() if new != old}
    words.update({old: new for old, new in renaming.arguments.get(original.name, {}).items()
                  if new != old and "_" in old})
    wrapper = _WRAPPER.format(
        factory=_FACTORY, helpers=_helpers(), name=noisy.name, doc=repr(noisy.doc.description),
        signature=", ".join([DATA_PARAM] * data + params), data=f"{DATA_PARAM}={DATA_PARAM}, " * data,
        pairs="(" + "".join(f"({p!r}, {p}), " for p in properties) + ")", original=original.name,
        context={k: [v, properties[k].get("description", "")] for k, v in noisy.context.items()},
        renamed=noisy.arguments_renamed, words=words)
    return Tool(doc=noisy.doc, impl=SourceImpl(code=code.rstrip("\n") + "\n" + wrapper), distractor=noisy.distractor)
