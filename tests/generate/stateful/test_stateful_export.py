"""Export to FTRL's stateful rows and domain folders, reload, replay: the same hashes."""

from __future__ import annotations

import json

from toolgym.cli import main
from toolgym.generate.stateful import StatefulConfig, generate_stateful_suite
from toolgym.generate.stateful.export import export_stateful_suite
from toolgym.stateful import gold_hash, replay, state_hash
from toolgym.suites import load_suite


def test_export_reload_and_replay_give_the_builders_hashes(tmp_path):
    suite = generate_stateful_suite(8, seed=2, config=StatefulConfig(records=30))
    path = export_stateful_suite(suite, tmp_path)
    loaded = load_suite(path)
    assert [s.question for s in loaded] == [s.question for s in suite]
    for built, back in zip(suite, loaded, strict=True):
        assert gold_hash(back.task) == built.task.target_hash
        codes = {t.name: t.impl.code for t in built.tools}
        assert state_hash(replay(built.task, built.task.actions, codes=codes)) == built.task.target_hash
        folder = path.parent / json.loads(path.read_text().splitlines()[0])["data_source"]
        assert {"tools.json", "codes.json", "wiki.md", "users.json"} <= {p.name for p in folder.iterdir()}


def test_toolgym_eval_replays_an_exported_suite_with_the_oracle(tmp_path, capsys):
    suite = generate_stateful_suite(4, seed=4, config=StatefulConfig(records=30, distractors=0))
    path = export_stateful_suite(suite, tmp_path / "export")
    capsys.readouterr()
    assert main(["eval", "--suite", str(path), "--agent", "oracle", "--json", "--no-progress"]) == 0
    overall = json.loads(capsys.readouterr().out)["overall"]
    assert overall["pass_rate"] == 1.0 and overall["episodes"] == 4, overall
