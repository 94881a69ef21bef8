"""Generated stateful scenarios as FTRL's stateful rows and tau-bench-style domain folders.

:func:`export_stateful_suite` writes ``suite.jsonl`` (rows: ``instruction``, ``actions``,
``outputs``, ``data_source`` and ``questions``, the questions the reference agent asks first)
and one folder per world under ``worlds/`` (``tools.json``, ``codes.json``, ``wiki.md`` and one
data file per table), so ``toolgym eval --suite DIR/suite.jsonl`` and FTRL-format readers replay
them: the rows reload with :func:`toolgym.suites.load_suite`, and the gold actions replayed on the
folder's data reach the hash the builder computed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from toolgym.error import InvalidScenario
from toolgym.scenario import Scenario, SourceImpl

__all__ = ["export_stateful_suite", "world_files"]


def world_files(scenario: Scenario) -> dict[str, str]:
    """The files of a generated scenario's domain folder: file name -> text.

    Raises:
        InvalidScenario: the scenario is not a generated stateful one (no inline data).
    """
    task = scenario.task
    if task is None or task.data is None:
        raise InvalidScenario(f"Scenario {scenario.id!r} has no inline stateful data; export generated "
                              "stateful scenarios (toolgym.generate.stateful).")
    codes = {t.name: t.impl.code for t in scenario.tools if isinstance(t.impl, SourceImpl)}
    files = {
        "tools.json": json.dumps(scenario.tool_docs, indent=1),
        "codes.json": json.dumps(codes, indent=1),
        "wiki.md": str(scenario.messages[0]["content"]),
    }
    for table, content in task.data.items():
        files[f"{table}.json"] = json.dumps(content, indent=1)
    return files


def _row(scenario: Scenario, source: str) -> dict[str, Any]:
    assert scenario.task is not None
    actions = [{"id": str(i), "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}
               for i, call in enumerate(scenario.task.actions)]
    return {"instruction": scenario.question, "actions": actions, "outputs": list(scenario.task.outputs),
            "data_source": source, "questions": list(scenario.meta.get("questions") or [])}


def export_stateful_suite(scenarios: Iterable[Scenario], directory: str | Path) -> Path:
    """Writes generated stateful scenarios as ``DIR/suite.jsonl`` and ``DIR/worlds/<id>/`` folders.

    Scenarios that share a world (same tools, policy and data) share its folder, named by the
    sha256 of its files.

    Args:
        scenarios: Generated stateful scenarios.
        directory: Where to write (created if missing).

    Returns:
        The path of ``suite.jsonl``.

    Raises:
        InvalidScenario: a scenario is not a generated stateful one.
    """
    root = Path(directory)
    rows = []
    for scenario in scenarios:
        files = world_files(scenario)
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode("utf-8")).hexdigest()[:16]
        folder = root / "worlds" / f"{scenario.meta.get('domain', 'world')}-{digest}"
        if not folder.is_dir():
            folder.mkdir(parents=True)
            for name, text in files.items():
                (folder / name).write_text(text, encoding="utf-8")
        rows.append(_row(scenario, folder.relative_to(root).as_posix()))
    path = root / "suite.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path
