"""The library: loans, renewals, returns and holds."""

from __future__ import annotations

import random
from typing import Any

from toolgym.generate.stateful.base import (
    TODAY,
    Ctx,
    FakeData,
    Intent,
    Step,
    ToolDef,
    days_after,
    identity_tools,
    policy,
)

__all__ = ["LIBRARY"]

MAX_FINES, MAX_LOANS, MAX_RENEWALS = 5.0, 3, 2

_ID = {"book_id": {"type": "string", "description": "The book id, e.g. 'B0001'."}}
_LOAN = {"loan_id": {"type": "string", "description": "The loan id, e.g. 'L0001'."}}
_OWNER = {"user_id": {"type": "string", "description": "The member's user id."}}
_CONST = f"MAX_FINES, MAX_LOANS, MAX_RENEWALS = {MAX_FINES}, {MAX_LOANS}, {MAX_RENEWALS}\n"

_READS = [
    ToolDef("get_book_details", "Get a book: title, author and copies available.", _ID, ("book_id",), '''
def get_book_details(data, book_id):
    return _record(data, "books", book_id, "book")
'''),
    ToolDef("search_books", "Find books whose title or author contains the words given.",
            {"query": {"type": "string", "description": "Title or author words."}}, ("query",), '''
def search_books(data, query):
    words = query.lower().split()
    found = {b: v for b, v in data["books"].items()
             if all(w in (v["title"] + " " + v["author"]).lower() for w in words)}
    return found or f"No book matches {query!r}."
'''),
    ToolDef("get_loan_details", "Get a loan: book, due date, status and renewals.", _LOAN, ("loan_id",), '''
def get_loan_details(data, loan_id):
    return _record(data, "loans", loan_id, "loan")
'''),
]

_WRITES = [
    ToolDef("checkout_book", "Lend a book to a member: due in 21 days.", {**_OWNER, **_ID}, ("user_id", "book_id"),
            _CONST + '''
def checkout_book(data, user_id, book_id):
    user = _record(data, "users", user_id, "member")
    book = _record(data, "books", book_id, "book")
    if user["fines"] > MAX_FINES:
        _refuse(f"Member {user_id} owes {user['fines']:.2f} in fines; members owing over "
                f"{MAX_FINES:.2f} cannot borrow until they pay. Nothing was changed.")
    active = [l for l in data["loans"].values() if l["user_id"] == user_id and l["status"] == "active"]
    if len(active) >= MAX_LOANS:
        _refuse(f"Member {user_id} already has {MAX_LOANS} active loans, the most allowed.")
    if book["copies_available"] < 1:
        _refuse(f"No copy of {book_id} is available; place a hold instead.")
    import datetime
    due = (datetime.date.fromisoformat(TODAY) + datetime.timedelta(days=21)).isoformat()
    loan_id = f"L{len(data['loans']) + 1:04d}"
    data["loans"][loan_id] = {"user_id": user_id, "book_id": book_id, "due_date": due, "status": "active",
                              "renewals": 0}
    book["copies_available"] -= 1
    user["loans"].append(loan_id)
    return {"loan_id": loan_id, "due_date": due}
''', writes=True),
    ToolDef("renew_loan", "Renew an active loan by 14 days.", _LOAN, ("loan_id",), _CONST + '''
def renew_loan(data, loan_id, user_id=None):
    loan = _record(data, "loans", loan_id, "loan")
    _verify(loan["user_id"], user_id)
    if loan["status"] != "active":
        _refuse(f"Loan {loan_id} is {loan['status']}; only active loans can be renewed.")
    if loan["renewals"] >= MAX_RENEWALS:
        _refuse(f"Loan {loan_id} reached the renewal limit ({MAX_RENEWALS} renewals). Nothing was changed.")
    if loan["due_date"] < TODAY:
        _refuse(f"Loan {loan_id} is overdue (due {loan['due_date']}); overdue loans cannot be renewed.")
    import datetime
    loan["due_date"] = (datetime.date.fromisoformat(loan["due_date"]) + datetime.timedelta(days=14)).isoformat()
    loan["renewals"] += 1
    return loan
''', writes=True),
    ToolDef("return_book", "Return the book of an active loan; overdue days cost 0.25 each in fines.",
            _LOAN, ("loan_id",), '''
def return_book(data, loan_id, user_id=None):
    loan = _record(data, "loans", loan_id, "loan")
    _verify(loan["user_id"], user_id)
    if loan["status"] != "active":
        _refuse(f"Loan {loan_id} is already {loan['status']}.")
    import datetime
    late = (datetime.date.fromisoformat(TODAY) - datetime.date.fromisoformat(loan["due_date"])).days
    loan["status"] = "returned"
    data["books"][loan["book_id"]]["copies_available"] += 1
    if late > 0:
        data["users"][loan["user_id"]]["fines"] = round(data["users"][loan["user_id"]]["fines"] + 0.25 * late, 2)
    return loan
''', writes=True),
    ToolDef("place_hold", "Place a hold on a book that has no copy available.", {**_OWNER, **_ID},
            ("user_id", "book_id"), '''
def place_hold(data, user_id, book_id):
    _record(data, "users", user_id, "member")
    book = _record(data, "books", book_id, "book")
    if book["copies_available"] > 0:
        _refuse(f"{book_id} has copies available: borrow it instead of placing a hold.")
    if any(h["user_id"] == user_id and h["book_id"] == book_id for h in data["holds"].values()):
        _refuse(f"Member {user_id} already holds {book_id}.")
    hold_id = f"H{len(data['holds']) + 1:04d}"
    data["holds"][hold_id] = {"user_id": user_id, "book_id": book_id, "date": TODAY}
    return {"hold_id": hold_id}
''', writes=True),
]


