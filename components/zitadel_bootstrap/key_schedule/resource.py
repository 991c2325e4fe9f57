"""``KeyRotation``: the schedule of one account's machine key, a custom resource of the package's provider.

It sits before the key: the MachineKey's ``expiration_date`` is this resource's ``expires_at``. When a key is
due (``zitadel_bootstrap.key_schedule.plan.plan``), ``check`` plans a new schedule: the new expiry date replaces
the MachineKey, and Pulumi's default create-before-delete replacement then does what careful teams do by hand:
create the new key, verify it (the verification depends on the key), and only at the end of a successful update
delete the old key. If the new key's verification fails, the update stops before that: the old key stays in
ZITADEL and in state, and the next `pulumi up` completes the rotation.

``check`` plans (it may be called many times; it keeps the current schedule unless something is due), ``diff``
reports a new schedule, and a fixed expiry inside its rotation window, as a change, so that
`pulumi preview --refresh --expect-no-changes` exits 7; ``read`` recomputes days left and whether rotation is
due; ``create``, ``update`` and ``delete`` touch nothing remote. Time comes from ``zitadel_bootstrap.clock``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi import dynamic

from zitadel_bootstrap import clock
from zitadel_bootstrap.key_schedule.plan import KeyPolicy, Plan, Schedule, plan, status
from zitadel_bootstrap.limits import NO_EXPIRATION

POLICY_NAMES = ("lifetime_days", "fixed_expiration", "rotate_before_days", "generation")
SCHEDULE_NAMES = ("issued_at", "expires_at", "rotate_at")
#: Set by check for this run only: why the key rotates now, or why it needs attention. Not compared by diff, and
#: never kept in the outputs: the provider logs it as a warning of the run whose check found it (``provider.server``),
#: so it is printed while it is true and not again from state by every later run.
REASON = "rotation_reason"
STATUS_NAMES = ("days_left", "due", "checked_at", "summary")


def _policy(props: Mapping[str, Any]) -> KeyPolicy:
    def optional_int(name: str) -> int | None:
        value = props.get(name)
        return None if value is None else int(value)

    return KeyPolicy(
        lifetime_days=optional_int("lifetime_days"),
        fixed_expiration=props.get("fixed_expiration") or None,
        rotate_before_days=optional_int("rotate_before_days"),
        generation=int(props.get("generation") or 0),
    )


def _schedule(props: Mapping[str, Any]) -> Schedule | None:
    if not props.get("issued_at"):
        return None
    expires_at = props.get("expires_at")
    return Schedule(
        issued_at=props["issued_at"],
        expires_at=None if expires_at in (None, "", NO_EXPIRATION) else expires_at,
        rotate_at=props.get("rotate_at") or None,
        policy=_policy(props),
    )


def _planned(props: Mapping[str, Any], decided: Plan) -> dict[str, Any]:
    planned = {name: props.get(name) for name in ("account", *POLICY_NAMES)}
    planned.update(
        issued_at=decided.schedule.issued_at,
        # Never None: an absent output is unknown in a preview, which would plan to replace the key every time.
        expires_at=decided.schedule.expires_at or NO_EXPIRATION,
        rotate_at=decided.schedule.rotate_at,
    )
    planned[REASON] = f"{props.get('account')}: {decided.reason}" if decided.reason else None
    return planned


def _with_status(props: Mapping[str, Any]) -> dict[str, Any]:
    outs = {name: value for name, value in props.items() if name != REASON}
    schedule = _schedule(props)
    now = clock.current().utcnow()
    current = status(schedule, now) if schedule else None
    outs["days_left"] = current.days_left if current else None
    outs["due"] = current.due if current else False
    outs["checked_at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    # One output that is never null (a null output is unknown in a preview): what stays put while nothing changes.
    summary = {"expiresAt": outs.get("expires_at"), "rotateAt": outs.get("rotate_at"), "rotationDue": outs["due"]}
    outs["summary"] = {name: value for name, value in summary.items() if value is not None}
    return outs


class KeyRotationProvider(dynamic.ResourceProvider):
    """What the package's provider does for ``KeyRotation``: bookkeeping only, nothing remote."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        try:
            policy = _policy(news)
        except (TypeError, ValueError) as error:
            return dynamic.CheckResult(
                news, [dynamic.CheckFailure("rotate_before_days", f"{news.get('account')}: {error}")]
            )
        decided = plan(policy, _schedule(olds), clock.current().utcnow())
        return dynamic.CheckResult({**news, **_planned(news, decided)}, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [name for name in (*POLICY_NAMES, *SCHEDULE_NAMES) if olds.get(name) != news.get(name)]
        # A fixed expiry inside its window cannot be rotated by `up`, but must keep showing as drift.
        attention = bool(news.get(REASON)) and not changed
        return dynamic.DiffResult(changes=bool(changed) or attention, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        return dynamic.CreateResult(f"{props.get('account')}-key-rotation", _with_status(props))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        return dynamic.ReadResult(id_, _with_status(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(_with_status(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return


#: The resource's type: a custom resource of this package's own provider (``zitadel_bootstrap.provider``).
RESOURCE_TYPE = "zitadel-bootstrap:index:KeyRotation"
#: Its type up to 0.2, as a ``pulumi.dynamic`` resource: the alias that carries existing stacks over unchanged.
FORMER_TYPE = "pulumi-python:dynamic/rotation:KeyRotation"


class KeyRotation(pulumi.CustomResource):
    """The schedule of one account's machine key: expiry, rotation window, days left."""

    expires_at: pulumi.Output[str]
    """The key's expiration date (ZITADEL's 9999-12-31T23:59:59Z: it never expires); the MachineKey's
    ``expiration_date``."""
    rotate_at: pulumi.Output[str | None]
    issued_at: pulumi.Output[str]
    days_left: pulumi.Output[int | None]
    due: pulumi.Output[bool]
    checked_at: pulumi.Output[str]
    summary: pulumi.Output[dict[str, Any]]
    """expiresAt, rotateAt (when there is one) and rotationDue."""

    def __init__(
        self,
        resource_name: str,
        *,
        account: str,
        policy: KeyPolicy,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "account": account,
            "lifetime_days": policy.lifetime_days,
            "fixed_expiration": policy.fixed_expiration,
            "rotate_before_days": policy.rotate_before_days,
            "generation": policy.generation,
        }
        props.update({name: None for name in (*SCHEDULE_NAMES, REASON, *STATUS_NAMES)})
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=FORMER_TYPE)]))
        super().__init__(RESOURCE_TYPE, resource_name, props, opts)
