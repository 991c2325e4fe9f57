// A team's own Pulumi program in TypeScript that adopts the zitadel-bootstrap package (`pulumi package add`).
import * as pulumi from "@pulumi/pulumi";
import * as zb from "@pulumi/zitadel-bootstrap";

const config = new pulumi.Config();
const robot = new zb.ServiceAccount("robot", {
    userName: config.require("userName"),
    orgId: config.require("orgId"),
    keyLifetimeDays: 30,
});
export const userId = robot.userId;
export const verified = robot.verified;
export const keyJson = robot.keyJson;
