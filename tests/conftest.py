"""Shared fixtures: the paper's test set (when shared/ is beside the repo) and the shop domain."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHOP_SUITE = REPO / "tests" / "fixtures" / "shop" / "shop.jsonl"
"""A stateful suite: tasks whose tools change a small shop database (tests/fixtures/shop)."""


def find_shared(relative: str) -> Path | None:
    """A file of ``shared/data/`` beside the repository (or inside it), or None."""
    candidates = (REPO.parent / "shared" / "data" / relative, REPO / "shared" / "data" / relative)
    return next((path.resolve() for path in candidates if path.is_file()), None)


def find_ftrl_test_file() -> Path | None:
    """FTRL's 200 test environments: ``shared/data/ftrl_test.jsonl`` beside the repository."""
    return find_shared("ftrl_test.jsonl")


@pytest.fixture(scope="session")
def rotbench_file() -> Path:
    """RoTBench's clean first-turn file (105 items)."""
    path = find_shared("rotbench/First_Turn/clean.json")
    if path is None:
        pytest.skip("RoTBench's clean.json is absent: expected shared/data/rotbench/First_Turn/clean.json.")
    return path


@pytest.fixture(scope="session")
def ftrl_test_file() -> Path:
    path = find_ftrl_test_file()
    if path is None:
        pytest.skip(
            "FTRL's test set is absent: expected shared/data/ftrl_test.jsonl beside the repository "
            "(../shared/data/ftrl_test.jsonl)."
        )
    return path


@pytest.fixture(scope="session")
def ftrl_rows(ftrl_test_file: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in ftrl_test_file.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def shop_suite() -> Path:
    return SHOP_SUITE
