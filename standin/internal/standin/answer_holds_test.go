package standin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	authnpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authn"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
)

const addMachineKeyPath = "/zitadel.management.v1.ManagementService/AddMachineKey"

// TestAnswerHoldAppliesTheChangeBeforeTheAnswer: a held gRPC call is served at once (the key exists while
// the client still waits) and answered after the hold; a client that gives up during the hold gets
// DeadlineExceeded, and the key it asked for stays: what a killed client leaves in ZITADEL.
func TestAnswerHoldAppliesTheChangeBeforeTheAnswer(t *testing.T) {
	e := start(t)
	m := e.mgmtClient()
	org := e.create("/orgs", map[string]string{"name": "Held"}, "orgId")
	user := e.create("/users", map[string]string{"orgId": org, "userName": "held"}, "userId")
	token := e.accessToken(e.admin)
	keysOf := func() int { return len(e.userNamed("held")["keys"].([]any)) }

	e.control(http.MethodPost, "/answer-holds", map[string]any{"pathPrefix": addMachineKeyPath, "delayMs": 600})
	if holds := e.control(http.MethodGet, "/answer-holds", nil).Body["holds"].([]any); len(holds) != 1 {
		t.Fatalf("holds: %v", holds)
	}
	done := make(chan error, 1)
	started := time.Now()
	go func() {
		_, err := m.AddMachineKey(e.withAuth(token, org), &mgmt.AddMachineKeyRequest{UserId: user, Type: authnpb.KeyType_KEY_TYPE_JSON})
		done <- err
	}()
	deadline := time.Now().Add(2 * time.Second)
	for keysOf() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("answered before the hold ended: %v", err)
	default:
	}
	if keysOf() != 1 {
		t.Fatal("the key must exist while its answer is held")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(started); waited < 550*time.Millisecond {
		t.Fatalf("answered after %v, want the 600 ms hold", waited)
	}
	if holds := e.control(http.MethodGet, "/answer-holds", nil).Body["holds"].([]any); len(holds) != 0 {
		t.Fatalf("a hold of count 1 is used up: %v", holds)
	}

	// The client gives up during the hold: its call fails, the change stays.
	e.control(http.MethodPost, "/answer-holds", map[string]any{"pathPrefix": addMachineKeyPath, "delayMs": 5000})
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(),
		metadata.Pairs("authorization", "Bearer "+token, "x-zitadel-orgid", org)), 300*time.Millisecond)
	defer cancel()
	_, err := m.AddMachineKey(ctx, &mgmt.AddMachineKeyRequest{UserId: user, Type: authnpb.KeyType_KEY_TYPE_JSON})
	wantCode(t, err, codes.DeadlineExceeded, "")
	if keysOf() != 2 {
		t.Fatal("the key of a call whose answer was lost must stay")
	}
}

// TestAnswerHoldOnRESTAndControl: holds match by path prefix on any served path, count down, and are
// refused for control paths or without a delay; DELETE removes them.
func TestAnswerHoldOnRESTAndControl(t *testing.T) {
	e := start(t)
	token := e.accessToken(e.admin)
	e.control(http.MethodPost, "/answer-holds", map[string]any{"pathPrefix": "/auth/v1/users/me", "delayMs": 300, "count": 2})
	for i := range 2 {
		started := time.Now()
		if r := e.do(http.MethodGet, "/auth/v1/users/me", nil, map[string]string{"Authorization": "Bearer " + token}); r.Status != http.StatusOK {
			t.Fatalf("users/me: %d %s", r.Status, r.Raw)
		}
		if waited := time.Since(started); waited < 250*time.Millisecond {
			t.Fatalf("call %d answered after %v", i, waited)
		}
	}
	started := time.Now()
	e.do(http.MethodGet, "/auth/v1/users/me", nil, map[string]string{"Authorization": "Bearer " + token})
	if waited := time.Since(started); waited > 250*time.Millisecond {
		t.Fatalf("the hold was for two calls, the third waited %v", waited)
	}

	for _, bad := range []map[string]any{
		{"pathPrefix": "/_standin/state", "delayMs": 100},
		{"pathPrefix": "auth", "delayMs": 100},
		{"pathPrefix": "/auth/", "delayMs": 0},
		{"pathPrefix": "/auth/", "delayMs": 600_001},
	} {
		if r := e.do(http.MethodPost, "/_standin/answer-holds", jsonBody(bad), nil); r.Status != http.StatusBadRequest {
			t.Fatalf("%v: %d %s", bad, r.Status, r.Raw)
		}
	}
	e.control(http.MethodPost, "/answer-holds", map[string]any{"pathPrefix": "/auth/", "delayMs": 100, "count": -1})
	e.control(http.MethodDelete, "/answer-holds", nil)
	if holds := e.control(http.MethodGet, "/answer-holds", nil).Body["holds"].([]any); len(holds) != 0 {
		t.Fatalf("holds after DELETE: %v", holds)
	}
}

func jsonBody(v any) *strings.Reader {
	raw, _ := json.Marshal(v)
	return strings.NewReader(string(raw))
}
