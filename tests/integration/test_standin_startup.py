"""The stand-in says why it did not start: a startup error goes to its stderr (``zitadel-standin: ...``) with exit
status 1, and ``StandIn.start`` puts that log into its error, instead of exiting 1 without a word."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.standin import StandIn, StandInError, build_standin


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port of 127.0.0.1 that another socket holds (listening) for the test's length."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def test_the_standin_names_a_taken_port_on_stderr_and_exits_1(taken_port: int, tmp_path: Path) -> None:
    argv = [str(build_standin()), "--listen", f"127.0.0.1:{taken_port}", "--ready-file", str(tmp_path / "ready")]
    done = subprocess.run(
        [*argv, "--admin-key-file", str(tmp_path / "admin.json")],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 1
    assert f"zitadel-standin: listen tcp 127.0.0.1:{taken_port}: bind: address already in use" in done.stderr
    assert "ready issuer=" not in done.stdout


def test_start_reports_the_standin_s_own_words_when_it_does_not_start(taken_port: int) -> None:
    with pytest.raises(StandInError) as refused:
        StandIn(listen=f"127.0.0.1:{taken_port}").start()
    message = str(refused.value)
    assert "the stand-in exited with 1 before it was ready" in message
    assert f"127.0.0.1:{taken_port}" in message
    assert "address already in use" in message
