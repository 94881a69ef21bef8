"""Subscriptions: plans, pauses, cancellations and refunds of recent payments."""

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

__all__ = ["SUBSCRIPTIONS"]

REFUND_DAYS, MAX_PAUSES = 14, 1
_PLANS = (("basic", 7.99), ("standard", 12.99), ("premium", 19.99), ("family", 24.99))
_SUB = {"subscription_id": {"type": "string", "description": "The subscription id, e.g. 'S0001'."}}
_CONST = f"REFUND_DAYS, MAX_PAUSES = {REFUND_DAYS}, {MAX_PAUSES}\n"

_READS = [
    ToolDef("get_subscription_details", "Get a subscription: plan, status, renewal date and payment ids.",
            _SUB, ("subscription_id",), '''
def get_subscription_details(data, subscription_id):
    return _record(data, "subscriptions", subscription_id, "subscription")
'''),
    ToolDef("list_plans", "List the plans with their monthly prices.", {}, (), '''
def list_plans(data):
    return data["plans"]
'''),
    ToolDef("get_payment_details", "Get a payment: amount, date and status.",
            {"payment_id": {"type": "string", "description": "The payment id, e.g. 'PY0001'."}}, ("payment_id",), '''
def get_payment_details(data, payment_id):
    return _record(data, "payments", payment_id, "payment")
'''),
]


def _status_write(name: str, doc: str, allowed: str, new: str, extra: str = "") -> ToolDef:
    return ToolDef(name, doc, _SUB, ("subscription_id",), _CONST + f'''
def {name}(data, subscription_id, user_id=None):
    sub = _record(data, "subscriptions", subscription_id, "subscription")
    _verify(sub["user_id"], user_id)
    if sub["status"] not in {allowed!r}:
        _refuse(f"Subscription {{subscription_id}} is {{sub['status']}}; {name.replace('_', ' ')} needs "
                "it to be " + " or ".join({allowed!r}) + ". Nothing was changed.")
{extra}    sub["status"] = {new!r}
    return sub
''', writes=True)


_WRITES = [
    ToolDef("change_plan", "Move an active subscription to another plan.",
            {**_SUB, "plan_id": {"type": "string", "description": "The new plan id, e.g. 'basic'."}},
            ("subscription_id", "plan_id"), '''
def change_plan(data, subscription_id, plan_id, user_id=None):
    sub = _record(data, "subscriptions", subscription_id, "subscription")
    _verify(sub["user_id"], user_id)
    _record(data, "plans", plan_id, "plan")
    if sub["status"] != "active":
        _refuse(f"Subscription {subscription_id} is {sub['status']}; only active ones can change plan.")
    if sub["plan_id"] == plan_id:
        _refuse(f"Subscription {subscription_id} is already on {plan_id}.")
    sub["plan_id"] = plan_id
    return sub
''', writes=True),
    _status_write("pause_subscription", "Pause an active subscription (once per subscription).", ("active",),
                  "paused", '''    if sub["pauses_used"] >= MAX_PAUSES:
        _refuse(f"Subscription {subscription_id} was already paused {MAX_PAUSES} time(s), the most allowed.")
    sub["pauses_used"] += 1
'''),
    _status_write("cancel_subscription", "Cancel a subscription that is active or paused.",
                  ("active", "paused"), "cancelled"),
    ToolDef("refund_payment", f"Refund a settled payment made in the last {REFUND_DAYS} days.",
            {"payment_id": {"type": "string", "description": "The payment id."}}, ("payment_id",), _CONST + '''
def refund_payment(data, payment_id, user_id=None):
    payment = _record(data, "payments", payment_id, "payment")
    _verify(data["subscriptions"][payment["subscription_id"]]["user_id"], user_id)
    import datetime
    age = (datetime.date.fromisoformat(TODAY) - datetime.date.fromisoformat(payment["date"])).days
    if payment["status"] != "settled":
        _refuse(f"Payment {payment_id} is {payment['status']}.")
    if age > REFUND_DAYS:
        _refuse(f"Payment {payment_id} is {age} days old: only payments of the last {REFUND_DAYS} days "
                "can be refunded. Nothing was changed.")
    payment["status"] = "refunded"
    return payment
''', writes=True),
]


