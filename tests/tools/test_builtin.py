"""Built-in tools answer deterministically, explain bad calls, and export as equivalent source."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolgym.error import ToolError
from toolgym.generate import GenerateConfig, generate_suite
from toolgym.generate.documents import comparator_spec, date_calculator_spec
from toolgym.scenario import (
    CalculatorImpl,
    ComparatorImpl,
    DateCalculatorImpl,
    LookupImpl,
    SourceImpl,
    Tool,
    ToolDoc,
)
from toolgym.tools.builtin import format_number, render_source, run_builtin

FILMS = {"The Silent Harbor": {"director": "Jane Doe", "release_year": 1987, "box_office_musd": 12.5},
         "Winter Garden": {"director": "Ann Lee", "release_year": 2001, "box_office_musd": 3.0}}


def _lookup(field_param: str | None = "field") -> Tool:
    properties = {"title": {"type": "string"},
                  "format": {"type": "string", "enum": ["text", "json"]},
                  "include_source": {"type": "boolean"}, "as_of_year": {"type": "integer"}}
    if field_param:
        properties[field_param] = {"type": "string", "enum": ["director", "release_year", "box_office_musd"]}
    doc = ToolDoc(name="film_info", description="Looks up films.",
                  parameters={"type": "object", "properties": properties, "required": ["title"]})
    impl = LookupImpl(key_param="title", field_param=field_param,
                      field=None if field_param else "director", records=FILMS, entity="film")
    return Tool(doc=doc, impl=impl)


CALCULATOR = Tool(
    doc=ToolDoc(name="calculator", description="Arithmetic.", parameters={
        "type": "object", "required": ["operation", "numbers"], "properties": {
            "operation": {"type": "string"}, "numbers": {"type": "array"},
            "precision": {"type": "integer"}}}),
    impl=CalculatorImpl(precision_param="precision"))


def test_a_lookup_prints_the_field_of_the_named_record():
    out = run_builtin(_lookup(), {"title": "the silent  HARBOR", "field": "director"})
    assert out == "The director of The Silent Harbor is Jane Doe."


def test_a_single_field_lookup_needs_no_field_argument():
    assert run_builtin(_lookup(None), {"title": "'Winter Garden'"}).endswith("is Ann Lee.")


def test_numbers_print_canonically_with_units_in_the_label():
    out = run_builtin(_lookup(), {"title": "Winter Garden", "field": "box_office_musd"})
    assert out == "The box office (million USD) of Winter Garden is 3."


def test_options_change_the_output_but_keep_the_answer_and_never_echo_free_text():
    base = {"title": "Winter Garden", "field": "release_year"}
    text = run_builtin(_lookup(), {**base, "include_source": True, "as_of_year": 1950})
    assert text == "The release year of Winter Garden is 2001. [as_of_year applied; include_source=true]"
    reply = json.loads(run_builtin(_lookup(), {**base, "format": "json"}))
    assert reply == {"entity": "film", "title": "Winter Garden", "field": "release_year", "value": "2001"}


def test_an_unknown_key_raises_a_tool_error_with_a_suggestion():
    with pytest.raises(ToolError, match=r"No film named 'The Silent Harbour'\. Did you mean 'The Silent Harbor'\?"):
        run_builtin(_lookup(), {"title": "The Silent Harbour", "field": "director"})


def test_an_unknown_field_raises_a_tool_error_listing_valid_fields():
    with pytest.raises(ToolError, match="valid fields: 'director', 'release_year'"):
        run_builtin(_lookup(), {"title": "Winter Garden", "field": "budget"})


def test_the_calculator_combines_numbers_left_to_right():
    assert run_builtin(CALCULATOR, {"operation": "subtract", "numbers": [10, 2.5, 1]}) == "The result is 6.5."
    assert run_builtin(CALCULATOR, {"operation": "add", "numbers": [0.1, 0.2]}) == "The result is 0.3."
    assert run_builtin(CALCULATOR, {"operation": "divide", "numbers": [10, 3], "precision": 4}) == \
        "The result is 3.3333."


@pytest.mark.parametrize(("arguments", "message"), [
    ({"operation": "divide", "numbers": [1, 0]}, "Cannot divide by zero"),
    ({"operation": "ad", "numbers": [1, 2]}, "Did you mean 'add'"),
    ({"operation": "add", "numbers": [1, "2"]}, "Not a number"),
    ({"operation": "add", "numbers": []}, "at least one number"),
    ({"operation": "add", "numbers": [1], "precision": 99}, "Precision"),
])
def test_bad_calculator_calls_raise_tool_errors(arguments, message):
    with pytest.raises(ToolError, match=message):
        run_builtin(CALCULATOR, arguments)


def test_source_tools_are_not_built_in():
    tool = Tool(doc=ToolDoc(name="f", description="", parameters={"type": "object"}),
                impl=SourceImpl(code="def f(): pass"))
    with pytest.raises(TypeError, match="source"):
        run_builtin(tool, {})


@given(st.one_of(st.integers(-10**12, 10**12), st.floats(-1e9, 1e9, allow_nan=False)))
def test_format_number_never_uses_separators_or_exponents(value):
    text = format_number(value)
    assert "," not in text and "e" not in text
    assert abs(float(text) - value) <= 0.005 + 1e-9 * abs(value)


def _exec_source(tool: Tool):
    namespace: dict = {}
    exec(compile(render_source(tool), f"<{tool.name}>", "exec"), namespace)  # noqa: S102 - our own code
    return namespace[tool.name]


def _both(tool: Tool, function, arguments: dict) -> tuple[str, str]:
    try:
        expected = run_builtin(tool, arguments)
    except ToolError as exc:
        expected = f"error: {exc}"
    try:
        got = function(**arguments)
    except ValueError as exc:
        got = f"error: {exc}"
    return expected, got


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_rendered_source_behaves_as_run_builtin_on_generated_tools(seed):
    config = GenerateConfig(optional_params=5, distractors=3)
    for scenario in generate_suite(2, seed, config):
        for sub in scenario.subtasks:
            tool = scenario.tool(sub.tool)
            function = _exec_source(tool)
            for arguments in (sub.call.arguments, {**sub.call.arguments, "format": "json"},
                              {**sub.call.arguments, "title": "Nope", "name": "Nobody"}):
                allowed = {k: v for k, v in arguments.items() if k in tool.doc.parameters["properties"]}
                expected, got = _both(tool, function, allowed)
                assert expected == got
        for tool in scenario.tools:
            assert callable(_exec_source(tool))


def test_rendered_source_is_standalone_python_with_a_keyword_signature():
    source = render_source(_lookup())
    assert "import toolgym" not in source and "from toolgym" not in source
    function = _exec_source(_lookup())
    assert function(title="Winter Garden", field="director") == "The director of Winter Garden is Ann Lee."
    with pytest.raises(ValueError, match="Did you mean"):
        function(title="Winter Gardn", field="director")


# -- the comparison and date tools of the parallel question kinds ------------------------------

def _with_format(spec) -> ToolDoc:
    spec.properties["format"] = {"type": "string", "enum": ["text", "json"]}
    return spec.doc()


COMPARATOR = Tool(doc=_with_format(comparator_spec()), impl=ComparatorImpl())
DATES = Tool(doc=_with_format(date_calculator_spec()), impl=DateCalculatorImpl())


def _items(*values) -> list[dict]:
    return [{"label": chr(ord("a") + i), "value": v} for i, v in enumerate(values)]


def test_the_comparator_names_the_largest_smallest_or_every_label_in_order():
    assert run_builtin(COMPARATOR, {"operation": "max", "items": _items(3, 12.5, 7)}) == "Result (max): b."
    assert run_builtin(COMPARATOR, {"operation": "min", "items": _items(3, 12.5, 7)}) == "Result (min): a."
    assert run_builtin(COMPARATOR, {"operation": "descending", "items": _items(3, 12.5, 7)}) == \
        "Result (descending): b, c, a."
    dates = _items("2001-05-03", "1999-12-31", "2001-05-02")
    assert run_builtin(COMPARATOR, {"operation": "ascending", "items": dates}) == "Result (ascending): b, c, a."
    reply = json.loads(run_builtin(COMPARATOR, {"operation": "max", "items": dates, "format": "json"}))
    assert reply == {"operation": "max", "value": "a"}


def test_the_date_tool_counts_whole_days_and_full_years_in_either_order():
    days = {"operation": "days_between", "start_date": "2024-03-01", "end_date": "2023-03-01"}
    assert run_builtin(DATES, days) == "The result is 366 days."
    years = {"operation": "years_between", "start_date": "1990-06-15", "end_date": "2024-06-14"}
    assert run_builtin(DATES, years) == "The result is 33 years."
    assert run_builtin(DATES, {**years, "end_date": "1991-06-15"}) == "The result is 1 year."


@pytest.mark.parametrize(("tool", "arguments", "message"), [
    (COMPARATOR, {"operation": "maximum", "items": _items(1, 2)}, "Did you mean 'max'"),
    (COMPARATOR, {"operation": "max", "items": _items(1)}, "at least two"),
    (COMPARATOR, {"operation": "max", "items": [{"label": "a", "value": 1}, {"label": "a", "value": 2}]},
     "appears twice"),
    (COMPARATOR, {"operation": "max", "items": _items(1, "2001-01-01")}, "dates with numbers"),
    (COMPARATOR, {"operation": "max", "items": _items(1, "tall")}, "Not a number or a YYYY-MM-DD date"),
    (COMPARATOR, {"operation": "max", "items": [{"label": "a"}, {"label": "b", "value": 2}]}, "needs a 'label'"),
    (COMPARATOR, {"operation": "max", "items": _items(True, 2)}, "Not a finite number"),
    (DATES, {"operation": "days", "start_date": "2001-01-01", "end_date": "2002-01-01"}, "days_between"),
    (DATES, {"operation": "days_between", "start_date": "2001-02-30", "end_date": "2002-01-01"},
     "Not a date in YYYY-MM-DD form: '2001-02-30'"),
    (DATES, {"operation": "days_between", "start_date": "01/02/2001", "end_date": "2002-01-01"}, "YYYY-MM-DD"),
])
def test_bad_comparator_and_date_calls_raise_tool_errors_that_say_what_is_wrong(tool, arguments, message):
    with pytest.raises(ToolError, match=message):
        run_builtin(tool, arguments)


_values = st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False),
                    st.dates().map(lambda d: d.isoformat()).filter(lambda t: len(t) == 10),
                    st.text(max_size=12), st.booleans(), st.none())


@settings(max_examples=40, deadline=None)
@given(operation=st.sampled_from(["max", "min", "ascending", "descending", "median"]),
       values=st.lists(_values, max_size=4), fmt=st.sampled_from([None, "text", "json"]))
def test_the_rendered_comparator_behaves_as_run_builtin_on_any_items(operation, values, fmt):
    arguments = {"operation": operation, "items": _items(*values)}
    if fmt:
        arguments["format"] = fmt
    expected, got = _both(COMPARATOR, _exec_source(COMPARATOR), arguments)
    assert expected == got


@settings(max_examples=40, deadline=None)
@given(operation=st.sampled_from(["days_between", "years_between", "weeks"]),
       start=st.dates().map(lambda d: d.isoformat()) | st.text(max_size=10),
       end=st.dates().map(lambda d: d.isoformat()))
def test_the_rendered_date_tool_behaves_as_run_builtin_on_any_dates(operation, start, end):
    arguments = {"operation": operation, "start_date": start, "end_date": end}
    expected, got = _both(DATES, _exec_source(DATES), arguments)
    assert expected == got
    if not expected.startswith("error"):
        first, last = sorted((date.fromisoformat(start), date.fromisoformat(end)))
        if operation == "days_between":
            assert expected == f"The result is {(last - first).days} day{'' if (last - first).days == 1 else 's'}."
