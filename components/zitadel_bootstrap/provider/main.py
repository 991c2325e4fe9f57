"""``pulumi-resource-zitadel-bootstrap``: the package's provider plugin, as the engine starts it."""

from __future__ import annotations

import sys


def main() -> None:
    from zitadel_bootstrap.provider.server import serve  # noqa: PLC0415 - the import is the slow part: after argv

    # The language host passes the plugin's folder first when it runs PulumiPlugin.yaml; the engine address
    # follows. Run as a binary, the engine address comes first.
    args = sys.argv[1:]
    if args and not args[0].startswith("-") and ":" not in args[0]:
        args = args[1:]
    serve(args)


if __name__ == "__main__":
    main()