class Library:
    """Loans, renewals, returns and holds."""

    name = "library"

    def build(self, rng: random.Random, fake: FakeData, records: int) -> dict[str, Any]:
        n_users, n_books = max(2, records // 5), max(4, records // 3)
        users = {f"U{i + 1:04d}": {**fake.person(), "zip": fake.postcode(),
                                   "fines": rng.choice((0.0, 0.0, 0.0, 1.5, 7.25)), "loans": []}
                 for i in range(n_users)}
        books = {f"B{i + 1:04d}": {"title": fake.title(), "author": fake.name(),
                                   "copies_available": rng.choice((0, 0, 1, 2, 4))} for i in range(n_books)}
        loans: dict[str, Any] = {}
        for i in range(max(2, records - n_users - n_books)):
            user_id = rng.choice(sorted(users))
            status = rng.choice(("active", "active", "returned"))
            loans[f"L{i + 1:04d}"] = {"user_id": user_id, "book_id": rng.choice(sorted(books)),
                                      "due_date": days_after(TODAY, rng.randint(-10, 20)), "status": status,
                                      "renewals": rng.choice((0, 0, 1, 2))}
            users[user_id]["loans"].append(f"L{i + 1:04d}")
        return {"users": users, "books": books, "loans": loans, "holds": {}}

    def tools(self) -> list[ToolDef]:
        return identity_tools("member") + _READS + _WRITES

    def wiki(self, strict: bool) -> str:
        identity = ("Before any change, verify the member: find their user id from their email and pass it as "
                    "user_id." if strict else "Find the member's user id from their email when a tool needs it.")
        return policy("Library desk policy", "You help members of a public library.", identity, (
            f"A member owing more than {MAX_FINES:.2f} in fines cannot borrow; at most {MAX_LOANS} active "
            "loans per member. Loans last 21 days.",
            f"A loan can be renewed by 14 days at most {MAX_RENEWALS} times, and not once it is overdue.",
            "Returning a book late costs 0.25 per day late, added to the member's fines.",
            "A hold can be placed only on a book with no copy available.",
        ), "member")

    def intents(self) -> dict[str, list[Intent]]:
        return {"write": [_renew, _return, _checkout], "conditional": [_borrow_or_hold],
                "refusal": [_renew_refused], "lookup": [_due]}


def _active(ctx: Ctx) -> list[str]:
    return [loan for loan in ctx.mine("loans") if ctx.data["loans"][loan]["status"] == "active"]


def _title(ctx: Ctx, book_id: str) -> str:
    return ctx.data["books"][book_id]["title"]


def _renewable(ctx: Ctx, loan_id: str) -> bool:
    loan = ctx.data["loans"][loan_id]
    return loan["renewals"] < MAX_RENEWALS and loan["due_date"] >= TODAY


def _renew(ctx: Ctx) -> Step | None:
    loans = [loan for loan in _active(ctx) if _renewable(ctx, loan)]
    if not loans:
        return None
    loan_id = ctx.rng.choice(loans)
    return Step(f"renew loan {loan_id} ('{_title(ctx, ctx.data['loans'][loan_id]['book_id'])}')",
                (ctx.read("get_loan_details", loan_id=loan_id), ctx.write("renew_loan", loan_id=loan_id)),
                facts=(("loan id", loan_id),))


def _return(ctx: Ctx) -> Step | None:
    loans = _active(ctx)
    if not loans:
        return None
    loan_id = ctx.rng.choice(loans)
    return Step(f"return the book of loan {loan_id}", (ctx.write("return_book", loan_id=loan_id),),
                facts=(("loan id", loan_id),))


def _can_borrow(ctx: Ctx) -> bool:
    user = ctx.data["users"][ctx.user.user_id]
    return user["fines"] <= MAX_FINES and len(_active(ctx)) < MAX_LOANS


def _checkout(ctx: Ctx) -> Step | None:
    books = sorted(b for b, v in ctx.data["books"].items() if v["copies_available"] > 0)
    if not books or not _can_borrow(ctx):
        return None
    book_id = ctx.rng.choice(books)
    return Step(f"borrow '{_title(ctx, book_id)}' and learn your new loan's due date",
                (ctx.read("search_books", query=_title(ctx, book_id)),
                 ctx.write("checkout_book", user_id=ctx.user.user_id, book_id=book_id)),
                outputs=(days_after(TODAY, 21),), facts=(("book title", _title(ctx, book_id)),))


def _borrow_or_hold(ctx: Ctx) -> Step | None:
    held = {h["book_id"] for h in ctx.data["holds"].values() if h["user_id"] == ctx.user.user_id}
    books = sorted(b for b in ctx.data["books"] if b not in held)
    if not books or not _can_borrow(ctx):
        return None
    book_id = ctx.rng.choice(books)
    available = ctx.data["books"][book_id]["copies_available"] > 0
    write = ctx.write("checkout_book" if available else "place_hold", user_id=ctx.user.user_id, book_id=book_id)
    return Step(f"borrow '{_title(ctx, book_id)}'; if no copy is available, place a hold on it instead",
                (ctx.read("get_book_details", book_id=book_id), write),
                facts=(("book id", book_id),))


def _renew_refused(ctx: Ctx) -> Step | None:
    loans = [loan for loan in _active(ctx) if not _renewable(ctx, loan)]
    if not loans:
        return None
    loan_id = ctx.rng.choice(loans)
    loan = ctx.data["loans"][loan_id]
    why = "renewal limit" if loan["renewals"] >= MAX_RENEWALS else "overdue"
    return Step(f"renew loan {loan_id}", (ctx.read("get_loan_details", loan_id=loan_id),),
                outputs=(why,), facts=(("loan id", loan_id),))


def _due(ctx: Ctx) -> Step | None:
    loans = _active(ctx)
    if not loans:
        return None
    loan_id = ctx.rng.choice(loans)
    return Step(f"know when loan {loan_id} is due", (ctx.read("get_loan_details", loan_id=loan_id),),
                outputs=(ctx.data["loans"][loan_id]["due_date"],), facts=(("loan id", loan_id),))


LIBRARY = Library()
"""The library domain."""
