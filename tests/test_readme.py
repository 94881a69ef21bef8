"""The README's example transcript is what `toolgym show` prints today."""

import re
from pathlib import Path

from toolgym.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_transcript() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```text\n\$ toolgym generate --n 20 --seed 0.*?\n(.*?)```", text, re.DOTALL)
    assert block, "the README lost its example transcript"
    return [line for line in block.group(1).splitlines() if line.startswith(("[user]", "[assistant]", "[tool", "rewards"))]


def test_the_readme_transcript_matches_toolgym_show(tmp_path, capsys):
    suite = tmp_path / "suite.jsonl"
    assert main(["generate", "--n", "20", "--seed", "0", "-o", str(suite)]) == 0
    capsys.readouterr()
    assert main(["show", str(suite), "--index", "1"]) == 0
    shown = capsys.readouterr().out.splitlines()
    expected = readme_transcript()
    assert len(expected) > 10
    assert [line for line in shown if line in expected] == expected
