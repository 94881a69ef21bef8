"""Read tools that no goal needs (toolset extension): deterministic, and they never touch the data."""

from __future__ import annotations

from toolgym.generate.stateful.base import ToolDef

__all__ = ["DISTRACTORS"]

DISTRACTORS: list[ToolDef] = [
    ToolDef("get_support_hours", "Get the support desk's opening hours for a weekday.",
            {"weekday": {"type": "string", "enum": ["monday", "tuesday", "wednesday", "thursday", "friday",
                                                     "saturday", "sunday"], "description": "The weekday."}},
            ("weekday",), '''
def get_support_hours(data, weekday):
    return {"weekday": weekday, "hours": "closed" if weekday == "sunday" else "09:00-17:00"}
'''),
    ToolDef("convert_currency", "Convert an amount between USD, EUR and GBP at today's fixed rates.",
            {"amount": {"type": "number", "description": "The amount."},
             "source": {"type": "string", "enum": ["USD", "EUR", "GBP"], "description": "From."},
             "target": {"type": "string", "enum": ["USD", "EUR", "GBP"], "description": "To."}},
            ("amount", "source", "target"), '''
def convert_currency(data, amount, source, target):
    rates = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}
    return {"amount": round(amount / rates[source] * rates[target], 2), "currency": target}
'''),
    ToolDef("search_help_articles", "Search the help centre's articles by keyword.",
            {"query": {"type": "string", "description": "Keywords."}}, ("query",), '''
def search_help_articles(data, query):
    articles = ["How to reset your password", "Contacting support", "Privacy and your data"]
    words = query.lower().split()
    return [a for a in articles if any(w in a.lower() for w in words)] or ["No article matches."]
'''),
    ToolDef("calculate_days_between", "Count the days between two dates (YYYY-MM-DD).",
            {"start": {"type": "string", "description": "The first date."},
             "end": {"type": "string", "description": "The second date."}}, ("start", "end"), '''
def calculate_days_between(data, start, end):
    import datetime
    try:
        days = (datetime.date.fromisoformat(end) - datetime.date.fromisoformat(start)).days
    except ValueError:
        _refuse("Dates must be written YYYY-MM-DD.")
    return {"days": days}
'''),
    ToolDef("get_service_status", "Whether the online services run normally.", {}, (), '''
def get_service_status(data):
    return {"status": "all services operational"}
'''),
]
"""The pool of distractor tools."""
