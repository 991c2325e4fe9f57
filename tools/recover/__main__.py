"""`python -m tools.recover ...` says what the command is now, then runs `zitadel-bootstrap recover ...`."""

import sys

from tools.aliases import forward

sys.exit(forward("tools.recover", ["recover"], sys.argv[1:]))
