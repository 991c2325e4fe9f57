package standin

import (
	"net/http"
	"path/filepath"
	"testing"
)

// TestStateFileSurvivesRestart pins what make demo relies on: a restarted stand-in keeps its orgs, users,
// public keys and memberships, keeps the requested default org id, and reuses a still valid admin key file.
func TestStateFileSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Listen: "127.0.0.1:0", AdminKeyFile: filepath.Join(dir, "admin.json"),
		StateFile: filepath.Join(dir, "state.json"), DefaultOrgID: "300000000000000001"}
	first := startWith(t, cfg)
	if first.srv.Info.DefaultOrgID != "300000000000000001" {
		t.Fatalf("default org id %s", first.srv.Info.DefaultOrgID)
	}
	k := first.machineUser(cfg.DefaultOrgID, "keeper", "", "ORG_OWNER")
	stop(first.srv)

	second := startWith(t, cfg)
	if second.srv.Info.InstanceID != first.srv.Info.InstanceID || second.admin.KeyID != first.admin.KeyID {
		t.Fatalf("instance or admin key changed across the restart")
	}
	auth := map[string]string{"Authorization": "Bearer " + second.accessToken(k)}
	if r := second.do(http.MethodGet, "/management/v1/orgs/me", nil, auth); r.Status != http.StatusOK {
		t.Fatalf("the restored user's key and membership: %d %s", r.Status, r.Raw)
	}
	stop(second.srv)

	cfg.DefaultOrgID = "300000000000000002"
	if _, err := New(cfg); err == nil {
		t.Fatalf("a state file with another default org must be refused")
	}
}
