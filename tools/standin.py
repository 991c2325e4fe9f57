"""Drive the local ZITADEL stand-in (standin/, a Go program) from Python: the tests, the demo and the benchmark.

`StandIn` builds the binary with standin/build.sh (reusing an up-to-date build), starts it on a free
loopback port in a temporary directory, waits for its ready file and wraps every control endpoint of
standin/README.md in a typed method. `kill()` and `restart()` end the process with SIGKILL (and start it again
on the same port, in the same directory, with the same flags: with a state file, the same instance).
``tls=True``: https with a test CA of the work directory (``ca_path``), kept across `restart()`, so clients that
loaded it keep trusting the stand-in. The stand-in is for tests and demos; it is not ZITADEL.

A binary that cannot be built or started raises StandInError: tests that need the stand-in fail, never skip.
"""

from __future__ import annotations

import json
import selectors
import shutil
import ssl
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self

import httpx

from tools.build_script import BuildError, run_build_script
from tools.server_process import ServerProcess

REPO = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO / "standin" / "build.sh"

TokenErrorStyle = Literal["current", "legacy"]
AccessTokenType = Literal["ACCESS_TOKEN_TYPE_BEARER", "ACCESS_TOKEN_TYPE_JWT"]

ACCESS_TOKEN_TYPE_BEARER: AccessTokenType = "ACCESS_TOKEN_TYPE_BEARER"  # noqa: S105 - an enum name
ACCESS_TOKEN_TYPE_JWT: AccessTokenType = "ACCESS_TOKEN_TYPE_JWT"  # noqa: S105 - an enum name


class StandInError(RuntimeError):
    """The stand-in could not be built, started or driven; the message says which and why."""


def build_standin() -> Path:
    """Build (or reuse) the stand-in binary and return its path."""
    try:
        return run_build_script(BUILD_SCRIPT, "the stand-in", timeout=900)
    except BuildError as error:
        raise StandInError(str(error)) from error


