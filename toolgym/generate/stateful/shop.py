"""The shop: orders, returns and exchanges (in the manner of tau-bench's retail domain)."""

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

__all__ = ["SHOP"]

_MODELS = {
    "desk lamp": ("black", "white", "brass"), "water bottle": ("blue", "green", "red", "grey"),
    "backpack": ("black", "navy", "olive"), "running shoes": ("white", "black", "red"),
    "coffee mug": ("white", "blue", "yellow"), "rain jacket": ("yellow", "navy", "green"),
    "headphones": ("black", "silver", "white"), "notebook": ("red", "blue", "black"),
}
_STATUSES = ("pending", "processed", "delivered", "delivered", "cancelled")
_REASONS = ("no longer needed", "ordered by mistake")

_READS = [
    ToolDef("get_order_details", "Get an order: status, items, total, payment method and refunds.",
            {"order_id": {"type": "string", "description": "The order id, e.g. 'W0001'."}}, ("order_id",), '''
def get_order_details(data, order_id):
    return _record(data, "orders", order_id, "order")
'''),
    ToolDef("list_product_variants", "List the colours of a product model, with price and stock.",
            {"model": {"type": "string", "description": "The model name, e.g. 'desk lamp'."}}, ("model",), '''
def list_product_variants(data, model):
    found = {pid: p for pid, p in data["products"].items() if p["model"] == model.strip().lower()}
    if not found:
        _refuse(f"No product model {model!r}.")
    return found
'''),
]

_WRITES = [
    ToolDef("cancel_pending_order", "Cancel a pending order; the total is refunded to its payment method.",
            {"order_id": {"type": "string", "description": "The order id."},
             "reason": {"type": "string", "enum": list(_REASONS), "description": "Why the user cancels."}},
            ("order_id", "reason"), '''
def cancel_pending_order(data, order_id, reason, user_id=None):
    order = _record(data, "orders", order_id, "order")
    _verify(order["user_id"], user_id)
    if order["status"] != "pending":
        _refuse(f"Order {order_id} is {order['status']}: only pending orders can be cancelled "
                "(a delivered order's items can be returned or exchanged). Nothing was changed.")
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    order["refunds"].append({"amount": order["total"], "to": order["payment_method"], "date": TODAY})
    return order
''', writes=True),
    ToolDef("return_delivered_order_item", "Return one item of a delivered order for a refund.",
            {"order_id": {"type": "string", "description": "The order id."},
             "product_id": {"type": "string", "description": "The product id of the item to return."},
             "refund_to": {"type": "string", "description": "The payment method that receives the refund."}},
            ("order_id", "product_id", "refund_to"), '''
def return_delivered_order_item(data, order_id, product_id, refund_to, user_id=None):
    order = _record(data, "orders", order_id, "order")
    _verify(order["user_id"], user_id)
    if order["status"] != "delivered":
        _refuse(f"Order {order_id} is {order['status']}: only delivered orders can be returned.")
    items = [i for i in order["items"] if i["product_id"] == product_id and i["state"] == "kept"]
    if not items:
        _refuse(f"Order {order_id} has no kept item {product_id!r} to return.")
    if refund_to != order["payment_method"]:
        _refuse(f"Refunds go to the original payment method, {order['payment_method']}; "
                f"not {refund_to!r}. Nothing was changed.")
    items[0]["state"] = "returned"
    data["products"][product_id]["stock"] += 1
    order["refunds"].append({"amount": items[0]["price"], "to": refund_to, "date": TODAY})
    return order
''', writes=True),
    ToolDef("exchange_delivered_order_item",
            "Exchange one item of a delivered order for the same model in another colour that is in stock.",
            {"order_id": {"type": "string", "description": "The order id."},
             "product_id": {"type": "string", "description": "The product id of the item to exchange."},
             "new_product_id": {"type": "string", "description": "The product id of the new colour."}},
            ("order_id", "product_id", "new_product_id"), '''
def exchange_delivered_order_item(data, order_id, product_id, new_product_id, user_id=None):
    order = _record(data, "orders", order_id, "order")
    _verify(order["user_id"], user_id)
    if order["status"] != "delivered":
        _refuse(f"Order {order_id} is {order['status']}: only delivered orders can be exchanged.")
    items = [i for i in order["items"] if i["product_id"] == product_id and i["state"] == "kept"]
    if not items:
        _refuse(f"Order {order_id} has no kept item {product_id!r} to exchange.")
    new = _record(data, "products", new_product_id, "product")
    old = data["products"][product_id]
    if new["model"] != old["model"] or new_product_id == product_id:
        _refuse(f"An exchange must be the same model ({old['model']}) in another colour.")
    if new["stock"] < 1:
        _refuse(f"{new['model']} in {new['colour']} ({new_product_id}) is out of stock; nothing was changed.")
    new["stock"] -= 1
    old["stock"] += 1
    items[0].update(product_id=new_product_id, colour=new["colour"], state="exchanged")
    return order
''', writes=True),
]


