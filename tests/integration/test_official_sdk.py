"""Cross-check with a client this project did not write: the official ZITADEL Python SDK (zitadel-client).

Its WebTokenAuthenticator reads a key file, discovers the token endpoint, signs its own RFC 7523 assertion
and exchanges it. If the stand-in accepts what it sends and the token works on the API, the stand-in's key
files, discovery and token endpoint match what ZITADEL's own SDK expects.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from zitadel_client.auth.web_token_authenticator import WebTokenAuthenticator
from zitadel_client.exceptions import ZitadelError

from tools.standin import ACCESS_TOKEN_TYPE_BEARER, ACCESS_TOKEN_TYPE_JWT, AccessTokenType, StandIn


def _service_account(standin: StandIn, tmp_path: Path, user_name: str, token_type: AccessTokenType) -> tuple[str, Path]:
    org_id = standin.create_org(f"sdk-{user_name}")
    user_id = standin.create_machine_user(org_id, user_name, token_type)
    key_file = tmp_path / f"{user_name}.json"
    key_file.write_text(standin.add_machine_key(org_id, user_id))
    key_file.chmod(0o600)
    return user_id, key_file


def _users_me(standin: StandIn, token: str) -> httpx.Response:
    return httpx.get(f"{standin.issuer}/auth/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.mark.integration
@pytest.mark.parametrize("token_type", [ACCESS_TOKEN_TYPE_BEARER, ACCESS_TOKEN_TYPE_JWT])
def test_official_sdk_token_from_standin_key_file_works_on_users_me(
    standin: StandIn, tmp_path: Path, token_type: AccessTokenType
) -> None:
    user_id, key_file = _service_account(standin, tmp_path, f"sdk-{token_type[-3:].lower()}", token_type)

    authenticator = WebTokenAuthenticator.from_json(standin.issuer, str(key_file))
    token = authenticator.get_auth_token()

    assert (token.count(".") == 2) == (token_type == ACCESS_TOKEN_TYPE_JWT)
    me = _users_me(standin, token)
    assert me.status_code == 200, me.text
    user = me.json()["user"]
    assert user["id"] == user_id
    assert user["state"] == "USER_STATE_ACTIVE"
    assert json.loads(key_file.read_text())["userId"] == user_id


@pytest.mark.integration
def test_official_sdk_admin_key_file_written_at_start_logs_in(standin: StandIn) -> None:
    authenticator = WebTokenAuthenticator.from_json(standin.issuer, str(standin.admin_key_path))

    me = _users_me(standin, authenticator.get_auth_token())

    assert me.status_code == 200, me.text
    assert me.json()["user"]["id"] == standin.admin_user_id


@pytest.mark.integration
def test_official_sdk_is_refused_with_invalid_grant_once_its_key_is_deleted(standin: StandIn, tmp_path: Path) -> None:
    user_id, key_file = _service_account(standin, tmp_path, "sdk-revoked", ACCESS_TOKEN_TYPE_BEARER)
    standin.remove_key(user_id, json.loads(key_file.read_text())["keyId"])
    authenticator = WebTokenAuthenticator.from_json(standin.issuer, str(key_file))

    with pytest.raises(ZitadelError, match="invalid_grant"):
        authenticator.get_auth_token()


@pytest.mark.integration
def test_official_sdk_is_refused_for_a_deactivated_user(standin: StandIn, tmp_path: Path) -> None:
    user_id, key_file = _service_account(standin, tmp_path, "sdk-inactive", ACCESS_TOKEN_TYPE_BEARER)
    standin.deactivate_user(user_id)
    authenticator = WebTokenAuthenticator.from_json(standin.issuer, str(key_file))

    with pytest.raises(ZitadelError, match="NotActive"):
        authenticator.get_auth_token()
