"""The ``pulumi`` CLI that the operational commands drive, and the exit codes they share with it."""

from __future__ import annotations

import os
import shutil

#: A failed preview, update or destroy (an invalid config, a resource that failed).
EXIT_FAILED = 1
#: `--expect-no-changes` violated: what recent CLIs exit with (older ones exit 1).
EXIT_DRIFT = 7
ENGINE_HINT = (
    "install Pulumi (https://www.pulumi.com/docs/install/) or set ZB_PULUMI to the pulumi binary; in a checkout of "
    'zitadel-bootstrap, source "$(tools/engine.sh)" first'
)


def pulumi_binary() -> str:
    """``ZB_PULUMI``, else ``pulumi`` on PATH; a clear error that says how to get one."""
    configured = os.environ.get("ZB_PULUMI", "")
    candidate = configured or shutil.which("pulumi") or ""
    if not candidate or not os.access(candidate, os.X_OK):
        where = f"ZB_PULUMI={configured} is not executable" if configured else "no pulumi CLI on PATH"
        raise RuntimeError(f"{where}: {ENGINE_HINT}.")
    return candidate
