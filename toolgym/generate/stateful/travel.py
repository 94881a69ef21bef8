"""Travel: flight bookings with cabins, seats and fares."""

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

__all__ = ["TRAVEL"]

_CITIES = ("BOS", "JFK", "ORD", "SFO", "SEA", "ATL", "DEN", "LAX")
_RES = {"reservation_id": {"type": "string", "description": "The reservation id, e.g. 'R0001'."}}
_FLIGHT = {"flight_id": {"type": "string", "description": "The flight id, e.g. 'F0001'."}}

_READS = [
    ToolDef("search_flights", "Find flights between two airports (IATA codes).",
            {"origin": {"type": "string", "description": "e.g. 'BOS'."},
             "destination": {"type": "string", "description": "e.g. 'SFO'."}}, ("origin", "destination"), '''
def search_flights(data, origin, destination):
    found = {f: v for f, v in data["flights"].items()
             if v["origin"] == origin.upper() and v["destination"] == destination.upper()}
    return found or f"No flight from {origin} to {destination}."
'''),
    ToolDef("get_reservation_details", "Get a reservation: flight, cabin, passengers, status, total.",
            _RES, ("reservation_id",), '''
def get_reservation_details(data, reservation_id):
    return _record(data, "reservations", reservation_id, "reservation")
'''),
]

_WRITES = [
    ToolDef("book_reservation", "Book seats on a flight, paid with one of the user's payment methods.",
            {"user_id": {"type": "string", "description": "The traveller's user id."}, **_FLIGHT,
             "cabin": {"type": "string", "enum": ["economy", "business"], "description": "The cabin."},
             "passengers": {"type": "integer", "minimum": 1, "maximum": 5, "description": "How many seats."},
             "payment_method": {"type": "string", "description": "One of the user's payment methods."}},
            ("user_id", "flight_id", "cabin", "passengers", "payment_method"), '''
def book_reservation(data, user_id, flight_id, cabin, passengers, payment_method):
    user = _record(data, "users", user_id, "user")
    flight = _record(data, "flights", flight_id, "flight")
    if payment_method not in user["payment_methods"]:
        _refuse(f"{payment_method!r} is not a payment method of {user_id}: {user['payment_methods']}.")
    if flight["seats"][cabin] < passengers:
        _refuse(f"Flight {flight_id} has {flight['seats'][cabin]} {cabin} seats left, not {passengers}.")
    reservation_id = f"R{len(data['reservations']) + 1:04d}"
    data["reservations"][reservation_id] = {
        "user_id": user_id, "flight_id": flight_id, "cabin": cabin, "passengers": passengers,
        "status": "confirmed", "payment_method": payment_method, "insurance": False,
        "total": round(flight["fares"][cabin] * passengers, 2)}
    flight["seats"][cabin] -= passengers
    user["reservations"].append(reservation_id)
    return {"reservation_id": reservation_id, "total": data["reservations"][reservation_id]["total"]}
''', writes=True),
    ToolDef("cancel_reservation", "Cancel a confirmed reservation for a refund (business or insured only).",
            _RES, ("reservation_id",), '''
def cancel_reservation(data, reservation_id, user_id=None):
    res = _record(data, "reservations", reservation_id, "reservation")
    _verify(res["user_id"], user_id)
    if res["status"] != "confirmed":
        _refuse(f"Reservation {reservation_id} is {res['status']}.")
    if res["cabin"] != "business" and not res["insurance"]:
        _refuse(f"Reservation {reservation_id} is a non-refundable economy fare without insurance; "
                "it cannot be cancelled. Nothing was changed.")
    res["status"] = "cancelled"
    data["flights"][res["flight_id"]]["seats"][res["cabin"]] += res["passengers"]
    return res
''', writes=True),
    ToolDef("upgrade_to_business", "Move a confirmed economy reservation to business; the fare difference "
            "is charged to its payment method.", _RES, ("reservation_id",), '''
def upgrade_to_business(data, reservation_id, user_id=None):
    res = _record(data, "reservations", reservation_id, "reservation")
    _verify(res["user_id"], user_id)
    flight = data["flights"][res["flight_id"]]
    if res["status"] != "confirmed" or res["cabin"] != "economy":
        _refuse(f"Only confirmed economy reservations can be upgraded; {reservation_id} is "
                f"{res['status']} {res['cabin']}.")
    if flight["seats"]["business"] < res["passengers"]:
        _refuse(f"Business on {res['flight_id']} has {flight['seats']['business']} seats left.")
    flight["seats"]["business"] -= res["passengers"]
    flight["seats"]["economy"] += res["passengers"]
    res["cabin"] = "business"
    res["total"] = round(flight["fares"]["business"] * res["passengers"], 2)
    return res
''', writes=True),
]


