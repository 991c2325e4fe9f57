"""`zitadel-bootstrap verify`: prove a machine key from a pipeline or a terminal.

Exit codes: 0 verified, 1 not verified (reason on stderr, or in the JSON), 2 bad usage or bad input.
Never prints key or token material: only ids, roles and the verifier's classified reasons.

While it waits (ZITADEL's read model lags, so a grant not seen yet is retried until --timeout) it says on stderr
what it waits for, at least every 5 s. The same wrong roles, unchanged for --settle-seconds, are a mistake in the
grants, not lag: it fails then, naming the roles found.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, TextIO

from zitadel_bootstrap import clock
from zitadel_bootstrap.verification.errors import KIND_BAD_INPUT, InvalidInputError
from zitadel_bootstrap.verification.keyfile import parse_key_file
from zitadel_bootstrap.verification.model import (
    ZITADEL_AUDIENCE,
    Grant,
    RetryPolicy,
    VerificationRequest,
    VerificationResult,
    Waiting,
)
from zitadel_bootstrap.verification.proof import try_verify
from zitadel_bootstrap.verification.redaction import looks_like_key_material

#: The logger of the pure verifier (zitadel_bootstrap.verification), whose records --verbose shows.
VERIFIER_LOGGER = "zitadel_bootstrap.verification"
EXIT_VERIFIED = 0
EXIT_NOT_VERIFIED = 1
EXIT_USAGE = 2

DEFAULT_ROLE_BY_LEVEL = {"instance": "IAM_OWNER", "org": "ORG_OWNER", "project": "PROJECT_OWNER"}
#: How long the same wrong roles may come back before they count as a mistake rather than read lag.
DEFAULT_SETTLE_SECONDS = 10.0
#: A progress line is promised at least every 5 s; lines are due after 4 s, checked every HEARTBEAT_SECONDS.
PROGRESS_EVERY_SECONDS = 4.0
HEARTBEAT_SECONDS = 0.5


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print and exit by itself; keep the exit code ours
        raise _UsageError(message)


DESCRIPTION = "Prove that a ZITADEL machine key logs in (JWT-bearer, RFC 7523) and holds its grants."
EPILOG = (
    "exit codes: 0 verified, 1 not verified (reason on stderr, or in the JSON), 2 bad usage or bad input. "
    "The key is read from a file or stdin (--key-file -), never from arguments; no key or token is printed."
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zitadel-bootstrap verify", description=DESCRIPTION, epilog=EPILOG)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--issuer", required=True, help="instance origin, e.g. https://my-instance.zitadel.cloud")
    parser.add_argument("--key-file", required=True, help="machine key JSON file, or - for stdin")
    parser.add_argument("--org-id", help="org context (x-zitadel-orgid); default grant: ORG_OWNER on this org")
    parser.add_argument(
        "--role", action="append", default=[], help="required role (repeatable); default depends on --level"
    )
    parser.add_argument("--level", choices=("instance", "org", "project"), help="where the roles must be held")
    parser.add_argument("--project-id", help="project whose membership is required (with --level project)")
    parser.add_argument(
        "--audience", default=ZITADEL_AUDIENCE, help="'zitadel' (default) or a project id for the token audience"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="deadline in seconds (default 60)")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=DEFAULT_SETTLE_SECONDS,
        help=(
            "fail once the same wrong roles have come back unchanged this long: not read lag but a grant to fix "
            f"(default {DEFAULT_SETTLE_SECONDS:g}); a membership not found at all is waited for until --timeout"
        ),
    )
    parser.add_argument("--insecure", action="store_true", help="allow a plain-http issuer (local instances only)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each attempt on stderr")


def _grants(args: argparse.Namespace) -> tuple[Grant, ...]:
    level = args.level or ("org" if args.org_id else None)
    if level is None:
        if args.role or args.project_id:
            raise _UsageError("--role/--project-id need --org-id or --level instance|project")
        return ()  # identity only: users/me proves the key, the user and the ZITADEL audience
    roles = tuple(args.role) or (DEFAULT_ROLE_BY_LEVEL[level],)
    if level == "org":
        if not args.org_id:
            raise _UsageError("--level org needs --org-id")
        return (Grant(level="org", resource_id=args.org_id, roles=roles),)
    if level == "project":
        if not args.project_id:
            raise _UsageError("--level project needs --project-id")
        return (Grant(level="project", resource_id=args.project_id, roles=roles),)
    return (Grant(level="instance", resource_id="", roles=roles),)


def _read_key(path: str, stdin: TextIO) -> str:
    if path == "-":
        return stdin.read()
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return handle.read()
    except OSError as exc:
        if looks_like_key_material(path):  # a key pasted where its path belongs: never quote it
            raise InvalidInputError(
                "the value of --key-file looks like key content, not a path: pass the path of the key file "
                "(or --key-file - and the key on stdin).",
                field="key_file",
            ) from None
        raise InvalidInputError(
            f"Cannot read the key file {path!r}: {exc.strerror or type(exc).__name__}.", field="key_file"
        ) from None


def _request(args: argparse.Namespace, stdin: TextIO) -> VerificationRequest:
    key = parse_key_file(_read_key(args.key_file, stdin))
    policy = RetryPolicy(
        deadline_seconds=args.timeout, settle_seconds=args.timeout, steady_refusal_seconds=args.settle_seconds
    )
    return VerificationRequest(
        issuer=args.issuer,
        key=key,
        grants=_grants(args),
        audience=args.audience,
        org_id=args.org_id,
        insecure=args.insecure,
        policy=policy,
    )


def _summary(result: VerificationResult) -> str:
    org = f" in org {result.org_id}" if result.org_id else ""
    lines = [f"verified: user {result.user_id} with key {result.key_id}{org}"]
    for name, roles in sorted(result.roles_found.items()):
        lines.append(f"  {name}: {', '.join(roles) or '(no roles)'}")
    expires = f", expires in {result.expires_in} s" if result.expires_in is not None else ""
    lines.append(f"  token: {result.token_type} ({result.token_format}){expires}")
    lines.append(f"  {result.attempts} requests in {result.elapsed_seconds:.2f} s")
    return "\n".join(lines)


class _Progress:
    """Says on stderr what the verification waits for, when a line is due: from the verifier's pauses (its sleep
    goes through ``sleep`` here, in slices) and from a heartbeat thread while a request is in flight."""

    def __init__(
        self, stream: TextIO, deadline: float, monotonic: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self.stream = stream
        self.deadline = deadline
        self.monotonic = monotonic
        self.pause = sleep
        self.started = self.last_line = monotonic()
        self.waiting: Waiting | None = None
        self.lock = threading.Lock()
        self.done = False

    def on_wait(self, waiting: Waiting) -> None:
        with self.lock:
            self.waiting = waiting
        self.tick()

    def sleep(self, seconds: float) -> None:
        end = self.monotonic() + seconds
        while (left := end - self.monotonic()) > 1e-9:
            self.tick()
            due_in = self.last_line + PROGRESS_EVERY_SECONDS - self.monotonic()
            self.pause(min(left, max(due_in, 0.01)))
        self.tick()

    def tick(self) -> None:
        with self.lock:
            now = self.monotonic()
            if self.done or now - self.last_line < PROGRESS_EVERY_SECONDS:
                return
            self.last_line = now
            self.stream.write(self._line(now) + "\n")  # one write: no other stderr line cuts it in two
            self.stream.flush()

    def _line(self, now: float) -> str:
        head = f"verify: still waiting ({now - self.started:.0f} s of {self.deadline:g} s)"
        waiting = self.waiting
        if waiting is None:
            return f"{head}: a request is still in flight"
        line = f"{head}: {waiting.step} answered {waiting.kind}: {waiting.message}"
        if waiting.unchanged_seconds is not None and waiting.steady_refusal_seconds is not None:
            line += (
                f"; unchanged for {waiting.unchanged_seconds:.0f} s of the {waiting.steady_refusal_seconds:g} s "
                "settle time"
            )
        return line

    @contextmanager
    def running(self) -> Iterator[None]:
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_SECONDS):
                self.tick()

        heartbeat = threading.Thread(target=beat, name="verify-progress", daemon=True)
        heartbeat.start()
        try:
            yield
        finally:
            stop.set()
            heartbeat.join()
            with self.lock:
                self.done = True


@contextmanager
def _verifier_logged_to(stderr: TextIO) -> Iterator[None]:
    # Only the verifier's own logger: its records carry ids and classified reasons, never key or token text.
    package_logger = logging.getLogger(VERIFIER_LOGGER)
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    previous_level = package_logger.level
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(previous_level)


def _verify(request: VerificationRequest, stderr: TextIO, *, verbose: bool) -> VerificationResult:
    """Run the proof on the program's clock (``zitadel_bootstrap.clock``), saying what it waits for."""
    time = clock.current()
    progress = _Progress(stderr, request.policy.deadline_seconds, time.monotonic, time.sleep)
    with progress.running(), _verifier_logged_to(stderr) if verbose else nullcontext():
        return try_verify(request, monotonic=time.monotonic, sleep=progress.sleep, on_wait=progress.on_wait)


