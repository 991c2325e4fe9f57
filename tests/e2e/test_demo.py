"""`make demo`, as a newcomer runs it: the main job end to end against the stand-in, over https."""

from __future__ import annotations

import re
import subprocess

from tools.pulumi_cli import REPO


def test_tls_make_demo_runs_end_to_end_over_https() -> None:
    done = subprocess.run(["make", "demo"], cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert re.search(r"==> issuer https://127\.0\.0\.1:\d+ \(TLS", output), output[-4000:]
    assert "no drift: every service account logs in with its key and holds its grants" in output
    assert "-----BEGIN" not in output, "a private key was printed"
