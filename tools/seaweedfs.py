"""Drive a local SeaweedFS (`weed server`) as an S3-compatible, distributed object store for Pulumi state.

`SeaweedFS` builds the binary with tools/build-seaweedfs.sh (reusing a cached build) and starts a master, a
volume server, a filer and the S3 gateway in one process in a temporary directory, every listener on a free
127.0.0.1 port (gRPC too; no telemetry, no Iceberg or Lance catalog). The S3 gateway knows one identity with a
random access key, which Pulumi gets through the AWS environment variables; anonymous requests are refused, so
the backend's request signatures are really checked. `start` waits until a bucket can be created and an object
written and read back, then `backend_url` and `env` are what Pulumi's diy backend needs. The driver's own S3
requests (buckets, object reads, listings) are signed here with AWS Signature Version 4, through httpx.

A binary that cannot be built or started raises SeaweedFSError: tests that need the store fail, never skip.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Self
from urllib.parse import quote

import httpx

from tools.build_script import BuildError, run_build_script
from tools.server_process import ServerProcess

REPO = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO / "tools" / "build-seaweedfs.sh"
REGION = "us-east-1"
#: A cold build took 9 min on the project's busy 2-core machine.
BUILD_TIMEOUT = 1800.0
#: The TCP listeners of `weed server -filer -s3`, each given a free loopback port (the rest are switched off).
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)
_S3_XMLNS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class SeaweedFSError(RuntimeError):
    """SeaweedFS could not be built, started or used; the message says which and why."""


def build_seaweedfs() -> Path:
    """Build (or reuse) the `weed` binary and return its path."""
    try:
        return run_build_script(BUILD_SCRIPT, "SeaweedFS", timeout=BUILD_TIMEOUT)
    except BuildError as error:
        raise SeaweedFSError(str(error)) from error


def free_loopback_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 (all held open together while they are chosen)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _uri_encode(text: str, *, keep_slash: bool = False) -> str:
    return quote(text, safe="-_.~/" if keep_slash else "-_.~")


def sigv4_headers(
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
    *,
    region: str = REGION,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that sign an S3 request (AWS Signature Version 4, header form); ``path`` is not encoded yet."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            method,
            _uri_encode(path, keep_slash=True),
            "&".join(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(query.items())),
            "".join(f"{name}:{headers[name]}\n" for name in sorted(headers)),
            signed,
            payload_hash,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    del headers["host"]  # httpx sends it from the URL
    return headers


class _ExitedEarlyError(SeaweedFSError):
    """weed ended before it was ready (its log tells why)."""

    def __init__(self, code: int | None, log: str) -> None:
        self.log = log
        super().__init__(f"weed exited with {code} before its S3 gateway was ready; log:\n{log}")


class SeaweedFS(ServerProcess):
    """One running `weed server` with the S3 gateway. Use `with SeaweedFS() as s3:` or `start()` and `stop()`."""

    def __init__(
        self, *, binary: Path | None = None, bucket: str = "pulumi-state", startup_timeout: float = 90.0
    ) -> None:
        """``bucket``: created at start, the default of `backend_url`."""
        self._binary = binary
        self.bucket = bucket
        self._startup_timeout = startup_timeout
        self.access_key = "ZB" + secrets.token_hex(9).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._ports: dict[str, int] = {}
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"SeaweedFS(endpoint={self.endpoint if self._ports else None!r}, running={self.running})"

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._process is not None:
            raise SeaweedFSError("SeaweedFS is already running")
        binary = self._binary or build_seaweedfs()
        self._workdir = Path(tempfile.mkdtemp(prefix="zb-seaweedfs-"))
        (self._workdir / "data").mkdir()
        config = {
            "identities": [
                {
                    "name": "pulumi",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        (self._workdir / "s3.json").write_text(json.dumps(config))
        try:
            # A port taken between choosing it and weed binding it ends the process: try again on new ports.
            attempts = 3
            for attempt in range(1, attempts + 1):
                self._launch(binary, self._workdir)
                try:
                    self._wait_until_ready()
                    break
                except _ExitedEarlyError as exited:
                    self._terminate()
                    if "address already in use" not in exited.log or attempt == attempts:
                        raise SeaweedFSError(str(exited)) from None
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, binary: Path, work: Path) -> None:
        self._ports = dict(zip(PORT_FLAGS, free_loopback_ports(len(PORT_FLAGS)), strict=True))
        argv = [
            str(binary),
            "server",
            f"-dir={work / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",  # explicit: no extra "companion" listener
            *(f"-{flag}={port}" for flag, port in self._ports.items()),
            "-filer",
            "-s3",
            f"-s3.config={work / 's3.json'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={work / 'filer.sock'}",
            f"-s3.localSocket={work / 's3.sock'}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=64",
            "-volume.preStopSeconds=0",
        ]
        with (work / "weed.log").open("ab") as log:
            try:
                self._process = subprocess.Popen(
                    argv,
                    cwd=work,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stop ends all of it
                )
            except OSError as exc:
                raise SeaweedFSError(f"starting {binary} failed: {exc}") from exc
        self._client = httpx.Client(timeout=10.0)

    def _wait_until_ready(self) -> None:
        """Until a bucket is created and an object written and read back: the filer and a volume are up."""
        deadline = time.monotonic() + self._startup_timeout
        probe = f".zb-probe-{secrets.token_hex(4)}"
        last = "no answer yet"
        while True:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                raise _ExitedEarlyError(code, self._log_tail())
            try:
                self.create_bucket(self.bucket)
                self.put_object(self.bucket, probe, b"ready")
                if self.get_object(self.bucket, probe) == b"ready":
                    self.delete_object(self.bucket, probe)
                    return
                last = "the probe object read back differently"
            except (httpx.TransportError, SeaweedFSError) as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise SeaweedFSError(
                    f"SeaweedFS's S3 gateway was not ready within {self._startup_timeout:.0f} s ({last}); "
                    f"log:\n{self._log_tail()}"
                )
            time.sleep(0.25)  # the next attempt of the readiness probe

    def stop(self) -> None:
        self._terminate()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _terminate(self) -> None:
        """End weed and everything in its process group; remove the gRPC sockets it made in /tmp."""
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self._process = self._process, None
        if process is not None:
            # `weed server` stops its servers on SIGTERM or SIGINT but its process stays (it blocks forever after
            # starting them), and this store is thrown away with its directory: SIGKILL to the whole group.
            if process.poll() is None:  # its group is ours only while it has not been reaped
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        # `weed server` puts its in-process gRPC sockets at fixed paths under /tmp, named by port.
        for flag, port in self._ports.items():
            if flag.endswith(".grpc"):
                Path(f"/tmp/seaweedfs-{flag.split('.')[0]}-grpc-{port}.sock").unlink(missing_ok=True)  # noqa: S108

    @property
    def log_path(self) -> Path | None:
        return None if self._workdir is None else self._workdir / "weed.log"

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:]) if self.log_path else ""
        except OSError:
            return "(no log)"

    # --- what Pulumi needs ---------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:<port>`` of the S3 gateway."""
        if not self._ports:
            raise SeaweedFSError("SeaweedFS is not started")
        return f"127.0.0.1:{self._ports['s3.port']}"

    @property
    def ports(self) -> dict[str, int]:
        return dict(self._ports)

    def backend_url(self, bucket: str | None = None, prefix: str = "") -> str:
        """Pulumi's diy backend URL of ``bucket`` (default the one made at start), optionally under ``prefix``.

        SeaweedFS sends no checksums with objects: `response_checksum_validation=when_required` keeps the AWS SDK
        from warning about that on stderr at every read (the objects are still read whole).
        """
        path = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
        return (
            f"s3://{bucket or self.bucket}{path}?endpoint={self.endpoint}"
            f"&s3ForcePathStyle=true&disableSSL=true&region={REGION}&response_checksum_validation=when_required"
        )

    @property
    def env(self) -> dict[str, str]:
        """The AWS SDK's environment for Pulumi: this store's credentials, and no instance metadata lookups."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    # --- S3 requests (path style, signed) -----------------------------------------------------------------

    def object_url(self, bucket: str, key: str = "") -> str:
        return f"http://{self.endpoint}/{bucket}/{_uri_encode(key, keep_slash=True)}"

    def request(
        self, method: str, bucket: str, key: str = "", *, query: Mapping[str, str] | None = None, body: bytes = b""
    ) -> httpx.Response:
        """One signed S3 request on ``/<bucket>/<key>``."""
        if self._client is None:
            raise SeaweedFSError("SeaweedFS is not started")
        params = dict(query or {})
        path = f"/{bucket}/{key}" if key else f"/{bucket}"
        headers = sigv4_headers(method, self.endpoint, path, params, body, self.access_key, self.secret_key)
        url = f"http://{self.endpoint}{_uri_encode(path, keep_slash=True)}"
        if params:
            url += "?" + "&".join(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(params.items()))
        return self._client.request(method, url, headers=headers, content=body)

    def _check(self, response: httpx.Response, what: str, ok: tuple[int, ...] = (200,)) -> httpx.Response:
        if response.status_code not in ok:
            raise SeaweedFSError(f"{what}: {response.status_code} {response.text[:300]}")
        return response

    def create_bucket(self, bucket: str) -> str:
        """Create ``bucket`` (an existing one of ours is fine) and return its name."""
        response = self.request("PUT", bucket)
        if response.status_code == 409 and "BucketAlreadyOwnedByYou" in response.text:
            return bucket
        self._check(response, f"PUT bucket {bucket}")
        return bucket

    def put_object(self, bucket: str, key: str, body: bytes) -> None:
        self._check(self.request("PUT", bucket, key, body=body), f"PUT {bucket}/{key}")

    def get_object(self, bucket: str, key: str) -> bytes:
        """The object's bytes exactly as stored (a plain S3 GET)."""
        return self._check(self.request("GET", bucket, key), f"GET {bucket}/{key}").content

    def delete_object(self, bucket: str, key: str) -> None:
        self._check(self.request("DELETE", bucket, key), f"DELETE {bucket}/{key}", ok=(200, 204))

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under ``prefix`` (ListObjectsV2, all pages)."""
        keys: list[str] = []
        query = {"list-type": "2", "prefix": prefix}
        while True:
            response = self._check(self.request("GET", bucket, query=query), f"list {bucket}/{prefix}")
            root = ET.fromstring(response.content)  # noqa: S314 - our own local server's answer
            keys += [node.text or "" for node in root.iter(f"{_S3_XMLNS}Key")]
            token = root.findtext(f"{_S3_XMLNS}NextContinuationToken")
            if root.findtext(f"{_S3_XMLNS}IsTruncated") != "true" or not token:
                return sorted(keys)
            query = {**query, "continuation-token": token}
