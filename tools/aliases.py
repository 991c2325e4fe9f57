"""The 0.2 module commands, forwarded to the package's `zitadel-bootstrap` command for one release."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from zitadel_bootstrap.cli.main import main


def forward(old: str, words: Sequence[str], argv: Sequence[str]) -> int:
    new = " ".join(["zitadel-bootstrap", *words])
    print(f"python -m {old} is now `{new}` (installed with the package); this alias goes in 0.4", file=sys.stderr)
    return main([*words, *argv])
