"""`zitadel-bootstrap key-file ACCOUNT --output PATH`: one account's machine key file, out of the stack, mode 0600.

The key comes from the stack output ``machineKeys`` (a secret), read with `pulumi stack output --show-secrets`
into memory and written to a file that is created readable by its owner only (never a world-readable moment in
between: a new file is opened 0600; ``--force`` replaces an existing one through a 0600 file beside it). The key
is never printed; the messages name the account and the path.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from zitadel_bootstrap.cli.engine import pulumi_binary

EXIT_WRITTEN = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
OUTPUT = "machineKeys"
DESCRIPTION = "Write one account's machine key file out of the stack, readable by its owner only (0600)."
EPILOG = "exit codes: 0 written, 1 the stack could not be read, 2 bad usage (unknown account, file exists)"


class KeyFileError(Exception):
    def __init__(self, message: str, status: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.status = status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account", help="the service account's name (a key of the stack output machineKeys)")
    parser.add_argument("--output", "-o", required=True, type=Path, help="the key file to write (mode 0600)")
    parser.add_argument("--stack", help="the stack (default: the selected one)")
    parser.add_argument("--force", action="store_true", help="replace the file if it exists")


def stack_keys(stack: str | None) -> dict[str, str]:
    """The secret stack output ``machineKeys``, decrypted into memory."""
    argv = [pulumi_binary(), "stack", "output", OUTPUT, "--show-secrets", "--json"]
    if stack:
        argv += ["--stack", stack]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        # stderr of a failed `stack output` holds no key material: the key only appears on stdout.
        raise KeyFileError(f"`pulumi stack output {OUTPUT}` failed: {done.stderr.strip() or done.returncode}")
    try:
        keys = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise KeyFileError(f"the stack output {OUTPUT} is not JSON; is this a zitadel-bootstrap stack?") from None
    if not isinstance(keys, dict):
        raise KeyFileError(f"the stack has no output {OUTPUT} of key files (found {type(keys).__name__})")
    return {str(name): value for name, value in keys.items() if isinstance(value, str)}


def write_private(path: Path, text: str, *, force: bool) -> None:
    """``text`` into ``path``, created 0600; an existing file only with ``force`` (replaced atomically)."""
    if not force:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyFileError(f"{path} exists: pass --force to replace it", EXIT_USAGE) from None
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        return
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))  # 0600
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def execute(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        if not args.output.parent.is_dir():
            raise KeyFileError(f"{args.output.parent} is not a folder", EXIT_USAGE)
        keys = stack_keys(args.stack)
        if args.account not in keys:
            known = ", ".join(sorted(keys)) or "none"
            raise KeyFileError(f"the stack has no key for {args.account!r}; its accounts: {known}", EXIT_USAGE)
        write_private(args.output, keys[args.account], force=args.force)
    except (KeyFileError, RuntimeError) as error:
        print(f"key-file: {error}", file=err)
        return error.status if isinstance(error, KeyFileError) else EXIT_ERROR
    print(f"key-file: wrote the key of {args.account} to {args.output} (mode 0600)", file=out)
    return EXIT_WRITTEN
