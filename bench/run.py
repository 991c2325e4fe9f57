"""Benchmark: prints figures, asserts nothing. Run with `make bench`.

Measured against the local stand-in, each figure the median of several runs:
- the verifier alone, in process: latency and HTTP requests of one verification of a warm account, next to the
  same 4 requests made with a pre-built client; the cost of parsing a key file, next to OpenSSL's full RSA check;
- the whole program under the plain `pulumi` CLI (tools/pulumi_cli.py), as a pipeline runs it, for 1 and 10
  service accounts, each with verification on and off: `up` from empty (with its preview), a no-change
  `preview`, the drift check `preview --refresh --expect-no-changes`, `refresh`, `destroy`. The runs with
  verification off are the plugin's and the engine's share; the difference is the verification's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from zitadel_bootstrap.verification import (
    JWT_BEARER_GRANT_TYPE,
    Grant,
    RetryPolicy,
    VerificationRequest,
    build_assertion,
    parse_key_file,
    verify,
)

from tools.pulumi_cli import OPERATIONS_COMMAND, PulumiCli, make_project_copy
from tools.standin import StandIn

PASSPHRASE = "zitadel-bootstrap-bench"  # noqa: S105 - a throwaway passphrase of a throwaway backend
OPERATIONS = ("up", "preview", "drift check", "refresh", "destroy")


SDK_ONE_TOKEN_SCRIPT = """
import sys
from zitadel_client.auth.web_token_authenticator import WebTokenAuthenticator
print(len(WebTokenAuthenticator.from_json(sys.argv[1], sys.argv[2]).get_auth_token()) > 0)
"""  # noqa: S105 - a script, not a password


def floor_requests(client: httpx.Client, request: VerificationRequest) -> None:
    """The verification's 4 requests, made with a client built beforehand: what a verification cannot beat."""
    issuer, key = request.issuer, request.key
    discovery = client.get(f"{issuer}/.well-known/openid-configuration").json()
    form = {
        "grant_type": JWT_BEARER_GRANT_TYPE,
        "assertion": build_assertion(key, discovery["issuer"], time.time()),
        "scope": request.scope,
    }
    token = client.post(discovery["token_endpoint"], data=form).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "x-zitadel-orgid": str(request.org_id)}
    client.get(f"{issuer}/auth/v1/users/me", headers=headers).raise_for_status()
    client.post(f"{issuer}/auth/v1/memberships/me/_search", headers=headers, json={}).raise_for_status()


