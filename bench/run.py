"""Benchmark: prints figures, asserts nothing. Run with `make bench`.

Measured against the local stand-in, each figure the median of several runs:
- verification latency and HTTP requests per verification (the library alone, one warm account);
- with the real engine: `up` from an empty stack, a no-change `preview`, and a `refresh`, for 1 and for 10
  service accounts.

The engine figures cover the verification resources only: the zitadel plugin that would create the users,
keys and grants cannot be built on a machine without internet (tools/README.md), so the accounts are created
through the stand-in's control API and their keys reach the program as secret config, as in tests/e2e.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi

from components.service_account import grant_inputs
from components.verification import Grant, RetryPolicy, VerificationRequest, parse_key_file, verify
from components.verification.provider import JwtBearerVerification
from tests.e2e.harness import EngineStack
from tests.e2e.identities import Identity, provision
from tools.standin import StandIn


def median_of(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    samples = [measure() for _ in range(runs)]
    return statistics.median(samples), samples


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_verification(standin: StandIn, runs: int) -> None:
    identity = provision(standin, "bench")
    request = VerificationRequest(
        issuer=standin.issuer,
        key=parse_key_file(identity.key_json),
        grants=(Grant(level="org", resource_id=identity.org_id, roles=identity.roles),),
        org_id=identity.org_id,
        insecure=True,
        policy=RetryPolicy(deadline_seconds=30),
    )
    verify(request)  # warm-up: the stand-in's first login of a new key
    latencies: list[float] = []
    requests: list[int] = []
    for _ in range(runs):
        start = time.perf_counter()
        result = verify(request)
        latencies.append(time.perf_counter() - start)
        requests.append(result.attempts)
    print(
        f"verification latency: median {statistics.median(latencies) * 1000:.1f} ms "
        f"(min {min(latencies) * 1000:.1f}, max {max(latencies) * 1000:.1f}, n={runs})"
    )
    print(f"HTTP requests per verification: median {statistics.median(requests):g} (n={runs})")


def accounts_program(count: int) -> Callable[[], None]:
    def program() -> None:
        config = pulumi.Config()
        issuer = config.require("issuer")
        for index in range(count):
            org_id = config.require(f"orgId{index}")
            JwtBearerVerification(
                f"sa{index}-verification",
                issuer=issuer,
                key_json=config.require_secret(f"keyJson{index}"),
                grants=grant_inputs([Grant(level="org", resource_id=org_id, roles=("ORG_OWNER",))]),
                org_id=org_id,
                insecure=True,
                deadline_seconds=30,
                refresh_settle_seconds=0,
            )

    return program


def bench_engine(standin: StandIn, counts: list[int], runs: int) -> None:
    for count in counts:
        identities: list[Identity] = [provision(standin, f"b{count}x{index}") for index in range(count)]
        plain: dict[str, Any] = {"issuer": standin.issuer}
        secrets: dict[str, str] = {}
        for index, identity in enumerate(identities):
            plain[f"orgId{index}"] = identity.org_id
            secrets[f"keyJson{index}"] = identity.key_json
        ups: list[float] = []
        previews: list[float] = []
        refreshes: list[float] = []
        for run in range(runs):
            with tempfile.TemporaryDirectory(prefix="zb-bench-") as directory:
                engine = EngineStack.create(Path(directory), f"bench{count}r{run}", accounts_program(count))
                engine.configure(plain, secrets)
                ups.append(timed(lambda: engine.up("bench up")))  # noqa: B023 - called at once
                previews.append(timed(lambda: engine.preview("bench preview")))  # noqa: B023
                refreshes.append(timed(lambda: engine.refresh("bench refresh")))  # noqa: B023
                engine.destroy("bench destroy")
        print(
            f"{count:>2} account(s): up from empty median {statistics.median(ups):.2f} s, "
            f"no-change preview {statistics.median(previews):.2f} s, refresh {statistics.median(refreshes):.2f} s "
            f"(n={runs})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="engine runs per figure (default 3)")
    parser.add_argument("--verify-runs", type=int, default=20, help="verifications to time (default 20)")
    args = parser.parse_args()
    with StandIn() as standin:
        bench_verification(standin, args.verify_runs)
        bench_engine(standin, [1, 10], args.runs)
    print(
        "not measured: `pulumi up` of the whole program (machine users, keys and grants through the zitadel "
        "plugin), which cannot be built here (tools/README.md)"
    )


if __name__ == "__main__":
    main()
