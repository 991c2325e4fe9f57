"""Run one of the project's build scripts (they print the built binary's path on stdout) and return that path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class BuildError(RuntimeError):
    """A build script is missing, failed or printed no usable binary; the message says which and why."""


def run_build_script(script: Path, what: str, *, timeout: float) -> Path:
    """Build (or reuse) ``what`` with ``script`` and return the binary's path."""
    if not script.is_file():
        raise BuildError(f"{script} is missing: {what} cannot be built")
    try:
        done = subprocess.run([str(script)], cwd=REPO, capture_output=True, text=True, check=False, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"building {what} with {script} failed: {exc}") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise BuildError(
            f"building {what} with {script} failed (exit {done.returncode}); "
            f"it needs Go 1.26+ and the Go module proxy:\n{done.stderr.strip()}"
        )
    binary = Path(lines[-1])
    if not os.access(binary, os.X_OK):
        raise BuildError(f"{script} reported {binary}, which is not an executable")
    return binary
