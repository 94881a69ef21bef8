"""The README's example transcripts are what `toolgym generate ... && toolgym show` prints today."""

import re
import shlex
from pathlib import Path

import pytest

from toolgym.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"```text\n\$ toolgym generate (.*?) -o suite\.jsonl && toolgym show suite\.jsonl --index (\d+)\n"
                    r"(.*?)```", re.DOTALL)


def readme_transcripts() -> list[tuple[list[str], int, list[str]]]:
    """Each transcript block: the generate arguments, the index shown and the lines to match."""
    found = _BLOCK.findall(README.read_text(encoding="utf-8"))
    return [(shlex.split(args), int(index),
             [line for line in body.splitlines() if line.startswith(("[user]", "[assistant]", "[tool", "rewards"))])
            for args, index, body in found]


def test_the_readme_keeps_its_transcripts():
    assert len(readme_transcripts()) >= 3, "the README lost an example transcript"


@pytest.mark.parametrize("args, index, expected", readme_transcripts(), ids=lambda v: str(v)[:40])
def test_a_readme_transcript_matches_toolgym_show(tmp_path, capsys, args, index, expected):
    suite = tmp_path / "suite.jsonl"
    assert main(["generate", *args, "-o", str(suite)]) == 0
    capsys.readouterr()
    assert main(["show", str(suite), "--index", str(index)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert len(expected) > 5
    assert [line for line in shown if line in expected] == expected
