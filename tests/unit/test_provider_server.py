"""The package's provider (``zitadel_bootstrap.provider.server``) as the engine drives it over gRPC: Check, Diff,
Create, Read, Update and Delete go to the handler of the URN's own type; the key file always leaves as a secret,
and whatever came in secret stays secret; a handler's failure becomes a clean abort that names the resource and
holds no key material; unknown types are refused; and the schema other languages read marks the key secret."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc  # type: ignore[import-untyped]
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc
from zitadel_bootstrap import clock
from zitadel_bootstrap.provider import server
from zitadel_bootstrap.provider import verification as verification_module
from zitadel_bootstrap.verification import TokenExchangeError, VerificationRequest, VerificationResult

from tests.unit.verification.helpers import KEY_ID, ORG_ID, USER_ID, key_file_text, pem_body

SERVICE_ACCOUNT = "zitadel-bootstrap:index:ServiceAccount"
VERIFICATION = "zitadel-bootstrap:index:JwtBearerVerification"
KEY_ROTATION = "zitadel-bootstrap:index:KeyRotation"
NOW = 1_795_867_200.0  # 2026-11-28T12:00:00Z
T = TypeVar("T")


def urn(resource_type: str, name: str, parents: tuple[str, ...] = (SERVICE_ACCOUNT,)) -> str:
    """A child's URN: the type chain of its parents, then its own type, last."""
    return f"urn:pulumi:unit::zitadel-bootstrap::{'$'.join([*parents, resource_type])}::{name}"


VERIFICATION_URN = urn(VERIFICATION, "ci-verification")
ROTATION_URN = urn(KEY_ROTATION, "ci-key-rotation")


class AbortedError(Exception):
    """What grpc.aio's ``context.abort`` does: it raises, so the servicer's code after it never runs."""


@dataclass
class FakeContext:
    aborted: list[tuple[Any, str]] = field(default_factory=list)

    async def abort(self, code: Any, message: str) -> None:
        self.aborted.append((code, message))
        raise AbortedError(message)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on a loop of its own: ``asyncio.run`` would leave the thread without a current loop afterwards, which
    other tests' ``pulumi.Output``s (built outside any loop) still rely on."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    """Properties as the engine sends them; ``rpc.wrap_rpc_secret`` marks a secret."""
    serialized: struct_pb2.Struct = run(rpc.serialize_properties(values, {}))
    return serialized


def received(properties: struct_pb2.Struct) -> dict[str, Any]:
    """Properties as the engine receives them back: secrets stay wrapped."""
    values = rpc.deserialize_properties(properties, keep_unknowns=True)
    assert isinstance(values, dict)
    return values


def secret_names(values: dict[str, Any]) -> set[str]:
    return {name for name, value in values.items() if rpc.is_rpc_secret(value)}


def plain(value: Any) -> Any:
    return rpc.unwrap_rpc_secret(value) if rpc.is_rpc_secret(value) else value


@pytest.fixture(scope="module")
def servicer() -> server.PackageServicer:
    return server.PackageServicer([], "")


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    with clock.use(clock.Clock(now=lambda: NOW, monotonic=lambda: 0.0, sleep=lambda _seconds: None)):
        yield


def call(method: Callable[[Any, Any], Any], request: Any) -> tuple[Any, FakeContext]:
    context = FakeContext()
    return run(method(request, context)), context


def refused(method: Callable[[Any, Any], Any], request: Any) -> tuple[Any, str]:
    context = FakeContext()
    with pytest.raises(AbortedError):
        run(method(request, context))
    ((code, message),) = context.aborted
    return code, message


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_json(rsa_key: rsa.RSAPrivateKey) -> str:
    return key_file_text(rsa_key)


@pytest.fixture
def inputs(key_json: str) -> dict[str, Any]:
    """The verification's inputs as the component registers them: the key file as a secret."""
    return {
        "issuer": "https://acme.zitadel.cloud",
        "key_json": rpc.wrap_rpc_secret(key_json),
        "grants": [{"level": "org", "resource_id": ORG_ID, "roles": ["ORG_OWNER"]}],
        "org_id": ORG_ID,
        "audience": "zitadel",
        "insecure": False,
        "deadline_seconds": 60.0,
        "refresh_settle_seconds": 5.0,
    }


