"""The fleet on shared S3 state (SeaweedFS), as CI runners use it: shards on runners side by side, and a fresh
checkout that finds every org's stack in the bucket. Over TLS, with the real `zitadel-bootstrap fleet` command.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.fleet import FleetProject, FleetRun, org_entry
from tools.seaweedfs import SeaweedFS
from tools.standin import StandIn

#: Four orgs whose names hash to both shards of two (amber to 1, the rest to 2: `fleet list` says so below).
ORGS = ("amber", "birch", "cedar", "delta")


def runner(tmp_path: Path, name: str, standin: StandIn, store: SeaweedFS, bucket: str) -> FleetProject:
    """A checkout of the fleet on a CI runner: its own directory, the shared bucket as its backend."""
    orgs = [org_entry(org, ["ci"]) for org in ORGS]
    return FleetProject.create(
        tmp_path / name, standin, "sharded", orgs, backend_url=store.backend_url(bucket), extra_env=store.env
    )


def test_fleet_shards_on_two_runners_share_the_s3_state_and_a_fresh_checkout_sees_every_org(
    tls_standin: StandIn, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    bucket = "fleet-shards"
    seaweedfs.create_bucket(bucket)
    runners = [runner(tmp_path, f"runner{i}", tls_standin, seaweedfs, bucket) for i in (1, 2)]
    listed = [r.fleet("list", "--shard", f"{i}/2").stdout.split() for i, r in enumerate(runners, start=1)]
    shards = [set(words[0::2]) for words in listed]
    assert shards[0], "shard 1 of 2 takes no org"
    assert shards[1], "shard 2 of 2 takes no org"
    assert shards[0].isdisjoint(shards[1])
    assert shards[0] | shards[1] == set(ORGS)

    # Both runners at once, each with its shard, on the one bucket.
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs: list[FleetRun] = list(
            pool.map(lambda pair: pair[1].fleet("up", "--shard", f"{pair[0]}/2"), enumerate(runners, start=1))
        )
    for shard, run in zip(shards, runs, strict=True):
        assert run.results() == dict.fromkeys(sorted(shard, key=ORGS.index), "ok"), run.output
        assert run.report["shard"] in ("1/2", "2/2")
    stored = seaweedfs.list_keys(bucket, ".pulumi/stacks/zitadel-bootstrap/")
    assert sorted(k.rsplit("/", 1)[-1] for k in stored if k.endswith(".json")) == [f"sharded-{o}.json" for o in ORGS]

    # A fresh checkout (no stack config files of its own) checks the whole fleet from the bucket, then removes it.
    fresh = runner(tmp_path, "fresh", tls_standin, seaweedfs, bucket)
    check = fresh.fleet("drift-check", "--settle", "1", "--parallel", "4")
    assert check.results() == dict.fromkeys(ORGS, "ok"), check.output
    destroyed = fresh.fleet("destroy", "--parallel", "4")
    assert destroyed.results() == dict.fromkeys(ORGS, "destroyed"), destroyed.output
    assert fresh.stacks() == []
    for org in ORGS:
        assert not [u for u in tls_standin.state()["users"] if u["userName"] == f"{org}-ci"], f"{org}-ci is left"
