"""``python -m components.verification``: see cli.py."""

from .cli import main

raise SystemExit(main())