@dataclass
class FakeVerifier:
    """Stands in for the network proof: records each request and answers ``result``."""

    requests: list[VerificationRequest] = field(default_factory=list)
    failure: Exception | None = None

    def __call__(self, request: VerificationRequest, **_runtime: Any) -> VerificationResult:
        self.requests.append(request)
        if self.failure is not None:
            raise self.failure
        return VerificationResult(
            verified=True,
            user_id=request.key.user_id,
            key_id=request.key.key_id,
            org_id=request.org_id,
            roles_found={f"org:{ORG_ID}": ("ORG_OWNER",)},
            token_type="Bearer",
            token_format="opaque",
            expires_in=43199,
            attempts=4,
        )


@pytest.fixture
def verifier(monkeypatch: pytest.MonkeyPatch) -> FakeVerifier:
    fake = FakeVerifier()
    monkeypatch.setattr(verification_module, "verify", fake)
    monkeypatch.setattr(verification_module, "try_verify", fake)
    return fake


def rotation_inputs(**changes: Any) -> dict[str, Any]:
    return {"account": "ci", "lifetime_days": 90.0, "rotate_before_days": 30.0, "generation": 0.0, **changes}


# --- dispatch ------------------------------------------------------------------------------------------------------


def test_check_goes_to_the_handler_of_the_urns_last_type(
    servicer: server.PackageServicer, inputs: dict[str, Any]
) -> None:
    planned, _ = call(servicer.Check, proto.CheckRequest(urn=ROTATION_URN, news=struct(rotation_inputs())))
    schedule = received(planned.inputs)
    assert (schedule["issued_at"], schedule["expires_at"]) == ("2026-11-28T12:00:00Z", "2027-02-26T12:00:00Z")
    assert list(planned.failures) == []

    bad = {**inputs, "issuer": "http://acme.zitadel.cloud"}
    checked, _ = call(servicer.Check, proto.CheckRequest(urn=VERIFICATION_URN, news=struct(bad)))
    assert [failure.property for failure in checked.failures] == ["issuer"]


def test_only_the_last_type_of_the_chain_counts_not_the_parents(servicer: server.PackageServicer) -> None:
    nested = urn(KEY_ROTATION, "x-key-rotation", parents=(SERVICE_ACCOUNT, VERIFICATION))
    planned, _ = call(servicer.Check, proto.CheckRequest(urn=nested, news=struct(rotation_inputs())))
    assert "expires_at" in received(planned.inputs)  # planned as a key schedule, not checked as a verification


@pytest.mark.parametrize(
    "resource_type", ["zitadel-bootstrap:index:Nope", SERVICE_ACCOUNT, "zitadel:index/machineKey:MachineKey"]
)
def test_a_type_the_package_does_not_serve_is_refused(servicer: server.PackageServicer, resource_type: str) -> None:
    request_urn = urn(resource_type, "ci-thing")
    code, message = refused(servicer.Check, proto.CheckRequest(urn=request_urn, news=struct({})))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message == f"zitadel-bootstrap has no resource type for {request_urn}"
    code, _ = refused(servicer.Create, proto.CreateRequest(urn=request_urn, properties=struct({})))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_a_malformed_urn_is_refused(servicer: server.PackageServicer) -> None:
    code, _ = refused(servicer.Delete, proto.DeleteRequest(urn="ci-verification", id="x", properties=struct({})))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


# --- check and diff --------------------------------------------------------------------------------------------------


def test_check_hands_a_secret_input_back_as_a_secret(servicer: server.PackageServicer, inputs: dict[str, Any]) -> None:
    checked, _ = call(servicer.Check, proto.CheckRequest(urn=VERIFICATION_URN, news=struct(inputs)))
    assert list(checked.failures) == []
    assert secret_names(received(checked.inputs)) == {"key_json"}


def test_check_keeps_an_input_unknown_at_preview_unknown(
    servicer: server.PackageServicer, inputs: dict[str, Any]
) -> None:
    news = {**inputs, "key_json": rpc.UNKNOWN, "org_id": rpc.UNKNOWN}
    checked, _ = call(servicer.Check, proto.CheckRequest(urn=VERIFICATION_URN, news=struct(news)))
    assert list(checked.failures) == []
    assert checked.inputs["key_json"] == rpc.UNKNOWN
    assert checked.inputs["org_id"] == rpc.UNKNOWN


