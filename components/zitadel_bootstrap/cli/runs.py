"""Running `pulumi` and the recovery step for ``zitadel-bootstrap run``: the output copied to the pipeline's log
as it comes, and kept for the diagnosis."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from zitadel_bootstrap.cli.engine import pulumi_binary


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str


#: Runs ``pulumi <args>``; ``echo``: copy its output to the pipeline's log as it comes (else only keep it).
Runner = Callable[[Sequence[str], bool], Run]


def stream_runner(out: TextIO) -> Runner:
    """Run ``pulumi <args>`` in the working directory, copying its output to ``out`` as it comes, and keep it."""

    def run(args: Sequence[str], echo: bool) -> Run:
        process = subprocess.Popen(
            [pulumi_binary(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        if process.stdout is None:
            raise RuntimeError("pulumi was started without an output pipe")
        kept: list[str] = []

        def copy() -> None:
            for line in process.stdout or ():
                if echo:
                    out.write(line)
                    out.flush()
                kept.append(line)

        try:
            copy()
        except KeyboardInterrupt:
            # pulumi got the same interrupt (one process group) and ends its update cleanly, saving the state and
            # releasing the lock: keep reading until it has, or its next write to a closed pipe would kill it.
            copy()
            process.wait()
            raise
        return Run(process.wait(), "".join(kept))

    return run


def recovery_runner(out: TextIO) -> Callable[[str], Run]:
    """Run the recovery step (``zitadel-bootstrap recover --stack <stack>``) here, its output copied to ``out``."""

    def run(stack: str) -> Run:
        done = subprocess.run(
            [sys.executable, "-m", "zitadel_bootstrap.cli.main", "recover", "--stack", stack],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            check=False,
        )
        out.write(done.stdout)
        out.flush()
        return Run(done.returncode, done.stdout)

    return run