class Subscriptions:
    """Subscription plans and payments."""

    name = "subscriptions"

    def build(self, rng: random.Random, fake: FakeData, records: int) -> dict[str, Any]:
        plans = {name: {"monthly_price": price} for name, price in _PLANS}
        n_users = max(2, records // 4)
        users = {f"U{i + 1:04d}": {**fake.person(), "subscriptions": []}
                 for i in range(n_users)}
        subs, payments = {}, {}
        n_subs = max(2, (records - n_users) // 3)
        for i in range(n_subs):
            user_id, sub_id = rng.choice(sorted(users)), f"S{i + 1:04d}"
            plan = rng.choice(sorted(plans))
            subs[sub_id] = {"user_id": user_id, "plan_id": plan, "payments": [],
                            "status": rng.choice(("active", "active", "paused", "cancelled")),
                            "renews_on": days_after(TODAY, rng.randint(1, 30)), "pauses_used": rng.choice((0, 0, 1))}
            users[user_id]["subscriptions"].append(sub_id)
            for _ in range(2):
                pay_id = f"PY{len(payments) + 1:04d}"
                payments[pay_id] = {"subscription_id": sub_id, "amount": plans[plan]["monthly_price"],
                                    "date": days_after(TODAY, -rng.randint(1, 45)), "status": "settled"}
                subs[sub_id]["payments"].append(pay_id)
        return {"users": users, "plans": plans, "subscriptions": subs, "payments": payments}

    def tools(self) -> list[ToolDef]:
        return identity_tools("subscriber") + _READS + _WRITES

    def wiki(self, strict: bool) -> str:
        identity = ("Before any change, verify the subscriber: find their user id from their email and pass it "
                    "as user_id." if strict else "Find the subscriber's user id from their email when needed.")
        return policy("Subscription support policy", "You help subscribers of a streaming service.", identity, (
            "Only active subscriptions can change plan or be paused; a subscription can be paused "
            f"{MAX_PAUSES} time at most.",
            "Active or paused subscriptions can be cancelled.",
            f"Only settled payments of the last {REFUND_DAYS} days can be refunded.",
        ), "subscriber")

    def intents(self) -> dict[str, list[Intent]]:
        return {"write": [_change, _pause, _cancel], "conditional": [_refund_or_cancel],
                "refusal": [_refund_refused], "lookup": [_renewal]}


def _subs(ctx: Ctx, *statuses: str) -> list[str]:
    return [s for s in ctx.mine("subscriptions") if ctx.data["subscriptions"][s]["status"] in statuses]


def _age(date: str) -> int:
    import datetime

    return (datetime.date.fromisoformat(TODAY) - datetime.date.fromisoformat(date)).days


def _change(ctx: Ctx) -> Step | None:
    subs = _subs(ctx, "active")
    if not subs:
        return None
    sub_id = ctx.rng.choice(subs)
    plan = ctx.rng.choice([p for p in sorted(ctx.data["plans"]) if p != ctx.data["subscriptions"][sub_id]["plan_id"]])
    return Step(f"move subscription {sub_id} to the {plan} plan and learn its monthly price",
                (ctx.read("list_plans"), ctx.write("change_plan", subscription_id=sub_id, plan_id=plan)),
                outputs=(f"{ctx.data['plans'][plan]['monthly_price']:.2f}",), facts=(("subscription id", sub_id),))


def _pause(ctx: Ctx) -> Step | None:
    subs = [s for s in _subs(ctx, "active") if ctx.data["subscriptions"][s]["pauses_used"] < MAX_PAUSES]
    if not subs:
        return None
    sub_id = ctx.rng.choice(subs)
    return Step(f"pause subscription {sub_id}", (ctx.write("pause_subscription", subscription_id=sub_id),),
                facts=(("subscription id", sub_id),))


def _cancel(ctx: Ctx) -> Step | None:
    subs = _subs(ctx, "active", "paused")
    if not subs:
        return None
    sub_id = ctx.rng.choice(subs)
    return Step(f"cancel subscription {sub_id}",
                (ctx.read("get_subscription_details", subscription_id=sub_id),
                 ctx.write("cancel_subscription", subscription_id=sub_id)), facts=(("subscription id", sub_id),))


def _last_payment(ctx: Ctx, sub_id: str) -> str:
    pays = ctx.data["subscriptions"][sub_id]["payments"]
    return max(pays, key=lambda p: (ctx.data["payments"][p]["date"], p))


def _refund_or_cancel(ctx: Ctx) -> Step | None:
    subs = [s for s in _subs(ctx, "active", "paused")
            if ctx.data["payments"][_last_payment(ctx, s)]["status"] == "settled"]
    if not subs:
        return None
    sub_id = ctx.rng.choice(subs)
    pay_id = _last_payment(ctx, sub_id)
    recent = _age(ctx.data["payments"][pay_id]["date"]) <= REFUND_DAYS
    write = (ctx.write("refund_payment", payment_id=pay_id) if recent
             else ctx.write("cancel_subscription", subscription_id=sub_id))
    return Step(f"get a refund of the latest payment ({pay_id}) of subscription {sub_id}; if it cannot be "
                "refunded, cancel the subscription instead",
                (ctx.read("get_payment_details", payment_id=pay_id), write),
                facts=(("subscription id", sub_id), ("payment id", pay_id)))


def _refund_refused(ctx: Ctx) -> Step | None:
    pays = [p for s in ctx.mine("subscriptions") for p in ctx.data["subscriptions"][s]["payments"]
            if ctx.data["payments"][p]["status"] == "settled" and _age(ctx.data["payments"][p]["date"]) > REFUND_DAYS]
    if not pays:
        return None
    pay_id = ctx.rng.choice(sorted(pays))
    return Step(f"get a refund of payment {pay_id}", (ctx.read("get_payment_details", payment_id=pay_id),),
                outputs=(f"{REFUND_DAYS} days",), facts=(("payment id", pay_id),))


def _renewal(ctx: Ctx) -> Step | None:
    subs = ctx.mine("subscriptions")
    if not subs:
        return None
    sub_id = ctx.rng.choice(subs)
    sub = ctx.data["subscriptions"][sub_id]
    return Step(f"know the plan and renewal date of subscription {sub_id}",
                (ctx.read("get_subscription_details", subscription_id=sub_id),),
                outputs=(sub["plan_id"], sub["renews_on"]), facts=(("subscription id", sub_id),))


SUBSCRIPTIONS = Subscriptions()
"""The subscriptions domain."""
