"""The data model: everything an environment needs, as frozen, serializable pydantic models.

A :class:`Scenario` is data. It holds the question, the tool documents, how each tool is
implemented, the sub-tasks with their gold calls and sub-answers, and the final answer. Suites are
JSONL files of scenarios (``Scenario.model_dump_json()`` per line).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "SHAPES",
    "AnswerGrading",
    "CalculatorImpl",
    "ComparatorImpl",
    "DateCalculatorImpl",
    "Grading",
    "ReplyGrading",
    "LookupImpl",
    "Scenario",
    "SourceImpl",
    "StatefulTask",
    "SubTask",
    "Tool",
    "ToolCall",
    "ToolDoc",
    "ToolImpl",
]

SHAPES: tuple[str, ...] = ("single_hop", "parallel_single_hop", "multi_hop", "parallel_multi_hop")
"""The four scenario shapes of the paper, in its order."""

Scalar = Union[str, int, float, bool]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolDoc(_Model):
    """One tool document: an OpenAI function schema."""

    name: str
    """The function name the agent calls."""
    description: str
    """What the tool does, in the words the agent reads."""
    parameters: dict[str, Any]
    """A JSON schema of type ``object`` for the arguments."""

    def to_openai(self) -> dict[str, Any]:
        """Returns ``{"type": "function", "function": {...}}``, as chat templates expect."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    @classmethod
    def from_openai(cls, spec: dict[str, Any]) -> ToolDoc:
        """Reads an OpenAI tool spec, with or without the ``{"type": "function"}`` wrapper."""
        fn = spec.get("function", spec)
        return cls(
            name=fn["name"],
            description=fn.get("description", ""),
            parameters=fn.get("parameters") or {"type": "object", "properties": {}},
        )


class LookupImpl(_Model):
    """A generated tool that looks up records of the seeded world.

    The tool finds the record named by the argument ``key_param`` (case- and space-insensitive)
    and returns one attribute: the one named by the argument ``field_param`` when the tool was
    merged from several documents, else the fixed ``field``.
    """

    kind: Literal["lookup"] = "lookup"
    key_param: str
    """Name of the argument that holds the record key."""
    field_param: str | None = None
    """Name of the argument that selects the attribute (merged tools), or None."""
    field: str | None = None
    """The attribute returned when ``field_param`` is None."""
    records: dict[str, dict[str, Scalar]]
    """Record key -> attribute -> value."""
    entity: str = "record"
    """What a record is, for messages ("film", "person", ...)."""


class CalculatorImpl(_Model):
    """A generated arithmetic tool: applies ``operation`` to a list of numbers."""

    kind: Literal["calculator"] = "calculator"
    operation_param: str = "operation"
    numbers_param: str = "numbers"
    precision_param: str | None = None
    """Optional argument: decimal places of the result."""


class ComparatorImpl(_Model):
    """A generated comparison tool: ranks labeled numbers or ``YYYY-MM-DD`` dates.

    ``operation`` ``max``/``min`` returns the label of the largest or smallest value (the latest
    or earliest date); ``ascending``/``descending`` returns every label in that order, comma-joined.
    """

    kind: Literal["comparator"] = "comparator"
    operation_param: str = "operation"
    items_param: str = "items"
    """Argument holding the list of ``{"label": ..., "value": ...}`` items."""


class DateCalculatorImpl(_Model):
    """A generated date tool: whole days or whole years between two ``YYYY-MM-DD`` dates."""

    kind: Literal["date_calculator"] = "date_calculator"
    operation_param: str = "operation"
    """Argument holding ``days_between`` or ``years_between``."""
    start_param: str = "start_date"
    end_param: str = "end_date"


class SourceImpl(_Model):
    """A tool given as Python source text that defines a function named as the tool.

    Source text is untrusted: it runs in sandboxed worker processes, never in the env's process.
    """

    kind: Literal["source"] = "source"
    code: str


ToolImpl = Annotated[LookupImpl | CalculatorImpl | ComparatorImpl | DateCalculatorImpl | SourceImpl,
                    Field(discriminator="kind")]
"""How a tool is implemented: one of the implementation models, told apart by ``kind``."""


class Tool(_Model):
    """A tool: the document the agent sees and the implementation that answers it."""

    doc: ToolDoc
    impl: ToolImpl
    distractor: bool = False
    """True for tools that no sub-task needs (toolset extension)."""
    arguments_renamed: dict[str, str] = Field(default_factory=dict)
    """Argument name in the document -> the implementation's name, for the arguments the
    document renames (noise); the others reach the implementation as named."""
    context: dict[str, Scalar] = Field(default_factory=dict)
    """Required context arguments: name in the document -> the value the call must pass. The tool
    checks and drops them before its implementation runs; each one's description says its value."""

    @model_validator(mode="after")
    def _check_renaming(self) -> Tool:
        if not self.arguments_renamed and not self.context:
            return self
        names = set(self.doc.parameters.get("properties") or {})
        unknown = sorted((set(self.arguments_renamed) | set(self.context)) - names)
        if unknown:
            raise ValueError(f"tool {self.name!r}: arguments_renamed and context name arguments "
                             f"{unknown} that its document does not define; valid: {sorted(names)}.")
        both = sorted(set(self.arguments_renamed) & set(self.context))
        if both:
            raise ValueError(f"tool {self.name!r}: {both} are both renamed and context arguments; "
                             "a context argument never reaches the implementation, so drop its renaming.")
        impl_names = [self.arguments_renamed.get(n, n) for n in names - set(self.context)]
        if len(impl_names) != len(set(impl_names)):
            raise ValueError(f"tool {self.name!r}: arguments_renamed gives two arguments the same "
                             f"implementation name ({sorted(impl_names)}).")
        return self

    @property
    def name(self) -> str:
        """The tool's function name."""
        return self.doc.name


