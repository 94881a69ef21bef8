"""Shared parts of the stateful domains: tool definitions, goal steps, the build-time runner.

A domain (one module each: :mod:`.shop`, :mod:`.library`, :mod:`.travel`, :mod:`.subscriptions`)
is a :class:`StatefulDomain`: it builds a seeded database, defines its tools as Python source
(read tools and write tools that enforce the domain's policy by raising a helpful error before
they change anything), writes its policy (the system prompt, like tau-bench's ``wiki.md``) and
draws goal steps (:class:`Step`) against the current data.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from toolgym.scenario import ToolCall, ToolDoc

__all__ = [
    "TODAY",
    "Ctx",
    "Intent",
    "Step",
    "StatefulDomain",
    "ToolDef",
    "UserFacts",
    "compile_tools",
    "days_after",
    "identity_tools",
    "FakeData",
    "new_id",
    "policy",
]

TODAY = "2024-06-15"
"""The fixed date of every world: the code and the policy say it, so the tools stay deterministic."""


def days_after(date: str, days: int) -> str:
    """``date`` (``YYYY-MM-DD``) plus ``days``.

    Example:
        >>> days_after("2024-06-15", 20)
        '2024-07-05'
    """
    import datetime

    return (datetime.date.fromisoformat(date) + datetime.timedelta(days=days)).isoformat()


def policy(title: str, intro: str, identity: str, rules: tuple[str, ...], who: str) -> str:
    """A domain's written policy (its ``wiki.md``): the identity rule, the domain's own rules, then
    the two every domain shares (refuse what breaks the policy, saying why; one call a turn).

    Example:
        >>> print(policy("Shop", "You help.", "Verify.", ("Be kind.",), "customer"))
        # Shop
        <BLANKLINE>
        You help. Today is 2024-06-15.
        <BLANKLINE>
        - Verify.
        - Be kind.
        - If a request breaks this policy, do not make the change: tell the customer why.
        - Make one tool call at a time.
        <BLANKLINE>
    """
    lines = (identity, *rules, f"If a request breaks this policy, do not make the change: tell the {who} why.",
             "Make one tool call at a time.")
    return f"# {title}\n\n{intro} Today is {TODAY}.\n\n" + "".join(f"- {line}\n" for line in lines)


def new_id(table: Mapping[str, Any], prefix: str) -> str:
    """The next id of a table whose ids are ``prefix`` + 4 digits (the tools compute it the same way)."""
    return f"{prefix}{len(table) + 1:04d}"


@functools.cache
def _word_lists() -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, ...], ...]]:
    from faker.providers.company.en_US import Provider as Company
    from faker.providers.person.en_US import Provider as Person

    return (tuple(Person.first_names), tuple(Person.last_names),
            tuple(tuple(words) for words in Company.catch_phrase_words))


class FakeData:
    """People, emails, postcodes and titles drawn from Faker's en_US word lists with our own rng
    (Faker's own weighted draws cost about a millisecond a name). Names and emails are unique."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._seen: set[str] = set()

    def name(self) -> str:
        """A full name not drawn before in this world."""
        first, last, _ = _word_lists()
        while True:
            name = f"{self.rng.choice(first)} {self.rng.choice(last)}"
            if name not in self._seen:
                self._seen.add(name)
                return name

    def email(self, name: str) -> str:
        """An email made from ``name``, unique in this world."""
        local = name.lower().replace(" ", ".").replace("'", "")
        for n in range(1000):
            email = f"{local}{n or ''}@example.com"
            if email not in self._seen:
                self._seen.add(email)
                return email
        raise RuntimeError(f"no free email for {name!r}")

    def person(self) -> dict[str, str]:
        """``{"name", "email"}`` of a new person."""
        name = self.name()
        return {"name": name, "email": self.email(name)}

    def postcode(self) -> str:
        """A five-digit postcode."""
        return f"{self.rng.randint(1000, 99999):05d}"

    def title(self) -> str:
        """A book-like title, unique in this world."""
        while True:
            title = " ".join(self.rng.choice(words) for words in _word_lists()[2]).title()
            if title not in self._seen:
                self._seen.add(title)
                return title


@dataclass(frozen=True)
class ToolDef:
    """One tool: its document and its source. ``user_id`` joins write tools under a strict policy."""

    name: str
    description: str
    properties: dict[str, dict[str, Any]]
    required: tuple[str, ...]
    code: str
    """Source defining ``name(data, ...)``; it reads and changes the data dict in place."""
    writes: bool = False

    def doc(self, strict: bool) -> ToolDoc:
        """The document the agent sees; write tools ask for the verified ``user_id`` when strict."""
        properties, required = dict(self.properties), list(self.required)
        if strict and self.writes and "user_id" not in properties:
            properties["user_id"] = {"type": "string",
                                     "description": "The id of the verified user who owns the record."}
            required.append("user_id")
        return ToolDoc(name=self.name, description=self.description,
                       parameters={"type": "object", "properties": properties, "required": required})

    def source(self, strict: bool) -> str:
        """The tool's code: the strictness flag, the shared helpers, then the function."""
        return f"STRICT = {strict}\nTODAY = {TODAY!r}\n{_HELPERS}\n{self.code.strip()}\n"


_HELPERS = '''
def _refuse(message):
    raise ValueError(message)


def _record(data, table, record_id, what):
    record = data[table].get(record_id)
    if record is None:
        _refuse(f"No {what} with id {record_id!r}; check the id (ids are case-sensitive).")
    return record


def _verify(owner, user_id):
    if STRICT and user_id != owner:
        _refuse("Identity not verified: look the user up (find_user_id_by_email) and pass the user_id "
                "that owns this record; nothing was changed.")
'''.strip()


def identity_tools(entity: str = "user") -> list[ToolDef]:
    """The two identity reads every domain has: find a user by email, and a user's details."""
    return [
        ToolDef(
            "find_user_id_by_email", f"Find a {entity}'s user id from their email address.",
            {"email": {"type": "string", "description": "The email address, e.g. 'ann.lee@example.com'."}},
            ("email",),
            '''
def find_user_id_by_email(data, email):
    for user_id, user in data["users"].items():
        if user["email"].lower() == email.strip().lower():
            return user_id
    _refuse(f"No user with email {email!r}.")
''',
        ),
        ToolDef(
            "get_user_details", f"Get a {entity}'s profile and the ids of their records.",
            {"user_id": {"type": "string", "description": "The user id, e.g. 'U0001'."}}, ("user_id",),
            '''
def get_user_details(data, user_id):
    return _record(data, "users", user_id, "user")
''',
        ),
    ]


def compile_tools(tools: list[ToolDef], strict: bool) -> dict[str, Callable[..., Any]]:
    """The tools as in-process functions, for the builder to run gold actions (trusted: our code)."""
    functions = {}
    for tool in tools:
        namespace: dict[str, Any] = {}
        exec(compile(tool.source(strict), f"<{tool.name}>", "exec"), namespace)
        functions[tool.name] = namespace[tool.name]
    return functions


@dataclass(frozen=True)
class UserFacts:
    """Who the user is: the facts every instruction gives."""

    user_id: str
    name: str
    email: str


@dataclass(frozen=True)
class Step:
    """One thing the user wants, decided against the current data.

    ``calls`` are the gold reads and writes in order (a refused request has reads only);
    ``outputs`` what the agent must say; ``facts`` what the user knows for this step.
    """

    ask: str
    calls: tuple[ToolCall, ...]
    outputs: tuple[str, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()


@dataclass
class Ctx:
    """What an intent sees: the current data (changed by earlier steps), the user, the rng."""

    data: dict[str, Any]
    user: UserFacts
    rng: random.Random
    strict: bool
    fake: FakeData
    records: dict[str, list[str]] = field(default_factory=dict)

    def mine(self, table: str, owner_field: str = "user_id") -> list[str]:
        """Ids of this user's records in ``table``, sorted."""
        return sorted(k for k, v in self.data[table].items() if v.get(owner_field) == self.user.user_id)

    def read(self, name: str, **arguments: Any) -> ToolCall:
        """A read call."""
        return ToolCall(name=name, arguments=arguments)

    def write(self, name: str, **arguments: Any) -> ToolCall:
        """A write call; under a strict policy it carries the verified user id."""
        if self.strict:
            arguments.setdefault("user_id", self.user.user_id)
        return ToolCall(name=name, arguments=arguments)


Intent = Callable[[Ctx], "Step | None"]
"""Draws a step for the context's user, or None when the data offers none."""


class StatefulDomain(Protocol):
    """A stateful domain: a seeded database, tools as source, a policy and goal intents."""

    name: str

    def build(self, rng: random.Random, fake: FakeData, records: int) -> dict[str, Any]:
        """A new database of about ``records`` records: ``{table: {id: record}}``."""
        ...

    def tools(self) -> list[ToolDef]:
        """Every tool of the domain, reads first."""
        ...

    def wiki(self, strict: bool) -> str:
        """The policy: the system prompt, enforced by the write tools."""
        ...

    def intents(self) -> dict[str, list[Intent]]:
        """Intents by kind: ``write``, ``conditional``, ``refusal``, ``lookup``."""
        ...
