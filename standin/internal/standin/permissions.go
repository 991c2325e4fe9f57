package standin

import (
	"slices"
	"strings"
)

// rolePermissions is a subset of ZITADEL's default RolePermissionMappings (cmd/defaults.yaml): the roles
// and permissions that matter for service-account bootstrapping. Unknown roles grant nothing.
var rolePermissions = map[string][]string{
	"IAM_OWNER": {
		"iam.read", "iam.write", "iam.policy.read", "iam.policy.write", "iam.member.read", "iam.member.write",
		"iam.member.delete", "org.read", "org.global.read", "org.create", "org.write", "org.delete",
		"org.member.read", "org.member.write", "org.member.delete", "user.read", "user.global.read", "user.write",
		"user.delete", "user.grant.read", "user.grant.write", "user.grant.delete", "user.membership.read",
		"user.credential.write", "policy.read", "policy.write", "project.read", "project.create", "project.write",
		"project.delete", "project.member.read", "project.member.write", "project.member.delete",
		"project.role.read", "project.role.write", "project.app.read", "project.app.write",
		"project.grant.read", "project.grant.write", "project.grant.member.read", "project.grant.member.write",
		"project.grant.member.delete", "events.read",
	},
	"IAM_OWNER_VIEWER": {
		"iam.read", "iam.policy.read", "iam.member.read", "org.read", "org.global.read", "org.member.read",
		"user.read", "user.global.read", "user.grant.read", "user.membership.read", "policy.read",
		"project.read", "project.member.read", "project.role.read", "project.app.read", "project.grant.read",
		"project.grant.member.read", "events.read",
	},
	"IAM_ORG_MANAGER": {
		"org.read", "org.global.read", "org.create", "org.write", "org.delete", "org.member.read",
		"org.member.write", "org.member.delete", "user.read", "user.global.read", "user.write", "user.delete",
		"user.grant.read", "user.grant.write", "user.grant.delete", "user.membership.read", "policy.read",
		"policy.write", "project.read", "project.create", "project.write", "project.delete", "project.member.read",
		"project.member.write", "project.member.delete", "project.grant.read", "project.grant.write",
		"project.grant.member.read", "project.grant.member.write", "project.grant.member.delete",
	},
	"IAM_USER_MANAGER": {
		"org.read", "org.global.read", "org.member.read", "user.read", "user.global.read", "user.write",
		"user.delete", "user.grant.read", "user.grant.write", "user.grant.delete", "user.membership.read",
	},
	"ORG_OWNER": {
		"org.read", "org.write", "org.member.read", "org.member.write", "org.member.delete", "user.read",
		"user.write", "user.delete", "user.grant.read", "user.grant.write", "user.grant.delete",
		"user.membership.read", "user.credential.write", "policy.read", "policy.write", "project.read",
		"project.create", "project.write", "project.delete", "project.member.read", "project.member.write",
		"project.member.delete", "project.role.read", "project.role.write", "project.app.read",
		"project.app.write", "project.grant.read", "project.grant.write", "project.grant.member.read",
		"project.grant.member.write", "project.grant.member.delete", "events.read",
	},
	"ORG_OWNER_VIEWER": {
		"org.read", "org.member.read", "user.read", "user.grant.read", "user.membership.read", "policy.read",
		"project.read", "project.member.read", "project.role.read", "project.app.read", "project.grant.read",
		"project.grant.member.read", "events.read",
	},
	"ORG_USER_MANAGER": {
		"org.read", "user.read", "user.write", "user.delete", "user.grant.read", "user.grant.write",
		"user.grant.delete", "user.membership.read", "policy.read", "project.read", "project.role.read",
	},
	"ORG_USER_PERMISSION_EDITOR": {
		"org.read", "org.member.read", "user.read", "user.grant.read", "user.grant.write", "user.grant.delete",
		"policy.read", "project.read", "project.role.read",
	},
	"ORG_PROJECT_PERMISSION_EDITOR": {
		"org.read", "policy.read", "project.read", "project.member.read", "project.role.read",
		"project.grant.read", "project.grant.write", "project.grant.member.read",
	},
	"ORG_PROJECT_CREATOR": {"policy.read", "project.read:self", "project.create"},
	"PROJECT_OWNER": {
		"org.global.read", "policy.read", "project.read", "project.write", "project.delete",
		"project.member.read", "project.member.write", "project.member.delete", "project.role.read",
		"project.role.write", "project.app.read", "project.app.write", "project.grant.read",
		"project.grant.write", "project.grant.member.read", "project.grant.member.write",
		"project.grant.member.delete", "user.grant.read", "user.grant.write", "user.grant.delete",
	},
	"PROJECT_OWNER_VIEWER": {
		"policy.read", "project.read", "project.member.read", "project.role.read", "project.app.read",
		"project.grant.read", "project.grant.member.read", "user.grant.read",
	},
	"PROJECT_GRANT_OWNER": {
		"policy.read", "org.global.read", "project.read", "project.grant.read", "project.grant.member.read",
		"project.grant.member.write", "project.grant.member.delete", "user.grant.read", "user.grant.write",
		"user.grant.delete",
	},
	"PROJECT_GRANT_OWNER_VIEWER": {
		"policy.read", "project.read", "project.grant.read", "project.grant.member.read", "user.grant.read",
	},
}

// validRoles are the role keys ZITADEL accepts per membership kind.
func validRole(kind, role string) bool {
	if _, ok := rolePermissions[role]; !ok {
		return false
	}
	switch kind {
	case KindIAM:
		return strings.HasPrefix(role, "IAM_")
	case KindOrg:
		return strings.HasPrefix(role, "ORG_")
	case KindProject:
		return strings.HasPrefix(role, "PROJECT_") && !strings.HasPrefix(role, "PROJECT_GRANT_")
	case KindProjectGrant:
		return strings.HasPrefix(role, "PROJECT_GRANT_")
	}
	return false
}

// permissionsOf returns the sorted, de-duplicated permissions the roles grant.
func permissionsOf(roles []string) []string {
	var out []string
	for _, r := range roles {
		out = append(out, rolePermissions[r]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