class ToolCall(_Model):
    """One function call: a tool name and its JSON arguments."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class SubTask(_Model):
    """One sub-question, the tool keyed to its sub-answer, and the gold call that obtains it."""

    question: str = ""
    """The sub-question in natural language (may be empty for imported rows)."""
    tool: str
    """The tool whose output must contain the sub-answer."""
    answer: str
    """The sub-answer."""
    call: ToolCall | None = None
    """The gold call, when known."""
    depends_on: tuple[int, ...] = ()
    """Indices of the sub-tasks whose answers this gold call needs."""


class StatefulTask(_Model):
    """A task whose tools change a database; scored by the hash of the final data.

    The data lives in a domain directory (FTRL's stateful rows) or inline (generated worlds,
    :mod:`toolgym.generate.stateful`: ``data`` and ``target_hash``; the code is the scenario's tools').
    """

    domain: str = ""
    """Path of the domain directory (``tools.json``, ``codes.json``, data files, ``wiki.md``);
    empty when the data is inline."""
    actions: tuple[ToolCall, ...]
    """Gold actions; replaying them on fresh data gives the target state."""
    outputs: tuple[str, ...] = ()
    """Strings the agent must say."""
    data: dict[str, Any] | None = None
    """The initial data inline, ``{table: content}`` (generated worlds); None: the domain's files."""
    target_hash: str | None = None
    """The hash of the data after the gold actions, when the builder computed it (inline data)."""

    @model_validator(mode="after")
    def _one_source(self) -> StatefulTask:
        if bool(self.domain) == (self.data is not None):
            raise ValueError("a stateful task needs either domain (a directory) or inline data, not both")
        if self.data is not None and self.target_hash is None:
            raise ValueError("a stateful task with inline data needs target_hash (the gold state's hash)")
        return self


class ReplyGrading(_Model):
    """One reply graded against acceptable gold replies, as RoTBench is (FTRL's
    ``evaluation_rotbench.py``): tool selection, parameter identification, content filling.

    The episode is a single turn: the reply is scored, no tool runs."""

    kind: Literal["react_reply"] = "react_reply"
    golds: tuple[str, ...]
    """Acceptable replies, each ``"Thought: ...\nAction: NAME\nAction Input: {json}"``."""


class AnswerGrading(_Model):
    """The final answer graded as FTRL grades ToolHop (``evaluation_toolhop.py``): every
    ``", "``-separated piece of the gold answer is in the final reply (lowercased, commas deleted),
    or else in the tool message right before it. The gold is :attr:`Scenario.answer`."""

    kind: Literal["toolhop_answer"] = "toolhop_answer"


Grading = Annotated[Union[ReplyGrading, AnswerGrading], Field(discriminator="kind")]
"""How an imported benchmark's episode is graded (None on a scenario: sub-answers and answer)."""


class Scenario(_Model):
    """A complete, serializable tool-use environment."""

    id: str
    """Stable identifier (derived from the seed and knobs for generated scenarios)."""
    shape: str
    """One of :data:`SHAPES` for generated scenarios; the ``data_source`` for imported rows."""
    question: str
    """The user's question."""
    messages: tuple[dict[str, Any], ...]
    """The opening messages of the chat (system and user)."""
    tools: tuple[Tool, ...]
    """Every tool the agent sees, distractors included, in the order shown."""
    subtasks: tuple[SubTask, ...] = ()
    answer: str = ""
    """The final answer."""
    match: Literal["strict", "ftrl"] = "strict"
    """How sub-answers and the final answer are matched (see :mod:`toolgym.reward`)."""
    task: StatefulTask | None = None
    """Set for stateful tasks."""
    grading: Grading | None = None
    """Set for benchmarks graded another way (RoTBench replies, ToolHop answers)."""
    max_turns: int | None = Field(default=None, ge=1)
    """The benchmark's own turn limit (FTRL's defaults: 20, ToolHop 9, RoTBench 1, tau-bench 30);
    None: the env's."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Provenance and fields kept for lossless conversion (seed, knobs, data_source, split, ...)."""

    @property
    def tool_docs(self) -> list[dict[str, Any]]:
        """The tool documents in OpenAI format, ready for ``apply_chat_template(tools=...)``."""
        return [tool.doc.to_openai() for tool in self.tools]

    def tool(self, name: str) -> Tool | None:
        """Returns the tool named ``name``, or None."""
        for tool in self.tools:
            if tool.name == name:
                return tool
        return None

    def sub_answers(self) -> dict[str, list[str]]:
        """Tool name -> sub-answers it must yield (FTRL's ``unsolved_set``), in sub-task order."""
        table: dict[str, list[str]] = {}
        for sub in self.subtasks:
            table.setdefault(sub.tool, []).append(sub.answer)
        return table