def bench_verification(standin: StandIn, runs: int) -> None:
    org_id = standin.default_org_id
    user_id = standin.create_machine_user(org_id, f"bench-{uuid.uuid4().hex[:8]}")
    key_json = standin.add_machine_key(org_id, user_id)
    standin.add_org_member(org_id, user_id, ["ORG_OWNER"])
    request = VerificationRequest(
        issuer=standin.issuer,
        key=parse_key_file(key_json),
        grants=(Grant(level="org", resource_id=org_id, roles=("ORG_OWNER",)),),
        org_id=org_id,
        insecure=True,
        policy=RetryPolicy(deadline_seconds=30),
    )
    verify(request)  # warm-up: the stand-in's first login of a new key, the process's shared client
    latencies: list[float] = []
    requests: list[int] = []
    for _ in range(runs):
        start = time.perf_counter()
        result = verify(request)
        latencies.append(time.perf_counter() - start)
        requests.append(result.attempts)
    with httpx.Client() as client:
        floor_requests(client, request)
        floor = [timed(lambda: floor_requests(client, request)) for _ in range(runs)]
    verification, floor_median = statistics.median(latencies), statistics.median(floor)
    print(
        f"verification in process: median {verification * 1000:.1f} ms "
        f"(min {min(latencies) * 1000:.1f}, max {max(latencies) * 1000:.1f}, n={runs}), "
        f"{statistics.median(requests):g} HTTP requests"
    )
    print(
        f"the same 4 requests with a client built beforehand: median {floor_median * 1000:.1f} ms; "
        f"verification / floor = {verification / floor_median:.2f}x (target at most 1.5x)"
    )
    bench_key_loading(key_json, runs)
    bench_processes(standin, key_json, org_id, runs=max(3, runs // 4))


def bench_key_loading(key_json: str, runs: int) -> None:
    """What loading a key costs (once per key and process in the package's provider), and why."""
    pem = json.loads(key_json)["key"].encode()
    ours = statistics.median(timed(lambda: parse_key_file(key_json)) for _ in range(runs))
    openssl = statistics.median(
        timed(lambda: serialization.load_pem_private_key(pem, password=None)) for _ in range(runs)
    )
    print(
        f"key file parse (ours: OpenSSL's RSA check skipped, the key pair's arithmetic checked): median "
        f"{ours * 1000:.2f} ms; loading with OpenSSL's full RSA check (primality of p and q): {openssl * 1000:.1f} ms"
    )


def bench_processes(standin: StandIn, key_json: str, org_id: str, runs: int) -> None:
    """A whole `python -m zitadel_bootstrap.verification` process against the official SDK's one-token script."""
    with tempfile.TemporaryDirectory(prefix="zb-bench-") as directory:
        key_file = Path(directory) / "key.json"
        key_file.write_text(key_json)
        ours = [str(OPERATIONS_COMMAND), "verify", "--issuer", standin.issuer, "--insecure"]
        ours += ["--key-file", str(key_file), "--org-id", org_id]
        sdk = [sys.executable, "-c", SDK_ONE_TOKEN_SCRIPT, standin.issuer, str(key_file)]
        ours_seconds = statistics.median(
            [timed(lambda: subprocess.run(ours, check=True, capture_output=True)) for _ in range(runs)]
        )
        sdk_seconds = statistics.median(
            [timed(lambda: subprocess.run(sdk, check=True, capture_output=True)) for _ in range(runs)]
        )
    print(
        f"whole process: the verification CLI {ours_seconds:.2f} s (4 requests, grants proven), the official SDK's "
        f"one-token script {sdk_seconds:.2f} s; ratio {ours_seconds / sdk_seconds:.3f}x (target at most 0.2x), n={runs}"
    )


def stack_config(standin: StandIn, count: int, *, verify_accounts: bool) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    return {
        "zitadel:domain": "127.0.0.1",
        "zitadel:insecure": "true",
        "zitadel:port": str(standin.port),
        "zitadel:jwtProfileFile": str(standin.admin_key_path),
        "zitadel-bootstrap:verification": {"enabled": verify_accounts, "refreshSettleSeconds": 1},
        "zitadel-bootstrap:serviceAccounts": [
            {"name": f"sa{index}", "orgId": standin.default_org_id, "userName": f"bench-{run}-{index}"}
            for index in range(count)
        ],
    }


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_program(standin: StandIn, count: int, runs: int, *, verify_accounts: bool) -> dict[str, float]:
    samples: dict[str, list[float]] = {operation: [] for operation in OPERATIONS}
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="zb-bench-") as directory:
            cli = PulumiCli(make_project_copy(Path(directory)), f"bench{count}r{run}", PASSPHRASE)
            cli.init()
            cli.write_config(stack_config(standin, count, verify_accounts=verify_accounts))
            samples["up"].append(timed(cli.up))
            samples["preview"].append(timed(cli.preview))
            samples["drift check"].append(timed(cli.drift_check))
            samples["refresh"].append(timed(lambda: cli.run("refresh", "--yes")))  # noqa: B023 - called at once
            samples["destroy"].append(timed(cli.destroy))
    medians = {operation: statistics.median(values) for operation, values in samples.items()}
    label = f"{count:>2} account(s), verification {'on ' if verify_accounts else 'off'}"
    print(
        f"{label}: "
        + ", ".join(f"{operation} {seconds:.2f} s" for operation, seconds in medians.items())
        + f" (n={runs})"
    )
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of the whole program per figure (default 3)")
    parser.add_argument("--verify-runs", type=int, default=20, help="in-process verifications to time (default 20)")
    args = parser.parse_args()
    with StandIn() as standin:
        bench_verification(standin, args.verify_runs)
        figures = {
            (count, verify_accounts): bench_program(standin, count, args.runs, verify_accounts=verify_accounts)
            for count in (1, 10)
            for verify_accounts in (True, False)
        }
    print("\nwhole program, 10 accounts / 1 account (verification on):")
    print("  " + ", ".join(f"{op} {figures[10, True][op] / figures[1, True][op]:.2f}x" for op in OPERATIONS))
    print("share of each operation, 10 accounts: plugin and engine (verification off) / the verification (the rest):")
    for operation in OPERATIONS:
        total, without = figures[10, True][operation], figures[10, False][operation]
        print(
            f"  {operation:<12} {total:6.2f} s = {without:6.2f} s plugin+engine ({without / total:4.0%}) "
            f"+ {total - without:6.2f} s verification ({(total - without) / total:4.0%})"
        )


if __name__ == "__main__":
    main()
