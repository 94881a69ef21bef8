"""The incremental state hash equals the full canonical hash, whatever changed."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from toolgym.state_hash import StateHasher, state_hash

leaves = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, width=32),
                   st.sampled_from([0, 0.0, -0.0, 1, 1.0, True, False]), st.text(max_size=4))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                      max_leaves=8)
tables = st.one_of(st.dictionaries(st.text(max_size=4), values, max_size=80), st.lists(values, max_size=80), leaves)
states = st.dictionaries(st.text(max_size=5), tables, max_size=4)


@st.composite
def edited(draw, state):
    """``state`` after a few edits: records changed (also to equal-but-different numbers), added, removed."""
    state = json.loads(json.dumps(state))
    for _ in range(draw(st.integers(0, 4))):
        if not state or draw(st.booleans()) and draw(st.booleans()):
            state[draw(st.text(max_size=5))] = draw(tables)
            continue
        name = draw(st.sampled_from(sorted(state)))
        table = state[name]
        if isinstance(table, dict) and table and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(table)))
            table[key] = draw(values) if draw(st.booleans()) else None
            if draw(st.booleans()):
                del table[key]
        elif isinstance(table, list) and table:
            table[draw(st.integers(0, len(table) - 1))] = draw(values)
            if draw(st.booleans()):
                table.append(draw(values))
        else:
            state[name] = draw(tables)
    return state


@settings(max_examples=50, deadline=None)
@given(data=st.data(), base=states)
def test_the_incremental_hash_is_the_full_hash(data, base):
    hasher = StateHasher(base)
    assert hasher.hexdigest(json.loads(json.dumps(base))) == state_hash(base)
    later = data.draw(edited(base))
    assert hasher.hexdigest(later) == state_hash(later)


def test_numbers_that_python_calls_equal_but_json_writes_apart_hash_apart():
    base = {"t": {f"r{i}": {"n": 1, "f": 0.0} for i in range(100)}}
    hasher = StateHasher(base)
    for value in (1.0, True):
        later = json.loads(json.dumps(base))
        later["t"]["r7"]["n"] = value
        assert later == base and hasher.hexdigest(later) == state_hash(later) != state_hash(base)
    later = json.loads(json.dumps(base))
    later["t"]["r50"]["f"] = -0.0
    assert hasher.hexdigest(later) == state_hash(later) != state_hash(base)
