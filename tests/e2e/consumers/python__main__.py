"""A team's own Pulumi program in Python that adopts the zitadel-bootstrap package (pip install)."""

import pulumi
from zitadel_bootstrap import ServiceAccount, ServiceAccountArgs

config = pulumi.Config()
robot = ServiceAccount(
    "robot",
    ServiceAccountArgs(user_name=config.require("userName"), org_id=config.require("orgId"), key_lifetime_days=30),
)
pulumi.export("userId", robot.user_id)
pulumi.export("verified", robot.verified)
pulumi.export("keyJson", robot.key_json)