class Travel:
    """Flight bookings."""

    name = "travel"

    def build(self, rng: random.Random, fake: FakeData, records: int) -> dict[str, Any]:
        n_users, n_flights = max(2, records // 4), max(4, records // 3)
        users = {}
        for i in range(n_users):
            methods = [f"credit_card_{rng.randint(1000, 9999)}"] + (["travel_voucher"] if rng.random() < 0.4 else [])
            users[f"U{i + 1:04d}"] = {**fake.person(),
                                      "payment_methods": methods, "reservations": []}
        flights = {}
        for i in range(n_flights):
            origin, destination = rng.sample(_CITIES, 2)
            economy = rng.randint(80, 400)
            flights[f"F{i + 1:04d}"] = {
                "origin": origin, "destination": destination, "date": days_after(TODAY, rng.randint(3, 60)),
                "fares": {"economy": float(economy), "business": float(economy * 3)},
                "seats": {"economy": rng.choice((0, 1, 2, 9, 30)), "business": rng.choice((0, 1, 4, 8))}}
        reservations = {}
        for i in range(max(2, records - n_users - n_flights)):
            user_id, flight_id = rng.choice(sorted(users)), rng.choice(sorted(flights))
            cabin, passengers = rng.choice(("economy", "economy", "business")), rng.randint(1, 3)
            reservations[f"R{i + 1:04d}"] = {
                "user_id": user_id, "flight_id": flight_id, "cabin": cabin, "passengers": passengers,
                "status": rng.choice(("confirmed", "confirmed", "cancelled")),
                "payment_method": users[user_id]["payment_methods"][0], "insurance": rng.random() < 0.3,
                "total": round(flights[flight_id]["fares"][cabin] * passengers, 2)}
            users[user_id]["reservations"].append(f"R{i + 1:04d}")
        return {"users": users, "flights": flights, "reservations": reservations}

    def tools(self) -> list[ToolDef]:
        return identity_tools("traveller") + _READS + _WRITES

    def wiki(self, strict: bool) -> str:
        identity = ("Before any change, verify the traveller: find their user id from their email and pass it as "
                    "user_id." if strict else "Find the traveller's user id from their email when a tool needs it.")
        return policy("Travel agent policy", "You help travellers with flight reservations.", identity, (
            "Pay only with a payment method in the traveller's profile.",
            "Only business reservations or insured ones can be cancelled (refunded); economy without "
            "insurance is non-refundable.",
            "A confirmed economy reservation can be upgraded to business if enough business seats are left.",
        ), "traveller")

    def intents(self) -> dict[str, list[Intent]]:
        return {"write": [_book, _cancel, _upgrade], "conditional": [_economy_or_business],
                "refusal": [_cancel_refused], "lookup": [_total]}


def _confirmed(ctx: Ctx) -> list[str]:
    return [r for r in ctx.mine("reservations") if ctx.data["reservations"][r]["status"] == "confirmed"]


def _route(ctx: Ctx, flight_id: str) -> str:
    flight = ctx.data["flights"][flight_id]
    return f"flight {flight_id} from {flight['origin']} to {flight['destination']} on {flight['date']}"


def _pay(ctx: Ctx) -> str:
    return ctx.data["users"][ctx.user.user_id]["payment_methods"][-1]


def _book_step(ctx: Ctx, flight_id: str, cabin: str, passengers: int, ask: str) -> Step:
    flight = ctx.data["flights"][flight_id]
    return Step(ask, (ctx.read("search_flights", origin=flight["origin"], destination=flight["destination"]),
                      ctx.write("book_reservation", user_id=ctx.user.user_id, flight_id=flight_id, cabin=cabin,
                                passengers=passengers, payment_method=_pay(ctx))),
                outputs=(f"{flight['fares'][cabin] * passengers:.2f}",),
                facts=(("flight id", flight_id), ("payment method", _pay(ctx))))


def _book(ctx: Ctx) -> Step | None:
    passengers = ctx.rng.randint(1, 2)
    flights = sorted(f for f, v in ctx.data["flights"].items() if v["seats"]["economy"] >= passengers)
    if not flights:
        return None
    flight_id = ctx.rng.choice(flights)
    return _book_step(ctx, flight_id, "economy", passengers,
                      f"book {passengers} economy seat(s) on {_route(ctx, flight_id)} with your {_pay(ctx)} "
                      "and learn the total")


def _refundable(ctx: Ctx, res_id: str) -> bool:
    res = ctx.data["reservations"][res_id]
    return res["cabin"] == "business" or res["insurance"]


def _cancel(ctx: Ctx) -> Step | None:
    options = [r for r in _confirmed(ctx) if _refundable(ctx, r)]
    if not options:
        return None
    res_id = ctx.rng.choice(options)
    return Step(f"cancel reservation {res_id}",
                (ctx.read("get_reservation_details", reservation_id=res_id),
                 ctx.write("cancel_reservation", reservation_id=res_id)), facts=(("reservation id", res_id),))


def _upgrade(ctx: Ctx) -> Step | None:
    options = [r for r in _confirmed(ctx) if ctx.data["reservations"][r]["cabin"] == "economy"
               and ctx.data["flights"][ctx.data["reservations"][r]["flight_id"]]["seats"]["business"]
               >= ctx.data["reservations"][r]["passengers"]]
    if not options:
        return None
    res_id = ctx.rng.choice(options)
    return Step(f"upgrade reservation {res_id} to business",
                (ctx.read("get_reservation_details", reservation_id=res_id),
                 ctx.write("upgrade_to_business", reservation_id=res_id)), facts=(("reservation id", res_id),))


def _economy_or_business(ctx: Ctx) -> Step | None:
    flights = sorted(f for f, v in ctx.data["flights"].items() if v["seats"]["business"] >= 1)
    if not flights:
        return None
    flight_id = ctx.rng.choice(flights)
    cabin = "economy" if ctx.data["flights"][flight_id]["seats"]["economy"] >= 1 else "business"
    return _book_step(ctx, flight_id, cabin, 1,
                      f"book one economy seat on {_route(ctx, flight_id)} with your {_pay(ctx)}; if economy is "
                      "full, book business instead; learn the total")


def _cancel_refused(ctx: Ctx) -> Step | None:
    options = [r for r in _confirmed(ctx) if not _refundable(ctx, r)]
    if not options:
        return None
    res_id = ctx.rng.choice(options)
    return Step(f"cancel reservation {res_id} for a refund",
                (ctx.read("get_reservation_details", reservation_id=res_id),),
                outputs=("non-refundable",), facts=(("reservation id", res_id),))


def _total(ctx: Ctx) -> Step | None:
    options = ctx.mine("reservations")
    if not options:
        return None
    res_id = ctx.rng.choice(options)
    res = ctx.data["reservations"][res_id]
    return Step(f"know the total paid and the cabin of reservation {res_id}",
                (ctx.read("get_reservation_details", reservation_id=res_id),),
                outputs=(f"{res['total']:.2f}", res["cabin"]), facts=(("reservation id", res_id),))


TRAVEL = Travel()
"""The travel domain."""