class Shop:
    """Orders, returns and exchanges."""

    name = "shop"

    def build(self, rng: random.Random, fake: FakeData, records: int) -> dict[str, Any]:
        products: dict[str, Any] = {}
        for model, colours in _MODELS.items():
            price = round(rng.uniform(8, 150), 2)
            for colour in colours:
                products[f"P{len(products) + 1:04d}"] = {
                    "model": model, "colour": colour, "price": price,
                    "stock": rng.choice((0, 0, 1, 3, 5, 12))}
        n_users = max(2, records // 4)
        users = {f"U{i + 1:04d}": _user(fake, rng) for i in range(n_users)}
        orders: dict[str, Any] = {}
        for i in range(max(2, records - n_users - len(products))):
            user_id = rng.choice(sorted(users))
            picks = rng.sample(sorted(products), rng.randint(1, 3))
            items = [{"product_id": p, "model": products[p]["model"], "colour": products[p]["colour"],
                      "price": products[p]["price"], "state": "kept"} for p in picks]
            orders[f"W{i + 1:04d}"] = {
                "user_id": user_id, "date": days_after(TODAY, -rng.randint(1, 60)),
                "status": rng.choice(_STATUSES), "payment_method": rng.choice(users[user_id]["payment_methods"]),
                "items": items, "total": round(sum(x["price"] for x in items), 2), "refunds": []}
            users[user_id]["orders"].append(f"W{i + 1:04d}")
        return {"users": users, "products": products, "orders": orders}

    def tools(self) -> list[ToolDef]:
        return identity_tools("customer") + _READS + _WRITES

    def wiki(self, strict: bool) -> str:
        identity = ("Before any change, verify the customer's identity: find their user id from their email "
                    "and pass it as user_id to the write tool." if strict else
                    "Identify the customer from their email when you need their orders.")
        return policy("Shop agent policy", "You help customers of an online shop with their orders.", identity, (
            "Only pending orders can be cancelled; the total is refunded to the order's payment method.",
            "Only items of delivered orders can be returned or exchanged, each item once.",
            "A refund always goes to the original payment method of the order.",
            "An exchange must be the same model in another colour that is in stock.",
        ), "customer")

    def intents(self) -> dict[str, list[Intent]]:
        return {"write": [_cancel, _return, _exchange], "conditional": [_exchange_or_else],
                "refusal": [_cancel_refused, _exchange_refused], "lookup": [_total, _stock]}


def _user(fake: FakeData, rng: random.Random) -> dict[str, Any]:
    name = fake.name()
    card = f"credit_card_{rng.randint(1000, 9999)}"
    methods = [card] + ([f"gift_card_{rng.randint(1000, 9999)}"] if rng.random() < 0.5 else [])
    return {"name": name, "email": fake.email(name), "zip": fake.postcode(), "payment_methods": methods,
            "orders": []}


def _orders(ctx: Ctx, status: str) -> list[str]:
    return [o for o in ctx.mine("orders") if ctx.data["orders"][o]["status"] == status]


def _kept(ctx: Ctx, order_id: str) -> list[dict[str, Any]]:
    return [i for i in ctx.data["orders"][order_id]["items"] if i["state"] == "kept"]


def _cancel(ctx: Ctx) -> Step | None:
    pending = _orders(ctx, "pending")
    if not pending:
        return None
    order_id, reason = ctx.rng.choice(pending), ctx.rng.choice(_REASONS)
    return Step(f"cancel order {order_id} because it is {reason}",
                (ctx.read("get_order_details", order_id=order_id),
                 ctx.write("cancel_pending_order", order_id=order_id, reason=reason)),
                facts=(("order id", order_id),))


def _delivered_item(ctx: Ctx, in_stock_swap: bool) -> tuple[str, dict[str, Any], list[str]] | None:
    """A kept item of a delivered order, and the other colours of its model (in stock if asked)."""
    for order_id in ctx.rng.sample(_orders(ctx, "delivered"), len(_orders(ctx, "delivered"))):
        for item in _kept(ctx, order_id):
            others = sorted(p for p, v in ctx.data["products"].items()
                            if v["model"] == item["model"] and p != item["product_id"]
                            and (v["stock"] > 0 or not in_stock_swap))
            if others:
                return order_id, item, others
    return None


def _return(ctx: Ctx) -> Step | None:
    found = _delivered_item(ctx, in_stock_swap=False)
    if found is None:
        return None
    order_id, item, _ = found
    refund = ctx.data["orders"][order_id]["payment_method"]
    return Step(f"return the {item['colour']} {item['model']} of order {order_id} and be refunded",
                (ctx.read("get_order_details", order_id=order_id),
                 ctx.write("return_delivered_order_item", order_id=order_id, product_id=item["product_id"],
                           refund_to=refund)),
                outputs=(f"{item['price']:.2f}",), facts=(("order id", order_id),))


def _exchange(ctx: Ctx) -> Step | None:
    found = _delivered_item(ctx, in_stock_swap=True)
    if found is None:
        return None
    order_id, item, others = found
    new = ctx.rng.choice(others)
    colour = ctx.data["products"][new]["colour"]
    return Step(f"exchange the {item['colour']} {item['model']} of order {order_id} for the {colour} one",
                (ctx.read("list_product_variants", model=item["model"]),
                 ctx.write("exchange_delivered_order_item", order_id=order_id, product_id=item["product_id"],
                           new_product_id=new)),
                facts=(("order id", order_id),))


def _exchange_or_else(ctx: Ctx) -> Step | None:
    found = _delivered_item(ctx, in_stock_swap=False)
    if found is None:
        return None
    order_id, item, others = found
    fallback = [p for p in others if ctx.data["products"][p]["stock"] > 0]
    if len(others) < 2 or not fallback:
        return None
    first = ctx.rng.choice([p for p in others if p != fallback[0]] or others)
    second = ctx.rng.choice([p for p in fallback if p != first] or fallback)
    if first == second:
        return None
    chosen = first if ctx.data["products"][first]["stock"] > 0 else second
    colour = {p: ctx.data["products"][p]["colour"] for p in (first, second)}
    return Step(f"exchange the {item['colour']} {item['model']} of order {order_id} for the {colour[first]} one; "
                f"if {colour[first]} is out of stock, take {colour[second]} instead",
                (ctx.read("list_product_variants", model=item["model"]),
                 ctx.write("exchange_delivered_order_item", order_id=order_id, product_id=item["product_id"],
                           new_product_id=chosen)),
                facts=(("order id", order_id),))


def _cancel_refused(ctx: Ctx) -> Step | None:
    orders = [o for o in ctx.mine("orders") if ctx.data["orders"][o]["status"] in ("processed", "delivered")]
    if not orders:
        return None
    order_id = ctx.rng.choice(orders)
    status = ctx.data["orders"][order_id]["status"]
    return Step(f"cancel order {order_id}", (ctx.read("get_order_details", order_id=order_id),),
                outputs=(status,), facts=(("order id", order_id),))


def _exchange_refused(ctx: Ctx) -> Step | None:
    for order_id in _orders(ctx, "delivered"):
        for item in _kept(ctx, order_id):
            empty = sorted(p for p, v in ctx.data["products"].items()
                           if v["model"] == item["model"] and p != item["product_id"] and v["stock"] == 0)
            if empty:
                colour = ctx.data["products"][empty[0]]["colour"]
                return Step(f"exchange the {item['colour']} {item['model']} of order {order_id} for a "
                            f"{colour} one (only that colour)",
                            (ctx.read("list_product_variants", model=item["model"]),),
                            outputs=("out of stock",), facts=(("order id", order_id),))
    return None


def _total(ctx: Ctx) -> Step | None:
    orders = ctx.mine("orders")
    if not orders:
        return None
    order_id = ctx.rng.choice(orders)
    order = ctx.data["orders"][order_id]
    return Step(f"know the total and the status of order {order_id}",
                (ctx.read("get_order_details", order_id=order_id),),
                outputs=(f"{order['total']:.2f}", order["status"]), facts=(("order id", order_id),))


def _stock(ctx: Ctx) -> Step | None:
    product_id = ctx.rng.choice(sorted(ctx.data["products"]))
    product = ctx.data["products"][product_id]
    return Step(f"know how many {product['colour']} {product['model']}s are in stock",
                (ctx.read("list_product_variants", model=product["model"]),),
                outputs=(f"{product['stock']} in stock",))


SHOP = Shop()
"""The shop domain."""
