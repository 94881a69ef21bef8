"""pytest: the doctests of an adapter whose optional stack is not installed are not collected."""

from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, version


def _classic_verifiers() -> bool:
    """verifiers with its classic API (0.1.9 to 0.3.x; 0.4 has only ``verifiers.v1``)."""
    try:
        major, minor = (int(part) for part in version("verifiers").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) < (0, 4)


collect_ignore = [
    module
    for module, installed in (
        ("openenv.py", importlib.util.find_spec("openenv") is not None),
        ("verifiers.py", _classic_verifiers()),
    )
    if not installed
]
