"""`zitadel-bootstrap verify` (cli/verify.py) says what it waits for, at least every 5 s, on stderr only.

Time is the fake clock of ``zitadel_bootstrap.clock`` (it only moves when the verifier sleeps); the network is the
local fake ZITADEL. Each write to stderr is stamped with the fake time it happened at.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from zitadel_bootstrap import clock
from zitadel_bootstrap.cli import verify as verify_cli
from zitadel_bootstrap.cli.verify import main

from .fake_zitadel import FakeZitadel, Reply
from .helpers import ORG_ID, USER_ID, FakeTime, pem_body

#: The promise of the CLI: a line at least this often while it waits.
PROGRESS_EVERY = 5.0


class StampedStream(io.StringIO):
    """A text stream that remembers the fake time of every line written to it."""

    def __init__(self, fake_time: FakeTime) -> None:
        super().__init__()
        self.fake_time = fake_time
        self.lines: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.lines.append((self.fake_time.now, line))
        return super().write(text)


@pytest.fixture
def key_path(key_json: str, tmp_path: Path) -> Path:
    path = tmp_path / "key.json"
    path.write_text(key_json)
    return path


@pytest.fixture
def fake_clock(fake_time: FakeTime) -> Iterator[FakeTime]:
    with clock.use(clock.Clock(now=time.time, monotonic=fake_time.monotonic, sleep=fake_time.sleep)):
        yield fake_time


def run(argv: list[str], fake_time: FakeTime) -> tuple[int, str, StampedStream]:
    stdout, stderr = io.StringIO(), StampedStream(fake_time)
    code = main(argv, stdin=io.StringIO(""), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr


def progress_times(stderr: StampedStream) -> list[float]:
    return [at for at, line in stderr.lines if line.startswith("verify: still waiting")]


def assert_lines_at_most_5_s_apart(times: list[float], start: float, end: float) -> None:
    marks = [start, *times, end]
    gaps = [later - earlier for earlier, later in itertools.pairwise(marks)]
    assert max(gaps) <= PROGRESS_EVERY + 1e-6, gaps


def test_a_30_s_wait_for_a_missing_membership_prints_progress_at_least_every_5_s(
    fake: FakeZitadel, fake_clock: FakeTime, key_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    fake.memberships.clear()  # the grant has not shown up (yet): read lag, waited for until the deadline
    start = fake_clock.now
    code, out, stderr = run(
        ["--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--org-id", ORG_ID, "--timeout", "30"],
        fake_clock,
    )
    end = fake_clock.now
    assert code == 1
    assert out == ""
    assert 25.0 <= end - start <= 30.0 + 1e-6  # it did wait: a missing membership is not cut short
    times = progress_times(stderr)
    assert len(times) >= 5, stderr.getvalue()
    assert_lines_at_most_5_s_apart(times, start, end)
    waiting = [line for _, line in stderr.lines if line.startswith("verify: still waiting")]
    assert all("of 30 s" in line for line in waiting), waiting
    assert all(f"no membership on org {ORG_ID}" in line for line in waiting), waiting
    text = stderr.getvalue()
    assert "not verified (grant_missing)" in text
    assert pem_body(rsa_key) not in text
    assert not any(token in text for token in fake.tokens)


def test_progress_names_the_roles_found_while_they_lack_the_required_one(
    fake: FakeZitadel, fake_clock: FakeTime, key_path: Path
) -> None:
    fake.memberships.clear()
    fake.add_membership(["ORG_USER_MANAGER"], orgId=ORG_ID)
    code, _, stderr = run(
        [
            *("--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--org-id", ORG_ID),
            *("--timeout", "60", "--settle-seconds", "20"),
        ],
        fake_clock,
    )
    assert code == 1
    waiting = [line for _, line in stderr.lines if line.startswith("verify: still waiting")]
    assert waiting, stderr.getvalue()
    assert all("ORG_USER_MANAGER" in line and "ORG_OWNER" in line for line in waiting), waiting


def test_with_json_progress_goes_to_stderr_and_stdout_stays_one_json_document(
    fake: FakeZitadel, fake_clock: FakeTime, key_path: Path
) -> None:
    fake.memberships.clear()
    start = fake_clock.now
    code, out, stderr = run(
        [
            *("--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--org-id", ORG_ID),
            *("--timeout", "20", "--json"),
        ],
        fake_clock,
    )
    assert code == 1
    report = json.loads(out)
    assert report["verified"] is False
    assert report["failure_kind"] == "grant_missing"
    assert "still waiting" not in out
    assert len(progress_times(stderr)) >= 3, stderr.getvalue()
    assert_lines_at_most_5_s_apart(progress_times(stderr), start, fake_clock.now)


def test_a_quick_verification_prints_no_progress(fake: FakeZitadel, fake_clock: FakeTime, key_path: Path) -> None:
    code, out, stderr = run(
        ["--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--org-id", ORG_ID], fake_clock
    )
    assert code == 0, stderr.getvalue()
    assert f"verified: user {USER_ID}" in out
    assert stderr.getvalue() == ""


def test_progress_lines_show_elapsed_and_deadline_in_whole_seconds(
    fake: FakeZitadel, fake_clock: FakeTime, key_path: Path
) -> None:
    fake.memberships.clear()
    start = fake_clock.now
    _, _, stderr = run(
        ["--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--org-id", ORG_ID, "--timeout", "12"],
        fake_clock,
    )
    pattern = re.compile(r"^verify: still waiting \((\d+) s of 12 s\)")
    waiting = [(at, pattern.match(line)) for at, line in stderr.lines if line.startswith("verify: still waiting")]
    assert waiting, stderr.getvalue()
    for at, match in waiting:
        assert match is not None
        assert abs(int(match.group(1)) - (at - start)) <= 1.0


def test_progress_about_a_refused_key_carries_no_assertion_token_or_key(
    fake: FakeZitadel, fake_clock: FakeTime, key_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    fake.keys.clear()  # the key is not known (yet): refused, and retried as lag until the deadline
    fake.echo_secrets = True  # a careless server that quotes the assertion in its refusal
    _, _, stderr = run(
        ["--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--org-id", ORG_ID, "--timeout", "12"],
        fake_clock,
    )
    waiting = [line for _, line in stderr.lines if line.startswith("verify: still waiting")]
    assert waiting, stderr.getvalue()
    assert all("key_rejected" in line for line in waiting), waiting
    text = stderr.getvalue()
    assert fake.issued_assertions
    for secret in [pem_body(rsa_key), *fake.issued_assertions, *(a.rsplit(".", 1)[-1] for a in fake.issued_assertions)]:
        assert secret not in text


def test_a_request_in_flight_gets_progress_lines_too(
    fake: FakeZitadel, key_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real time, scaled down: lines due every 0.2 s, a membership answer that takes 1 s.
    monkeypatch.setattr(verify_cli, "PROGRESS_EVERY_SECONDS", 0.2)
    monkeypatch.setattr(verify_cli, "HEARTBEAT_SECONDS", 0.02)
    body = {"details": {"totalResult": "1"}, "result": fake.memberships}
    fake.script("memberships", Reply(200, body, delay=1.0))
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(
        ["--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--org-id", ORG_ID],
        stdout=stdout,
        stderr=stderr,
    )
    assert code == 0, stderr.getvalue()
    lines = stderr.getvalue().splitlines()
    assert len(lines) >= 3, lines
    assert all(line.endswith(": a request is still in flight") for line in lines), lines
