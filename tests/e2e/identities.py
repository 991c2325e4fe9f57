"""The identities the zitadel plugin would create, made through the stand-in's control API instead."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from tools.standin import StandIn

OWNER = ("ORG_OWNER",)


@dataclass
class Identity:
    """One service account: its org, machine user, current key and every key it ever had (for the leak scan)."""

    org_id: str
    user_id: str
    key_id: str
    key_json: str
    roles: tuple[str, ...] = OWNER
    all_keys: list[str] = field(default_factory=list)

    def stack_config(self, issuer: str, **overrides: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """(plain config, secret config) of the verification program for this identity."""
        plain: dict[str, Any] = {
            "issuer": issuer,
            "insecure": True,
            "orgId": self.org_id,
            "roles": list(self.roles),
            "deadlineSeconds": 30,
            # Refresh reports a lost proof at once: no lag is configured while drift is checked.
            "refreshSettleSeconds": 0,
        }
        plain.update(overrides)
        return plain, {"keyJson": self.key_json}


def provision(standin: StandIn, name: str, roles: tuple[str, ...] = OWNER) -> Identity:
    """A fresh org with a machine user, a JSON key and an org membership, as the ServiceAccount declares them."""
    suffix = uuid.uuid4().hex[:8]
    org_id = standin.create_org(f"e2e-{name}-{suffix}")
    user_id = standin.create_machine_user(org_id, f"{name}-{suffix}")
    key_id, key_json = new_key(standin, org_id, user_id)
    standin.add_org_member(org_id, user_id, list(roles))
    return Identity(org_id, user_id, key_id, key_json, roles, [key_json])


def new_key(standin: StandIn, org_id: str, user_id: str) -> tuple[str, str]:
    """(key id, key file text) of a new JSON key, as ``MachineKey.key_details`` would hold it."""
    key_json = standin.add_machine_key(org_id, user_id)
    return str(json.loads(key_json)["keyId"]), key_json