def _bad_input(message: str, kind: str, as_json: bool, stdout: TextIO, stderr: TextIO) -> int:
    if as_json:
        json.dump({"verified": False, "failure_kind": kind, "failure": message}, stdout, indent=2)
        stdout.write("\n")
    print(f"error: {message}", file=stderr)
    return EXIT_USAGE


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(f"{parser.format_usage().rstrip()}\nerror: {exc}", file=stderr or sys.stderr)
        return EXIT_USAGE
    return execute(args, stdin=stdin, stdout=stdout, stderr=stderr)


def execute(
    args: argparse.Namespace,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        request = _request(args, stdin)
    except _UsageError as exc:
        return _bad_input(str(exc), KIND_BAD_INPUT, args.json, stdout, stderr)
    except InvalidInputError as exc:  # KeyFileError included
        return _bad_input(str(exc), exc.kind, args.json, stdout, stderr)
    result = _verify(request, stderr, verbose=args.verbose)
    if args.json:
        json.dump(result.to_dict(), stdout, indent=2)
        stdout.write("\n")
    elif result.verified:
        print(_summary(result), file=stdout)
    if not result.verified:
        if not args.json:
            print(f"not verified ({result.failure_kind}): {result.failure}", file=stderr)
        return EXIT_NOT_VERIFIED
    return EXIT_VERIFIED


__all__ = ["EXIT_NOT_VERIFIED", "EXIT_USAGE", "EXIT_VERIFIED", "build_parser", "main"]