def diff(servicer: server.PackageServicer, request_urn: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
    response, _ = call(servicer.Diff, proto.DiffRequest(urn=request_urn, id="x", olds=struct(olds), news=struct(news)))
    return response


def test_diff_reports_a_lost_proof_a_new_key_and_an_unchanged_resource(
    servicer: server.PackageServicer, inputs: dict[str, Any], rsa_key: rsa.RSAPrivateKey
) -> None:
    state = {**inputs, "verified": True}
    assert diff(servicer, VERIFICATION_URN, state, inputs).changes == proto.DiffResponse.DIFF_NONE
    lost = diff(servicer, VERIFICATION_URN, {**state, "verified": False}, inputs)
    assert (lost.changes, list(lost.replaces)) == (proto.DiffResponse.DIFF_SOME, [])
    other_key = rpc.wrap_rpc_secret(key_file_text(rsa_key, key_id="259254409320382299"))
    replaced = diff(servicer, VERIFICATION_URN, state, {**inputs, "key_json": other_key})
    assert (replaced.changes, list(replaced.replaces)) == (proto.DiffResponse.DIFF_SOME, ["key_json"])
    assert replaced.deleteBeforeReplace is False


def test_diff_of_a_key_schedule_reports_a_new_generation(servicer: server.PackageServicer) -> None:
    same = diff(servicer, ROTATION_URN, rotation_inputs(), rotation_inputs())
    assert same.changes == proto.DiffResponse.DIFF_NONE
    raised = diff(servicer, ROTATION_URN, rotation_inputs(), rotation_inputs(generation=1.0))
    assert (raised.changes, list(raised.replaces)) == (proto.DiffResponse.DIFF_SOME, [])


# --- create, read, update, delete ----------------------------------------------------------------------------------


def test_create_verifies_and_returns_the_key_file_as_a_secret(
    servicer: server.PackageServicer, inputs: dict[str, Any], key_json: str, verifier: FakeVerifier
) -> None:
    created, _ = call(servicer.Create, proto.CreateRequest(urn=VERIFICATION_URN, properties=struct(inputs)))
    assert created.id == f"{USER_ID}:{KEY_ID}"
    outputs = received(created.properties)
    assert secret_names(outputs) == {"key_json"}
    assert plain(outputs["key_json"]) == key_json
    assert (outputs["verified"], outputs["roles_found"], outputs["attempts"]) == (
        True,
        {f"org:{ORG_ID}": ["ORG_OWNER"]},
        4,
    )
    (request,) = verifier.requests
    assert (request.key.key_id, request.org_id, request.issuer) == (KEY_ID, ORG_ID, "https://acme.zitadel.cloud")


def test_the_key_file_leaves_as_a_secret_even_when_it_came_in_plain(
    servicer: server.PackageServicer, inputs: dict[str, Any], key_json: str, verifier: FakeVerifier
) -> None:
    created, _ = call(
        servicer.Create, proto.CreateRequest(urn=VERIFICATION_URN, properties=struct({**inputs, "key_json": key_json}))
    )
    assert secret_names(received(created.properties)) == {"key_json"}


def test_an_input_that_came_in_secret_stays_secret_in_the_outputs(
    servicer: server.PackageServicer, inputs: dict[str, Any], verifier: FakeVerifier
) -> None:
    secret_org = {**inputs, "org_id": rpc.wrap_rpc_secret(ORG_ID)}
    created, _ = call(servicer.Create, proto.CreateRequest(urn=VERIFICATION_URN, properties=struct(secret_org)))
    assert secret_names(received(created.properties)) == {"key_json", "org_id"}

    schedule = rotation_inputs(account=rpc.wrap_rpc_secret("ci"))
    created, _ = call(servicer.Create, proto.CreateRequest(urn=ROTATION_URN, properties=struct(schedule)))
    assert secret_names(received(created.properties)) == {"account"}


def test_create_of_a_key_schedule_touches_nothing_and_reports_its_status(servicer: server.PackageServicer) -> None:
    planned, _ = call(servicer.Check, proto.CheckRequest(urn=ROTATION_URN, news=struct(rotation_inputs())))
    created, _ = call(servicer.Create, proto.CreateRequest(urn=ROTATION_URN, properties=planned.inputs))
    assert created.id == "ci-key-rotation"
    outputs = received(created.properties)
    assert (outputs["days_left"], outputs["due"], outputs["checked_at"]) == (90, False, "2026-11-28T12:00:00Z")
    assert secret_names(outputs) == set()


def test_read_re_verifies_keeps_the_id_and_returns_the_key_file_as_a_secret(
    servicer: server.PackageServicer, inputs: dict[str, Any], verifier: FakeVerifier
) -> None:
    state = struct({**inputs, "key_json": plain(inputs["key_json"]), "verified": True})
    read, _ = call(servicer.Read, proto.ReadRequest(urn=VERIFICATION_URN, id="u:k", properties=state, inputs=state))
    assert read.id == "u:k"
    outputs = received(read.properties)
    assert secret_names(outputs) == {"key_json"}
    assert outputs["verified"] is True
    assert read.inputs == state, "the inputs are handed back as they were"
    assert len(verifier.requests) == 1


def test_read_reports_a_lost_proof_instead_of_failing(
    servicer: server.PackageServicer, inputs: dict[str, Any], verifier: FakeVerifier
) -> None:
    state = struct({**inputs, "verified": True})
    lost = VerificationResult(
        verified=False, user_id=USER_ID, key_id=KEY_ID, org_id=ORG_ID, failure_kind="key_rejected"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(verification_module, "try_verify", lambda *_args, **_kwargs: lost)
        read, context = call(servicer.Read, proto.ReadRequest(urn=VERIFICATION_URN, id="u:k", properties=state))
    assert context.aborted == []
    outputs = received(read.properties)
    assert (outputs["verified"], outputs["failure_kind"]) == (False, "key_rejected")


def test_update_re_verifies_and_returns_every_output_with_the_key_file_secret(
    servicer: server.PackageServicer, inputs: dict[str, Any], verifier: FakeVerifier
) -> None:
    olds = struct({**inputs, "verified": False})
    updated, _ = call(
        servicer.Update, proto.UpdateRequest(urn=VERIFICATION_URN, id="u:k", olds=olds, news=struct(inputs))
    )
    outputs = received(updated.properties)
    assert secret_names(outputs) == {"key_json"}
    # Outputs whose value is None travel as absent ones.
    assert set(verification_module.OUTPUT_NAMES) - set(outputs) == {"failure_kind", "failure"}
    assert outputs["verified"] is True


def test_delete_touches_nothing_remote(
    servicer: server.PackageServicer, inputs: dict[str, Any], verifier: FakeVerifier
) -> None:
    for request_urn, properties in ((VERIFICATION_URN, inputs), (ROTATION_URN, rotation_inputs())):
        deleted, _ = call(servicer.Delete, proto.DeleteRequest(urn=request_urn, id="x", properties=struct(properties)))
        assert deleted == empty_pb2.Empty()
    assert verifier.requests == []


# --- failures ---------------------------------------------------------------------------------------------------------


def test_a_failed_proof_aborts_naming_the_resource_and_holding_no_key_material(
    servicer: server.PackageServicer, inputs: dict[str, Any], rsa_key: rsa.RSAPrivateKey, verifier: FakeVerifier
) -> None:
    verifier.failure = TokenExchangeError(
        f"Verification of user {USER_ID} (key {KEY_ID}) failed at the token exchange", kind="key_rejected"
    )
    for method, request in (
        (servicer.Create, proto.CreateRequest(urn=VERIFICATION_URN, properties=struct(inputs))),
        (
            servicer.Update,
            proto.UpdateRequest(urn=VERIFICATION_URN, id="u:k", olds=struct(inputs), news=struct(inputs)),
        ),
    ):
        code, message = refused(method, request)
        assert code == grpc.StatusCode.UNKNOWN
        assert message.startswith(f"ci-verification: Verification of user {USER_ID} (key {KEY_ID}) failed")
        assert pem_body(rsa_key) not in message
        assert "Traceback" not in message


def test_an_expired_key_aborts_the_create_without_echoing_the_key(
    servicer: server.PackageServicer, inputs: dict[str, Any], rsa_key: rsa.RSAPrivateKey, verifier: FakeVerifier
) -> None:
    expired = rpc.wrap_rpc_secret(key_file_text(rsa_key, expiration="2001-01-01T00:00:00Z"))
    code, message = refused(
        servicer.Create, proto.CreateRequest(urn=VERIFICATION_URN, properties=struct({**inputs, "key_json": expired}))
    )
    assert code == grpc.StatusCode.UNKNOWN
    assert message.startswith("ci-verification: ")
    assert "expired at 2001-01-01T00:00:00Z" in message
    assert KEY_ID in message
    assert pem_body(rsa_key) not in message
    assert verifier.requests == [], "an expired key is refused before any request"


def test_an_unexpected_handler_error_aborts_too_naming_the_resource(
    servicer: server.PackageServicer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any) -> Any:
        raise RuntimeError("the schedule store is gone")

    monkeypatch.setitem(servicer.handlers, KEY_ROTATION, type("Broken", (), {"diff": broken})())
    code, message = refused(
        servicer.Diff, proto.DiffRequest(urn=ROTATION_URN, id="x", olds=struct({}), news=struct({}))
    )
    assert (code, message) == (grpc.StatusCode.UNKNOWN, "ci-key-rotation: the schedule store is gone")


# --- configuration and schema --------------------------------------------------------------------------------------


def test_the_provider_takes_any_configuration_and_never_diffs_it(servicer: server.PackageServicer) -> None:
    news = struct({"domain": "acme.zitadel.cloud"})
    checked, _ = call(servicer.CheckConfig, proto.CheckRequest(urn="urn:provider", news=news))
    assert checked.inputs == news
    diffed, _ = call(servicer.DiffConfig, proto.DiffRequest(urn="urn:provider", olds=news, news=struct({})))
    assert diffed.changes == proto.DiffResponse.DIFF_NONE


def test_the_schema_lists_the_service_account_with_its_inputs_and_a_secret_key_file(
    servicer: server.PackageServicer,
) -> None:
    schema = json.loads(servicer.provider.schema or "{}")
    assert schema["name"] == "zitadel-bootstrap"
    account = schema["resources"][SERVICE_ACCOUNT]
    assert account["isComponent"] is True
    assert {"userName", "orgId", "roles"} <= set(account["inputProperties"])
    assert {"userName", "orgId"} <= set(account.get("requiredInputs", []))
    assert account["properties"]["keyJson"]["secret"] is True
    assert not any(prop.get("secret") for name, prop in account["properties"].items() if name != "keyJson")
    response, _ = call(servicer.GetSchema, proto.GetSchemaRequest(version=0))
    assert json.loads(response.schema) == schema


def test_package_schema_marks_the_key_file_secret_and_leaves_the_rest() -> None:
    inferred = {
        "name": "zitadel-bootstrap",
        "resources": {SERVICE_ACCOUNT: {"properties": {"keyJson": {"type": "string"}, "keyId": {"type": "string"}}}},
    }
    marked = json.loads(server.package_schema(json.dumps(inferred)))
    assert marked["resources"][SERVICE_ACCOUNT]["properties"] == {
        "keyJson": {"type": "string", "secret": True},
        "keyId": {"type": "string"},
    }
    assert json.loads(server.package_schema("{}")) == {}


# --- the plugin process, as the engine starts it -------------------------------------------------------------------


def test_the_plugin_script_serves_the_package_in_a_fresh_process() -> None:
    """The engine runs ``pulumi-resource-zitadel-bootstrap <engine address>``, reads the port it prints and calls it:
    what replaced 0.2's pickled dynamic provider, so no consumer needs the package on its own Python path."""
    script = Path(sys.executable).with_name("pulumi-resource-zitadel-bootstrap")
    assert script.exists(), "pip install ./components puts the plugin script next to python"
    process = subprocess.Popen([str(script), "127.0.0.1:1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.stderr else port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            schema = json.loads(stub.GetSchema(proto.GetSchemaRequest(version=0), timeout=60).schema)
            assert schema["resources"][SERVICE_ACCOUNT]["properties"]["keyJson"]["secret"] is True
            planned = stub.Check(proto.CheckRequest(urn=ROTATION_URN, news=struct(rotation_inputs())), timeout=60)
            assert "expires_at" in received(planned.inputs)
            with pytest.raises(grpc.RpcError) as caught:
                stub.Check(
                    proto.CheckRequest(urn=urn("zitadel-bootstrap:index:Nope", "x"), news=struct({})), timeout=60
                )
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        process.terminate()
        process.wait(timeout=30)
