"""OS-level isolation for the sandbox: runs its zygotes inside bubblewrap (``bwrap``).

:class:`~toolgym.tools.sandbox.SandboxRuntime` calls :func:`choose_isolation` once per runtime and,
for ``"os"``, starts each of its zygotes with :func:`wrap`, each in a sandbox of its own. A zygote
runs in new user (where the machine allows it), PID, network, IPC, UTS and cgroup namespaces: no
network but its own loopback, no capabilities, a cleared environment, a private ``/tmp`` (a small
tmpfs) and a read-only view of just the Python installation, the system's ``/usr`` and libraries,
and the worker script. Home directories, the project and its data are not there. Episode workers
are forked inside, so they inherit all of it at no extra cost per episode.
"""

from __future__ import annotations

import functools
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import warnings

from toolgym.error import InvalidKnob, SandboxError, did_you_mean

__all__ = ["ISOLATIONS", "choose_isolation", "bwrap_problem", "wrap"]

ISOLATIONS = ("auto", "os", "process")
WORKER_PATH = "/toolgym/_sandbox_worker.py"
"""Where the worker script appears inside the sandbox (the only file of the project there)."""
TMP_BYTES = 64 << 20
_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
_SEAL = ["--remount-ro", "/dev", "--remount-ro", "/"]  # after the mounts: only /tmp is writable
_INSTALL = "install the package 'bubblewrap' (Debian/Ubuntu: apt-get install bubblewrap)"
_NOT_ISOLATED = (
    "untrusted tool code can use the network, read and write the user's files and read the "
    "environment variables of this process"
)
_fallback_warned = False


def choose_isolation(requested: str) -> str:
    """The isolation that will run, ``"os"`` or ``"process"``, for a requested one.

    Raises:
        InvalidKnob: ``requested`` is not one of :data:`ISOLATIONS`.
        SandboxError: ``requested`` is ``"os"`` and bubblewrap cannot run here.
    """
    if requested not in ISOLATIONS:
        raise InvalidKnob(
            f"isolation must be one of {list(ISOLATIONS)}, got {requested!r}."
            f"{did_you_mean(requested, ISOLATIONS)}"
        )
    if requested == "process":
        return "process"
    problem = bwrap_problem()
    if problem is None:
        return "os"
    if requested == "os":
        raise SandboxError(
            f"isolation='os' needs bubblewrap, but {problem}. To fix: {_INSTALL} on a machine "
            "that allows namespaces, or pass isolation='process' (no OS isolation)."
        )
    _warn_fallback(problem)
    return "process"


def _warn_fallback(problem: str) -> None:
    global _fallback_warned
    if not _fallback_warned:
        _fallback_warned = True
        warnings.warn(
            f"The tool sandbox runs with isolation='process' because {problem}: {_NOT_ISOLATED}. "
            f"For OS-level isolation {_INSTALL}; pass isolation='process' to silence this.",
            RuntimeWarning,
            stacklevel=4,
        )


def bwrap_problem() -> str | None:
    """None when bubblewrap can isolate the sandbox here, else why it cannot (for messages)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "'bwrap' is not installed (not found on PATH)"
    return _probe(bwrap)[1]


def wrap(command: list[str], worker_script: str) -> list[str]:
    """The ``bwrap`` command line that runs ``command`` isolated, the worker at WORKER_PATH.

    Only call it after :func:`bwrap_problem` returned None.
    """
    prefix, _ = _probe(shutil.which("bwrap") or "bwrap")
    if prefix is None:
        raise SandboxError("bubblewrap stopped working; pass isolation='process'.")
    return [*prefix, "--ro-bind", worker_script, WORKER_PATH, *_SEAL, "--", *command]


@functools.cache
def _probe(bwrap: str) -> tuple[list[str] | None, str | None]:
    """The bwrap arguments that work here (with or without a user namespace), else an error."""
    try:
        help_text = subprocess.run([bwrap, "--help"], capture_output=True, text=True).stdout
    except OSError as error:
        return None, f"'{bwrap}' cannot run ({error})"
    variants = [["--unshare-all"]]
    if "--disable-userns" in help_text:  # bubblewrap >= 0.8: no user namespaces inside
        variants.insert(0, ["--unshare-all", "--unshare-user", "--disable-userns"])
    tmp_size = ["--size", str(TMP_BYTES)] if "--size" in help_text else []
    problem = None
    for namespaces in variants:
        prefix = [bwrap, *namespaces, *_session_arguments(), *_mount_arguments(tmp_size)]
        problem = _try(prefix)
        if problem is None:
            return prefix, None
    return None, problem


def _try(prefix: list[str]) -> str | None:
    """Runs Python in the sandbox once; None when it worked, else bwrap's complaint."""
    try:
        result = subprocess.run(
            [*prefix, *_SEAL, "--", sys.executable, "-I", "-c", "import json"],
            capture_output=True,
            text=True,
            timeout=30,
            env={},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"'bwrap' failed to start ({error})"
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
    return f"'bwrap' cannot create the sandbox here ({lines[-1]})"


def _session_arguments() -> list[str]:
    return [
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "LANG",
        "C.UTF-8",
    ]


def _mount_arguments(tmp_size: list[str]) -> list[str]:
    """Read-only system and Python paths, a minimal read-only /dev and a private /tmp."""
    arguments: list[str] = []
    for path in _SYSTEM_PATHS:
        if os.path.islink(path):  # merged /usr: /lib -> usr/lib
            arguments += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            arguments += ["--ro-bind", path, path]
    for path in _SYSTEM_FILES:
        arguments += ["--ro-bind-try", path, path]
    for path in _python_paths():
        arguments += ["--ro-bind", os.path.realpath(path), path]
    return [*arguments, "--dev", "/dev", *tmp_size, "--tmpfs", "/tmp", "--chdir", "/tmp"]


def _python_paths() -> list[str]:
    """The Python installation the worker runs: prefixes, stdlib, site-packages (not user site)."""
    candidates = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")),
        *site.getsitepackages(),
    }
    paths: list[str] = []
    for path in sorted(os.path.normpath(p) for p in candidates if p):
        if path != "/" and os.path.isdir(path) and not _under(path, [*_SYSTEM_PATHS, *paths]):
            paths.append(path)
    return paths


def _under(path: str, parents: list[str]) -> bool:
    return any(path == parent or path.startswith(parent + "/") for parent in parents)
