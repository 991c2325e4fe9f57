"""The verification's provider: check failures, diff semantics (a lost proof is a change), read reports instead of
raising, update returns every output, delete touches nothing; the resource as the engine receives it, and the
0.2 stacks' pickled providers, which still load from their old module paths."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pulumi
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from zitadel_bootstrap import clock
from zitadel_bootstrap.key_schedule.resource import KeyRotationProvider
from zitadel_bootstrap.provider.verification import (
    FORMER_TYPE,
    OUTPUT_NAMES,
    RESOURCE_TYPE,
    JwtBearerVerification,
    JwtBearerVerificationProvider,
)
from zitadel_bootstrap.verification import TokenExchangeError, VerificationError
from zitadel_bootstrap.verification.model import Grant
from zitadel_bootstrap.verification.props import INPUT_NAMES

from .fake_zitadel import FakeZitadel
from .helpers import KEY_ID, ORG_ID, USER_ID, FakeTime, key_file_text, pem_body

REPO_ROOT = Path(__file__).resolve().parents[3]
UNKNOWN = rpc.UNKNOWN


@pytest.fixture
def provider() -> JwtBearerVerificationProvider:
    return JwtBearerVerificationProvider()


@pytest.fixture
def inputs(key_json: str) -> dict[str, Any]:
    return {
        "issuer": "https://acme.zitadel.cloud",
        "key_json": key_json,
        "grants": [{"level": "org", "resource_id": ORG_ID, "roles": ["ORG_OWNER"], "project_id": None}],
        "org_id": ORG_ID,
        "audience": "zitadel",
        "insecure": False,
        "deadline_seconds": 60.0,
        "refresh_settle_seconds": 0.0,
    }


@pytest.fixture
def live_inputs(inputs: dict[str, Any], fake: FakeZitadel) -> dict[str, Any]:
    return {**inputs, "issuer": fake.url, "insecure": True}


def _state(inputs: dict[str, Any], **outputs: Any) -> dict[str, Any]:
    """Prior outputs as the engine stores them: inputs repeated plus the proof."""
    return {**inputs, "verified": True, "user_id": USER_ID, "key_id": KEY_ID, **outputs}


# --- check --------------------------------------------------------------------------------------------


def test_check_accepts_valid_inputs_and_returns_them_unchanged(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any]
) -> None:
    result = provider.check({}, dict(inputs))
    assert result.failures == []
    assert result.inputs == inputs


@pytest.mark.parametrize(
    ("change", "prop", "reason"),
    [
        ({"issuer": "http://localhost:8080"}, "issuer", "plain http"),
        ({"issuer": "acme.zitadel.cloud"}, "issuer", "absolute http(s) URL"),
        ({"issuer": "https://acme.zitadel.cloud/ui/console"}, "issuer", "without path"),
        ({"key_json": "{not json"}, "key_json", "not valid JSON"),
        ({"key_json": json.dumps({"keyId": "1", "userId": "2"})}, "key_json", "no 'key' field"),
        ({"grants": []}, "grants", "non-empty list"),
        ({"grants": [{"level": "galaxy", "resource_id": "1", "roles": ["X"]}]}, "grants", "'galaxy' is unknown"),
        ({"grants": [{"level": "org", "resource_id": ORG_ID, "roles": []}]}, "grants", "non-empty list of role"),
        ({"grants": [{"level": "org", "resource_id": "", "roles": ["ORG_OWNER"]}]}, "grants", "resource_id"),
        ({"grants": [{"level": "instance", "resource_id": "1", "roles": ["IAM_OWNER"]}]}, "grants", "no resource id"),
        ({"grants": ["ORG_OWNER"]}, "grants", "must be an object"),
        ({"org_id": ""}, "org_id", "non-empty"),
        ({"audience": "my project"}, "audience", "whitespace"),
        ({"insecure": "yes"}, "insecure", "true or false"),
        ({"deadline_seconds": -1}, "deadline_seconds", "more than zero"),
        ({"deadline_seconds": 0}, "deadline_seconds", "more than zero"),
        ({"refresh_settle_seconds": -5}, "refresh_settle_seconds", "zero or more"),
    ],
)
def test_check_reports_bad_inputs_on_the_named_property(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any], change: dict[str, Any], prop: str, reason: str
) -> None:
    failures = provider.check({}, {**inputs, **change}).failures
    assert [(failure.property, reason in failure.reason) for failure in failures] == [(prop, True)]


def test_check_failure_for_a_broken_key_does_not_echo_it(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any], rsa_key: rsa.RSAPrivateKey
) -> None:
    broken = inputs["key_json"].replace("-----END", "-----XEND")
    (failure,) = provider.check({}, {**inputs, "key_json": broken}).failures
    assert pem_body(rsa_key) not in failure.reason


def test_check_reports_an_expired_key(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any], rsa_key: rsa.RSAPrivateKey
) -> None:
    expired = key_file_text(rsa_key, expiration="2001-01-01T00:00:00Z")
    (failure,) = provider.check({}, {**inputs, "key_json": expired}).failures
    assert failure.property == "key_json"
    assert "expired at 2001-01-01T00:00:00Z" in failure.reason


def as_the_engine_sends(props: dict[str, Any]) -> dict[str, Any]:
    """``props`` as the package's provider (``provider.server``) hands them to check and diff during a preview.

    The engine marks a value computed by another resource with the unknown sentinel; the server deserializes the
    request with ``keep_unknowns=True``, which turns each sentinel into a ``pulumi.output.Unknown``
    object. Tests that pass the raw sentinel string miss exactly that step (it hid the preview bug of issue 7).
    """
    wire = struct_pb2.Struct()
    wire.update(props)
    received = rpc.deserialize_properties(wire, keep_unknowns=True)
    assert isinstance(received, dict)
    return received


#: Each input the verification takes, replaced by an unknown, as a preview of a new stack or of a
#: replaced key sends it (the key, the ids and the grants come from other resources).
UNKNOWN_AT_PREVIEW: list[tuple[str, Any]] = [
    ("key_json", UNKNOWN),
    ("issuer", UNKNOWN),
    ("insecure", UNKNOWN),
    ("org_id", UNKNOWN),
    ("audience", UNKNOWN),
    ("deadline_seconds", UNKNOWN),
    ("refresh_settle_seconds", UNKNOWN),
    ("grants", UNKNOWN),
    ("grants", [UNKNOWN]),
    ("grants", [{"level": "org", "resource_id": UNKNOWN, "roles": ["ORG_OWNER"]}]),
    ("grants", [{"level": "org", "resource_id": ORG_ID, "roles": UNKNOWN}]),
    ("grants", [{"level": "org", "resource_id": ORG_ID, "roles": ["ORG_OWNER", UNKNOWN]}]),
    (
        "grants",
        [{"level": "project_grant", "resource_id": "7", "roles": ["PROJECT_GRANT_OWNER"], "project_id": UNKNOWN}],
    ),
    ("grants", [{"level": UNKNOWN, "resource_id": ORG_ID, "roles": ["ORG_OWNER"]}]),
]


@pytest.mark.parametrize(("name", "value"), UNKNOWN_AT_PREVIEW)
def test_check_plans_with_an_input_unknown_at_preview(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any], name: str, value: Any
) -> None:
    news = as_the_engine_sends({**inputs, name: value})
    result = provider.check({}, news)
    assert result.failures == []
    assert result.inputs is news  # handed back as received: the server serializes Unknown as the sentinel again


@pytest.mark.parametrize(("name", "value"), UNKNOWN_AT_PREVIEW)
def test_diff_plans_a_change_for_an_input_unknown_at_preview(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any], name: str, value: Any
) -> None:
    result = provider.diff("id", _state(inputs), as_the_engine_sends({**inputs, name: value}))
    assert result.changes is True
    # Only another key or another issuer is another proof; an unknown one may be.
    assert result.replaces == ([name] if name in ("key_json", "issuer") else [])


def test_check_of_a_new_stack_with_every_computed_input_unknown_plans(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any]
) -> None:
    grants = [{"level": "org", "resource_id": UNKNOWN, "roles": ["ORG_OWNER"]}]
    news = as_the_engine_sends({**inputs, "key_json": UNKNOWN, "org_id": UNKNOWN, "grants": grants})
    assert provider.check({}, news).failures == []


def test_check_validates_each_value_once_it_is_known(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any]
) -> None:
    news = as_the_engine_sends({**inputs, "key_json": UNKNOWN, "issuer": "http://plain.example"})
    assert [failure.property for failure in provider.check({}, news).failures] == ["issuer"]
    news = as_the_engine_sends({**inputs, "issuer": UNKNOWN, "key_json": "{not json"})
    assert [failure.property for failure in provider.check({}, news).failures] == ["key_json"]


def test_check_skips_inputs_that_preview_leaves_out(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any]
) -> None:
    missing = {name: value for name, value in inputs.items() if name not in ("key_json", "issuer")}
    assert provider.check({}, as_the_engine_sends(missing)).failures == []


@pytest.mark.parametrize(
    "grant",
    [
        {"level": "galaxy", "resource_id": UNKNOWN, "roles": ["X"]},
        {"level": "galaxy", "resource_id": "1", "roles": UNKNOWN},
    ],
)
def test_check_still_validates_the_known_part_of_a_partly_unknown_grant(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any], grant: dict[str, Any]
) -> None:
    (failure,) = provider.check({}, as_the_engine_sends({**inputs, "grants": [grant]})).failures
    assert failure.property == "grants"
    assert "'galaxy' is unknown" in failure.reason


def test_http_issuer_is_accepted_when_insecure(provider: JwtBearerVerificationProvider, inputs: dict[str, Any]) -> None:
    assert provider.check({}, {**inputs, "issuer": "http://localhost:8080", "insecure": True}).failures == []


# --- diff ---------------------------------------------------------------------------------------------


def test_diff_reports_no_change_for_a_verified_unchanged_resource(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any]
) -> None:
    result = provider.diff("id", _state(inputs, checked_at="2026-01-01T00:00:00Z", attempts=9), dict(inputs))
    assert result.changes is False
    assert result.replaces == []


def test_diff_turns_a_lost_proof_into_an_update(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any]
) -> None:
    refreshed = _state(inputs, verified=False, failure_kind="key_rejected")
    result = provider.diff("id", refreshed, dict(inputs))
    assert result.changes is True
    assert result.replaces == []


def test_diff_treats_state_without_verified_as_a_lost_proof(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any]
) -> None:
    assert provider.diff("id", dict(inputs), dict(inputs)).changes is True


def test_diff_updates_in_place_when_grants_or_org_or_deadlines_change(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any]
) -> None:
    for change in (
        {"grants": [{"level": "org", "resource_id": ORG_ID, "roles": ["ORG_OWNER", "ORG_USER_MANAGER"]}]},
        {"org_id": "1"},
        {"audience": "170079991923474433"},
        {"deadline_seconds": 90.0},
    ):
        result = provider.diff("id", _state(inputs), {**inputs, **change})
        assert result.changes is True, change
        assert result.replaces == [], change


def test_diff_ignores_representation_only_differences(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any]
) -> None:
    news = {
        **inputs,
        "deadline_seconds": 60,
        "grants": [{"level": "org", "resource_id": ORG_ID, "roles": ("ORG_OWNER",)}],  # project_id absent
    }
    assert provider.diff("id", _state(inputs), news).changes is False


def test_diff_replaces_for_another_key_or_issuer(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any], rsa_key: rsa.RSAPrivateKey
) -> None:
    other_key = key_file_text(rsa_key, key_id="999999999999999999")
    assert provider.diff("id", _state(inputs), {**inputs, "key_json": other_key}).replaces == ["key_json"]
    assert provider.diff("id", _state(inputs), {**inputs, "issuer": "https://other.example"}).replaces == ["issuer"]


def test_diff_updates_without_replacing_when_the_same_key_is_reformatted(
    provider: JwtBearerVerificationProvider, inputs: dict[str, Any]
) -> None:
    reformatted = json.dumps(json.loads(inputs["key_json"]), indent=2)
    result = provider.diff("id", _state(inputs), {**inputs, "key_json": reformatted})
    assert result.changes is True
    assert result.replaces == []


# --- create / read / update / delete against the fake ---------------------------------------------------


def test_create_verifies_and_returns_a_stable_id_and_every_output(
    provider: JwtBearerVerificationProvider, live_inputs: dict[str, Any], fake: FakeZitadel
) -> None:
    result = provider.create(dict(live_inputs))
    assert result.id == f"{USER_ID}:{KEY_ID}"
    outs = result.outs or {}
    assert set(outs) == set(INPUT_NAMES) | set(OUTPUT_NAMES)
    assert outs["verified"] is True
    assert outs["roles_found"] == {f"org:{ORG_ID}": ["ORG_OWNER"]}
    # Refresh only gets these outputs back, so they must carry what a re-verification needs.
    assert {name: outs[name] for name in INPUT_NAMES} == live_inputs
    for token in fake.tokens:
        assert token not in json.dumps(outs)


def test_create_fails_the_deployment_with_the_clear_error(
    provider: JwtBearerVerificationProvider, live_inputs: dict[str, Any], fake: FakeZitadel
) -> None:
    fake.user_state = "USER_STATE_INACTIVE"
    with pytest.raises(TokenExchangeError, match=f"user {USER_ID} .*not active") as caught:
        provider.create(dict(live_inputs))
    assert caught.value.kind == "user_inactive"
    assert caught.value.__cause__ is None  # the engine prints the chain: keep it to the point
    assert caught.value.__suppress_context__ is True


def test_read_reports_a_lost_proof_as_verified_false_instead_of_raising(
    provider: JwtBearerVerificationProvider, live_inputs: dict[str, Any], fake: FakeZitadel
) -> None:
    prior = provider.create(dict(live_inputs)).outs or {}
    fake.keys.clear()  # the key was deleted behind Pulumi's back
    result = provider.read(f"{USER_ID}:{KEY_ID}", dict(prior))
    outs = result.outs or {}
    assert result.id == f"{USER_ID}:{KEY_ID}"
    assert outs["verified"] is False
    assert outs["failure_kind"] == "key_rejected"
    assert outs["key_json"] == live_inputs["key_json"]  # the next refresh can still re-verify
    assert provider.diff(result.id, outs, dict(live_inputs)).changes is True


def test_read_confirms_a_proof_that_still_holds(
    provider: JwtBearerVerificationProvider, live_inputs: dict[str, Any]
) -> None:
    prior = provider.create(dict(live_inputs)).outs or {}
    outs = provider.read("id", dict(prior)).outs or {}
    assert outs["verified"] is True
    assert provider.diff("id", outs, dict(live_inputs)).changes is False


def test_read_without_key_json_reports_instead_of_raising(
    provider: JwtBearerVerificationProvider, live_inputs: dict[str, Any]
) -> None:
    props = {name: value for name, value in live_inputs.items() if name != "key_json"}
    outs = provider.read("id", props).outs or {}
    assert outs["verified"] is False
    assert outs["failure_kind"] == "key_file_invalid"


@pytest.mark.parametrize(("settle", "sleeps"), [(0, False), (2, True)])
def test_read_waits_out_a_missing_grant_only_for_the_refresh_settle_time(
    provider: JwtBearerVerificationProvider,
    live_inputs: dict[str, Any],
    fake: FakeZitadel,
    settle: float,
    sleeps: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake.memberships = []  # the grant was removed
    fake_time = FakeTime()

    def real_sleep(seconds: float) -> None:
        raise AssertionError(f"the verifier slept {seconds} s on the real clock instead of the injected one")

    # A verifier that took time.sleep itself would wait on the fake monotonic clock forever: fail instead.
    monkeypatch.setattr(time, "sleep", real_sleep)
    with clock.use(clock.Clock(now=time.time, monotonic=fake_time.monotonic, sleep=fake_time.sleep)):
        outs = provider.read("id", {**live_inputs, "refresh_settle_seconds": settle}).outs or {}
    assert outs["failure_kind"] == "grant_missing"
    # The other case of the pair shows the injected sleep is the one the verifier calls.
    assert bool(fake_time.sleeps) is sleeps
    if sleeps:
        assert 1.5 <= sum(fake_time.sleeps) <= settle + 1e-6


def test_update_re_verifies_and_returns_every_output(
    provider: JwtBearerVerificationProvider, live_inputs: dict[str, Any]
) -> None:
    olds = _state(live_inputs, verified=False)
    outs = provider.update("id", olds, dict(live_inputs)).outs or {}
    assert set(outs) == set(INPUT_NAMES) | set(OUTPUT_NAMES)
    assert outs["verified"] is True
    assert outs["checked_at"].endswith("Z")


def test_update_raises_when_the_proof_still_fails(
    provider: JwtBearerVerificationProvider, live_inputs: dict[str, Any]
) -> None:
    with pytest.raises(VerificationError) as caught:
        provider.update("id", _state(live_inputs), {**live_inputs, "audience": "170079991923474433"})
    assert caught.value.kind == "audience_rejected"


def test_delete_touches_nothing_remote(
    provider: JwtBearerVerificationProvider, live_inputs: dict[str, Any], fake: FakeZitadel
) -> None:
    provider.delete("id", _state(live_inputs))
    assert fake.requests == []


# --- the resource and the engine's serialization --------------------------------------------------------


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        return "id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@pulumi.runtime.test  # type: ignore[misc]
def test_the_resource_registers_its_inputs_as_the_engine_receives_them(key_json: str) -> Any:
    """What the program sends the engine: a custom resource of the package's own provider, aliased to its 0.2
    dynamic type, with key_json as a secret, grants as plain dicts and every output declared."""
    pulumi.runtime.set_mocks(_Mocks(), project="zitadel-bootstrap", stack="unit", preview=False)
    monitor: Any = pulumi.runtime.settings.get_monitor()
    requests: list[Any] = []
    register = monitor.RegisterResource

    def recording(request: Any) -> Any:
        requests.append(request)
        return register(request)

    monitor.RegisterResource = recording

    proof = JwtBearerVerification(
        "acct-verification",
        issuer="https://acme.zitadel.cloud",
        key_json=key_json,
        grants=[Grant(level="org", resource_id=ORG_ID, roles=("ORG_OWNER",))],
        org_id=ORG_ID,
        opts=pulumi.ResourceOptions(additional_secret_outputs=["failure"], protect=True),
    )

    def check(_: Any) -> None:
        (request,) = [r for r in requests if r.name == "acct-verification"]
        assert request.type == RESOURCE_TYPE == "zitadel-bootstrap:index:JwtBearerVerification"
        assert request.custom is True
        assert [alias.spec.type for alias in request.aliases] == [FORMER_TYPE]
        assert FORMER_TYPE == "pulumi-python:dynamic/verification:JwtBearerVerification"
        assert sorted(request.additionalSecretOutputs) == ["failure", "key_json"]
        assert request.protect is True
        sent = rpc.deserialize_properties(request.object, keep_unknowns=True)
        assert rpc.is_rpc_secret(sent["key_json"]), "key_json must reach the engine as a secret"
        assert sent["grants"] == [{"level": "org", "resource_id": ORG_ID, "roles": ["ORG_OWNER"]}]
        assert set(INPUT_NAMES) <= set(sent)
        assert all(isinstance(getattr(proof, name), pulumi.Output) for name in OUTPUT_NAMES)

    return proof.urn.apply(check)


#: Where 0.2 defined each provider: its stacks' state holds them pickled by reference to these module paths.
FORMER_MODULES = [
    (JwtBearerVerificationProvider, "components.verification.provider"),
    (KeyRotationProvider, "components.key_rotation"),
]


@pytest.mark.parametrize(("provider_class", "former_module"), FORMER_MODULES, ids=["verification", "key-rotation"])
def test_a_provider_pickled_by_0_2_loads_from_its_old_module_path_in_a_fresh_process(
    monkeypatch: pytest.MonkeyPatch, inputs: dict[str, Any], provider_class: type[Any], former_module: str
) -> None:
    """Refresh and destroy of a 0.2 stack run the provider stored in its state, before the first `up` moves the
    resource to the package's provider: the engine unpickles it in a fresh process in the program's directory."""
    monkeypatch.setattr(provider_class, "__module__", former_module)  # what 0.2 pickled
    serialized = serialize_provider(provider_class())
    raw = base64.b64decode(serialized)
    assert former_module.encode() in raw
    assert len(raw) < 1000  # a reference, not pickled code
    script = (
        "import base64, json, sys, dill\n"
        "provider = dill.loads(base64.b64decode(sys.stdin.readline()))\n"
        "inputs = json.loads(sys.stdin.readline())\n"
        "from zitadel_bootstrap.key_schedule.resource import KeyRotationProvider\n"
        "if isinstance(provider, KeyRotationProvider):\n"
        "    inputs = {'account': 'ci', 'lifetime_days': 0}\n"
        "    bad = provider.check({}, inputs).failures\n"
        "    diff = provider.diff('id', {'generation': 1}, {'generation': 2})\n"
        "else:\n"
        "    bad = provider.check({}, {**inputs, 'issuer': 'http://plain.example'}).failures\n"
        "    diff = provider.diff('id', {**inputs, 'verified': False}, inputs)\n"
        "print(json.dumps({'cls': type(provider).__module__ + '.' + type(provider).__qualname__,\n"
        "                  'failures': [f.property for f in bad], 'changes': diff.changes}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        input=f"{serialized}\n{json.dumps(inputs)}\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    monkeypatch.undo()
    assert json.loads(completed.stdout) == {
        "cls": f"{provider_class.__module__}.{provider_class.__qualname__}",
        "failures": ["issuer"] if provider_class is JwtBearerVerificationProvider else ["rotate_before_days"],
        "changes": True,
    }


def test_importing_the_pure_package_does_not_import_pulumi() -> None:
    code = "import sys, zitadel_bootstrap.verification, zitadel_bootstrap.cli.verify; print('pulumi' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.stdout.strip() == "False", completed.stderr
