"""Reading what Pulumi knows (zitadel_bootstrap.cli.recover.stackstate): the checkpoint of `pulumi stack export`
and the lock a dead run leaves, as Pulumi v3.274.1 prints them."""

from __future__ import annotations

import pytest
from zitadel_bootstrap.cli.recover.model import MACHINE_USER
from zitadel_bootstrap.cli.recover.stackstate import (
    LockHolder,
    StateFormatError,
    lock_holders,
    parse_export,
    provider_urn,
    stale,
)

USER_URN = (
    "urn:pulumi:exp::zitadel-bootstrap::zitadel-bootstrap:index:ServiceAccount$zitadel:index/machineUser:MachineUser"
    "::alpha-user"
)
PROVIDER = (
    "urn:pulumi:exp::zitadel-bootstrap::pulumi:providers:zitadel::default_0_2_0_github_/api.github.com/pulumiverse"
)
#: The pending operation of a user create killed with SIGKILL, as `pulumi stack export` printed it (abridged).
KILLED_EXPORT = {
    "version": 3,
    "deployment": {
        "manifest": {"time": "2026-11-29T19:25:28Z", "magic": "x", "version": "v3.274.1"},
        "resources": [
            {"urn": "urn:pulumi:exp::zitadel-bootstrap::pulumi:pulumi:Stack::zitadel-bootstrap-exp",
             "custom": False, "type": "pulumi:pulumi:Stack"},
            {"urn": PROVIDER, "custom": True, "id": "95ec3141-0382-4f31-afb8-079d5dba4634",
             "type": "pulumi:providers:zitadel", "inputs": {"domain": "127.0.0.1", "version": "0.2.0"}},
        ],
        "pending_operations": [
            {
                "resource": {
                    "urn": USER_URN,
                    "custom": True,
                    "type": MACHINE_USER,
                    "inputs": {"__defaults": ["withSecret"], "accessTokenType": "ACCESS_TOKEN_TYPE_BEARER",
                               "name": "alpha", "orgId": "395980327715001937", "userName": "alpha",
                               "withSecret": False},
                    "parent": "urn:pulumi:exp::zitadel-bootstrap::zitadel-bootstrap:index:ServiceAccount::alpha",
                    "provider": f"{PROVIDER}::95ec3141-0382-4f31-afb8-079d5dba4634",
                },
                "type": "creating",
            }
        ],
    },
}  # fmt: skip

LOCK_ERROR = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the "
    "lock file with `pulumi cancel`.\n"
    "  file:///tmp/exp/.pulumi-state/.pulumi/locks/organization/zitadel-bootstrap/exp/04e5.json?no_tmp_dir=true: "
    "created by root@vm (pid 25030) at 2026-11-29T19:25:28Z\n"
)


def test_a_killed_create_is_read_as_a_pending_create_with_its_inputs_parent_and_provider() -> None:
    state = parse_export(KILLED_EXPORT, stack="exp", project="zitadel-bootstrap")
    assert state.stack_urn == "urn:pulumi:exp::zitadel-bootstrap::pulumi:pulumi:Stack::zitadel-bootstrap-exp"
    (op,) = state.pending
    assert op.kind == "creating"
    assert op.is_create
    assert op.resource.name == "alpha-user"
    assert op.resource.provider == PROVIDER
    assert op.resource.inputs["userName"] == "alpha"
    assert state.pending_create(USER_URN) is op
    assert state.at(USER_URN) is None
    assert state.ids("pulumi:providers:zitadel") == {"95ec3141-0382-4f31-afb8-079d5dba4634"}
    assert state.urn(MACHINE_USER, "alpha-user", "zitadel-bootstrap:index:ServiceAccount") == USER_URN


def test_a_stack_never_updated_has_an_empty_state() -> None:
    state = parse_export({"version": 3, "deployment": {}}, stack="new", project="p")
    assert (state.resources, state.pending, state.stack_urn) == ((), (), None)


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"deployment": []},
        {"deployment": {"resources": [{"id": "1"}]}},
        {"deployment": {"pending_operations": [{}]}},
    ],
)
def test_what_is_not_a_deployment_is_refused(document: object) -> None:
    with pytest.raises(StateFormatError):
        parse_export(document, stack="s", project="p")


def test_provider_references_lose_their_id_and_urns_stay() -> None:
    assert provider_urn(f"{PROVIDER}::95ec3141-0382") == PROVIDER
    assert provider_urn(PROVIDER) == PROVIDER
    assert provider_urn("") == ""


def test_the_lock_error_names_its_holder() -> None:
    assert lock_holders(LOCK_ERROR) == [LockHolder("root", "vm", 25030, "2026-11-29T19:25:28Z")]
    assert lock_holders("error: update failed") is None
    cloud = lock_holders("error: [409] Conflict: Another update is currently in progress.")
    assert cloud == [LockHolder("", "", 0, "")]
    assert "not named" in cloud[0].describe()


def test_only_a_lock_of_a_dead_process_on_this_machine_is_stale() -> None:
    holder = LockHolder("root", "vm", 25030, "2026-11-29T19:25:28Z")
    assert stale(holder, this_host="vm", alive={25030: False})
    assert not stale(holder, this_host="vm", alive={25030: True})
    assert not stale(holder, this_host="vm", alive={}), "unknown counts as alive"
    assert not stale(holder, this_host="ci-runner-7", alive={25030: False}), "another machine's pid says nothing"
    assert not stale(LockHolder("", "", 0, ""), this_host="vm", alive={})