def rfc3339(moment: datetime | str) -> str:
    """ZITADEL's date form `YYYY-MM-DDTHH:MM:SSZ` (UTC) for a datetime; strings pass unchanged."""
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        raise ValueError("expiration must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StandIn(ServerProcess):
    """One running stand-in. Use `with StandIn() as s:` or call `start()` and `stop()`."""

    def __init__(
        self,
        *,
        binary: Path | None = None,
        startup_timeout: float = 20.0,
        listen: str = "127.0.0.1:0",
        workdir: Path | None = None,
        extra_args: tuple[str, ...] = (),
        state_file: Path | None = None,
        tls: bool = False,
        tls_names: tuple[str, ...] = (),
    ) -> None:
        """``workdir``: a directory to run in and keep (admin key, ready file, log); default a temporary one
        removed at stop. ``extra_args``: further flags (standin/README.md). ``state_file``: keep the instance
        in this JSON file (``--state-file``; a relative path is taken from the work directory), so that
        ``restart()`` brings the same instance back. ``tls``: serve https with a test CA (``ca_path``, in
        ``<workdir>/tls``); ``tls_names``: ``--tls-names`` (the control API client needs the listen host in it)."""
        self._binary = binary
        self._startup_timeout = startup_timeout
        self._listen = listen
        self._keep_workdir = workdir
        self._extra_args = extra_args
        self._state_file = state_file
        self._tls = tls
        self._tls_names = tls_names
        self._process: subprocess.Popen[str] | None = None
        self._workdir: Path | None = None
        self._resume_listen: str | None = None  # set by kill(): where start() brings the stand-in back
        self._client: httpx.Client | None = None
        self._ready: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"StandIn(issuer={self._ready.get('issuer')!r}, running={self.running})"

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the stand-in; after `kill()`, again on the same port and in the same work directory."""
        if self._process is not None:
            raise StandInError("the stand-in is already running")
        binary = self._binary or build_standin()
        if self._workdir is None:
            if self._keep_workdir is not None:
                self._keep_workdir.mkdir(parents=True, exist_ok=True)
                self._workdir = self._keep_workdir
            else:
                self._workdir = Path(tempfile.mkdtemp(prefix="zitadel-standin-"))
        ready_file = self._workdir / "ready.json"
        ready_file.unlink(missing_ok=True)
        log_path = self._workdir / "standin.log"
        args = [str(binary), "--listen", self._resume_listen or self._listen, "--ready-file", str(ready_file)]
        args += ["--admin-key-file", str(self._workdir / "admin-key.json")]
        if self._state_file is not None:
            args += ["--state-file", str(self._state_file)]
        if self._tls:  # the CA stays in the work directory: after kill() the stand-in comes back with it
            args += ["--tls-dir", str(self._workdir / "tls")]
            if self._tls_names:
                args += ["--tls-names", ",".join(self._tls_names)]
        with log_path.open("ab") as log:
            try:
                self._process = subprocess.Popen(
                    [*args, *self._extra_args],
                    cwd=self._workdir,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                )
            except OSError as exc:
                self._cleanup()
                raise StandInError(f"starting {binary} failed: {exc}") from exc
        try:
            self._wait_until_ready(ready_file, log_path)
        except BaseException:
            self.stop()
            raise
        # With TLS, trust the stand-in's test CA and nothing else (not the system store, not SSL_CERT_FILE).
        ca_path = self.ca_path
        verify = True if ca_path is None else ssl.create_default_context(cafile=str(ca_path))
        self._client = httpx.Client(base_url=self.issuer, timeout=10.0, verify=verify)
        return self

    def _wait_until_ready(self, ready_file: Path, log_path: Path) -> None:
        # The "ready" line on stdout comes after the ready file is written: wait for it instead of polling.
        if self._process is None or self._process.stdout is None:
            raise StandInError("the stand-in process has no stdout to read its ready line from")
        deadline = time.monotonic() + self._startup_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StandInError(
                        f"the stand-in was not ready within {self._startup_timeout:.0f} s; log:\n{_tail(log_path)}"
                    )
                if selector.select(timeout=remaining):
                    line = self._process.stdout.readline()
                    if line.startswith("ready "):
                        break
                    if line == "":
                        code = self._process.wait(timeout=5)
                        raise StandInError(
                            f"the stand-in exited with {code} before it was ready; log:\n{_tail(log_path)}"
                        )
        self._ready = json.loads(ready_file.read_text())

    def stop(self) -> None:
        """Shut the stand-in down (SIGTERM) and remove a temporary work directory."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=5)
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        self._cleanup()

    def kill(self) -> None:
        """End the process with SIGKILL, as a crash would: no shutdown. The work directory (admin key, state
        file, log), the port and the flags stay for `start()`, which brings the stand-in back on that port."""
        if self._process is None:
            raise StandInError("the stand-in is not started")
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None
        if self._ready:
            host = self._listen.rsplit(":", 1)[0]
            self._resume_listen = f"{host}:{self.port}"

    def restart(self) -> Self:
        """`kill()` (SIGKILL) and `start()` again on the same port, in the same work directory, with the same
        flags. With a state file (``state_file``) it serves the same instance: ids, issuer, users, keys (old
        key files still log in), memberships, orgs, projects, grants and the admin key file; tokens, lag,
        faults and the error style start afresh. Without one it is a new instance."""
        self.kill()
        return self.start()

    def _cleanup(self) -> None:
        if self._workdir is not None and self._keep_workdir is None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None
        self._resume_listen = None

    # --- what the ready file says ----------------------------------------------------------------------

    def _info(self, key: str) -> Any:
        if not self._ready:
            raise StandInError("the stand-in is not started")
        return self._ready[key]

    @property
    def issuer(self) -> str:
        return str(self._info("issuer"))

    @property
    def port(self) -> int:
        return int(self._info("port"))

    @property
    def admin_key_path(self) -> Path:
        return Path(self._info("adminKeyPath"))

    @property
    def admin_key_json(self) -> str:
        """The IAM_OWNER instance admin's key file text (secret material: never log it)."""
        return self.admin_key_path.read_text()

    @property
    def default_org_id(self) -> str:
        return str(self._info("defaultOrgId"))

    @property
    def iam_project_id(self) -> str:
        return str(self._info("iamProjectId"))

    @property
    def instance_id(self) -> str:
        return str(self._info("instanceId"))

    @property
    def admin_user_id(self) -> str:
        return str(self._info("adminUserId"))

    @property
    def ca_path(self) -> Path | None:
        """The test CA's certificate (PEM) to trust (``SSL_CERT_FILE``); None without TLS. Kept across restarts."""
        return Path(self._info("caPath")) if self._tls else None

    @property
    def state_file(self) -> Path | None:
        """The state file (``--state-file``) given as ``state_file``, None without one."""
        if self._state_file is None:
            return None
        if self._state_file.is_absolute() or self._workdir is None:
            return self._state_file
        return self._workdir / self._state_file

    @property
    def log_path(self) -> Path | None:
        """The stand-in's stderr log while it runs (refused requests, no key or token material)."""
        return None if self._workdir is None else self._workdir / "standin.log"

    # --- control API -----------------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._client is None:
            raise StandInError("the stand-in is not started")
        response = self._client.request(method, "/_standin" + path, json=body)
        try:
            payload: Any = response.json()
        except ValueError:
            payload = {"error": response.text}
        if response.status_code != 200:
            error = payload.get("error") if isinstance(payload, dict) else payload
            raise StandInError(f"{method} /_standin{path}: {response.status_code} {error}")
        if not isinstance(payload, dict):
            raise StandInError(f"{method} /_standin{path}: unexpected answer {payload!r}")
        return payload

    def state(self) -> dict[str, Any]:
        """The whole state: ids, orgs, users and key ids, memberships, projects, lag, faults, error style."""
        return self._control("GET", "/state")

    def reset(self) -> None:
        """Clear faults and lag and restore the `current` token error style (objects stay)."""
        self._control("POST", "/reset")

    def create_org(self, name: str) -> str:
        return str(self._control("POST", "/orgs", {"name": name})["orgId"])

    def create_machine_user(
        self,
        org_id: str,
        user_name: str,
        access_token_type: AccessTokenType = ACCESS_TOKEN_TYPE_BEARER,
        *,
        name: str | None = None,
        description: str = "",
    ) -> str:
        body = {
            "orgId": org_id,
            "userName": user_name,
            "name": name or user_name,
            "description": description,
            "accessTokenType": access_token_type,
        }
        return str(self._control("POST", "/users", body)["userId"])

    def add_machine_key(self, org_id: str, user_id: str, expiration: datetime | str | None = None) -> str:
        """Add a JSON key to the user and return the key file text (may be already expired, for tests)."""
        body: dict[str, Any] = {"orgId": org_id}
        if expiration is not None:
            body["expirationDate"] = rfc3339(expiration)
        return str(self._control("POST", f"/users/{user_id}/keys", body)["keyDetails"])

    def remove_key(self, user_id: str, key_id: str) -> None:
        self._control("DELETE", f"/users/{user_id}/keys/{key_id}")

    def deactivate_user(self, user_id: str) -> None:
        self._control("POST", f"/users/{user_id}/_deactivate")

    def reactivate_user(self, user_id: str) -> None:
        self._control("POST", f"/users/{user_id}/_reactivate")

    def delete_user(self, user_id: str) -> None:
        self._control("DELETE", f"/users/{user_id}")

    def add_org_member(self, org_id: str, user_id: str, roles: list[str]) -> None:
        self._control("POST", f"/orgs/{org_id}/members", {"userId": user_id, "roles": roles})

    def set_org_member_roles(self, org_id: str, user_id: str, roles: list[str]) -> None:
        self._control("PUT", f"/orgs/{org_id}/members/{user_id}", {"roles": roles})

    def remove_org_member(self, org_id: str, user_id: str) -> None:
        self._control("DELETE", f"/orgs/{org_id}/members/{user_id}")

    def add_instance_member(self, user_id: str, roles: list[str]) -> None:
        self._control("POST", "/instance/members", {"userId": user_id, "roles": roles})

    def set_instance_member_roles(self, user_id: str, roles: list[str]) -> None:
        self._control("PUT", f"/instance/members/{user_id}", {"roles": roles})

    def remove_instance_member(self, user_id: str) -> None:
        self._control("DELETE", f"/instance/members/{user_id}")

    def create_project(self, org_id: str, name: str) -> str:
        return str(self._control("POST", "/projects", {"orgId": org_id, "name": name})["projectId"])

    def add_project_member(self, project_id: str, user_id: str, roles: list[str]) -> None:
        self._control("POST", f"/projects/{project_id}/members", {"userId": user_id, "roles": roles})

    def set_project_member_roles(self, project_id: str, user_id: str, roles: list[str]) -> None:
        self._control("PUT", f"/projects/{project_id}/members/{user_id}", {"roles": roles})

    def remove_project_member(self, project_id: str, user_id: str) -> None:
        self._control("DELETE", f"/projects/{project_id}/members/{user_id}")

    def create_project_grant(self, project_id: str, granted_org_id: str) -> str:
        return str(self._control("POST", f"/projects/{project_id}/grants", {"grantedOrgId": granted_org_id})["grantId"])

    def add_project_grant_member(self, grant_id: str, user_id: str, roles: list[str]) -> None:
        self._control("POST", f"/project-grants/{grant_id}/members", {"userId": user_id, "roles": roles})

    def set_project_grant_member_roles(self, grant_id: str, user_id: str, roles: list[str]) -> None:
        self._control("PUT", f"/project-grants/{grant_id}/members/{user_id}", {"roles": roles})

    def remove_project_grant_member(self, grant_id: str, user_id: str) -> None:
        self._control("DELETE", f"/project-grants/{grant_id}/members/{user_id}")

    def set_lag(self, keys_ms: int = 0, memberships_ms: int = 0, management_reads_ms: int = 0) -> None:
        """Projection lag (replaces all three): keys / memberships younger than this stay invisible to logins /
        permission checks; users, keys, memberships and orgs created or changed less than
        ``management_reads_ms`` ago read as not there yet (or as before the change) to the management and
        admin API's Get/List calls, while writes see the true state."""
        self._control(
            "PUT",
            "/lag",
            {"keysMs": keys_ms, "membershipsMs": memberships_ms, "managementReadsMs": management_reads_ms},
        )

    def inject_fault(
        self,
        path_prefix: str,
        status: int = 0,
        count: int = 1,
        retry_after: int | str | None = None,
        delay_ms: int = 0,
        body: str | None = None,
        content_type: str | None = None,
        after: bool = False,
        subject: str | None = None,
    ) -> None:
        """Fail (`status`, 0 = delay only) the next `count` requests under `path_prefix` (negative: all).

        On gRPC paths the status becomes a gRPC code (429 ResourceExhausted with a RetryInfo of `retry_after`
        seconds, 503 Unavailable, ...); a delay longer than the client's deadline ends the call unserved.
        ``after``: serve the request (apply the change), then answer the status instead: a lost answer.
        ``subject``: on the token endpoint, only JWT bearer requests whose assertion's sub is this user id
        match (others pass and do not count)."""
        fault: dict[str, Any] = {"pathPrefix": path_prefix, "status": status, "count": count, "delayMs": delay_ms}
        if retry_after is not None:
            fault["retryAfter"] = str(retry_after)
        if body is not None:
            fault["body"] = body
        if content_type is not None:
            fault["contentType"] = content_type
        if after:
            fault["after"] = True
        if subject is not None:
            fault["subject"] = subject
        self._control("POST", "/faults", fault)

    def clear_faults(self) -> None:
        self._control("DELETE", "/faults")

    def hold_answers(self, path_prefix: str, delay_ms: int, count: int = 1) -> None:
        """Serve the next ``count`` requests under ``path_prefix`` (negative: all), then hold each answer back
        for ``delay_ms``: the change is made, the client hears nothing yet (an interrupted client's world)."""
        self._control("POST", "/answer-holds", {"pathPrefix": path_prefix, "delayMs": delay_ms, "count": count})

    def clear_answer_holds(self) -> None:
        self._control("DELETE", "/answer-holds")

    def set_token_error_style(self, style: TokenErrorStyle) -> None:
        """`current`: 400 invalid_grant "invalid assertion"; `legacy`: 500 server_error "Errors.Internal"."""
        self._control("PUT", "/token-error-style", {"style": style})


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(the log is empty)"
    except OSError:
        return "(no log)"
