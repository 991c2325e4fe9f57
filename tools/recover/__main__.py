"""``python -m tools.recover --stack <name> [--dry-run]``: see tools/recover/cli.py and the README."""

import sys

from tools.recover.cli import main

sys.exit(main())
