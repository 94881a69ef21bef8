"""What the sandbox tests share: whether OS isolation runs here, and the isolations to test."""

import os

import pytest

from toolgym.tools._bubblewrap import bwrap_problem

BWRAP_PROBLEM = bwrap_problem() if os.name == "posix" else "not POSIX"
ISOLATIONS = [
    "process",
    pytest.param(
        "os",
        marks=pytest.mark.skipif(
            BWRAP_PROBLEM is not None, reason=f"OS isolation is unavailable: {BWRAP_PROBLEM}"
        ),
    ),
]

POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="the sandbox needs POSIX")
