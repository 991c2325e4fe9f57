"""`python -m tools.pipeline ...` says what the command is now, then runs `zitadel-bootstrap run ...` (or
`zitadel-bootstrap adopt-user ...`): an alias of 0.2's wrapper, kept for one release."""

import sys

from tools.aliases import forward

if __name__ == "__main__":
    words = sys.argv[1:]
    sys.exit(forward("tools.pipeline", [] if words[:1] == ["adopt-user"] else ["run"], words))
