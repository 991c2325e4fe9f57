package standin

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	authpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/auth"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
)

const addMachineUserPath = "/zitadel.management.v1.ManagementService/AddMachineUser"

func (e *testEnv) userNamed(userName string) map[string]any {
	e.t.Helper()
	for _, u := range e.control(http.MethodGet, "/state", nil).Body["users"].([]any) {
		if um := u.(map[string]any); um["userName"] == userName {
			return um
		}
	}
	return nil
}

func retryDelay(t *testing.T, err error) time.Duration {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	t.Fatalf("status lacks a RetryInfo detail: %v", err)
	return 0
}

// TestGRPCFaultUnavailable: a fault on one method answers Unavailable to that method only, once.
func TestGRPCFaultUnavailable(t *testing.T) {
	e := start(t)
	m := e.mgmtClient()
	org := e.create("/orgs", map[string]string{"name": "Faulty"}, "orgId")
	ctx := e.withAuth(e.accessToken(e.admin), org)
	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": addMachineUserPath, "status": 503})
	if _, err := m.GetIAM(ctx, &mgmt.GetIAMRequest{}); err != nil {
		t.Fatalf("another method must not be faulted: %v", err)
	}
	_, err := m.AddMachineUser(ctx, &mgmt.AddMachineUserRequest{UserName: "bot", Name: "Bot"})
	wantCode(t, err, codes.Unavailable, "")
	if e.userNamed("bot") != nil {
		t.Fatal("a fault before the handler must not apply the change")
	}
	if _, err := m.AddMachineUser(ctx, &mgmt.AddMachineUserRequest{UserName: "bot", Name: "Bot"}); err != nil {
		t.Fatalf("the fault was for one call: %v", err)
	}
}

// TestGRPCFaultResourceExhaustedCarriesRetryInfo: 429 becomes ResourceExhausted with a google.rpc.RetryInfo
// of retryAfter seconds in grpc-status-details-bin, both from the interceptor (served methods) and from the
// HTTP layer's trailers-only answer (methods of services the stand-in does not serve).
func TestGRPCFaultResourceExhaustedCarriesRetryInfo(t *testing.T) {
	e := start(t)
	ctx := e.withAuth(e.accessToken(e.admin), "")
	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": "/zitadel.management.v1.ManagementService/",
		"status": 429, "retryAfter": "7", "count": 2})
	for i := 0; i < 2; i++ {
		_, err := e.mgmtClient().GetIAM(ctx, &mgmt.GetIAMRequest{})
		wantCode(t, err, codes.ResourceExhausted, "")
		if d := retryDelay(t, err); d != 7*time.Second {
			t.Fatalf("retry delay %v", d)
		}
	}
	if _, err := e.mgmtClient().GetIAM(ctx, &mgmt.GetIAMRequest{}); err != nil {
		t.Fatalf("after the count: %v", err)
	}

	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": "/zitadel.auth.v1.AuthService/", "status": 429, "retryAfter": "3"})
	_, err := authpb.NewAuthServiceClient(e.grpcConn()).GetMyUser(ctx, &authpb.GetMyUserRequest{})
	wantCode(t, err, codes.ResourceExhausted, "")
	if d := retryDelay(t, err); d != 3*time.Second {
		t.Fatalf("retry delay %v", d)
	}
	if !strings.Contains(status.Convert(err).Message(), "Too Many Requests") {
		t.Fatalf("message: %v", err)
	}
	_, err = authpb.NewAuthServiceClient(e.grpcConn()).GetMyUser(ctx, &authpb.GetMyUserRequest{})
	wantCode(t, err, codes.Unimplemented, "")

	// Without retryAfter there is no RetryInfo; other statuses map to their codes.
	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": "/zitadel.admin.v1.AdminService/GetDefaultOrg", "status": 429})
	_, err = e.adminClient().GetDefaultOrg(ctx, &admin.GetDefaultOrgRequest{})
	wantCode(t, err, codes.ResourceExhausted, "")
	if len(status.Convert(err).Details()) != 0 {
		t.Fatalf("unexpected details: %v", status.Convert(err).Details())
	}
}

// TestGRPCFaultDelayAndDeadline: a delay longer than the client's deadline ends the call with
// DeadlineExceeded and the server does not apply the change afterwards; a shorter one only slows the call.
func TestGRPCFaultDelayAndDeadline(t *testing.T) {
	e := start(t)
	m := e.mgmtClient()
	org := e.create("/orgs", map[string]string{"name": "Slow"}, "orgId")
	token := e.accessToken(e.admin)
	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": addMachineUserPath, "delayMs": 600})
	short, cancel := context.WithTimeout(e.withAuth(token, org), 150*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := m.AddMachineUser(short, &mgmt.AddMachineUserRequest{UserName: "slow", Name: "Slow"})
	wantCode(t, err, codes.DeadlineExceeded, "")
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Fatalf("the client waited %v", took)
	}
	time.Sleep(700 * time.Millisecond)
	if e.userNamed("slow") != nil {
		t.Fatal("the server applied a change after the client gave up")
	}

	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": addMachineUserPath, "delayMs": 200, "status": 0})
	began = time.Now()
	if _, err := m.AddMachineUser(e.withAuth(token, org), &mgmt.AddMachineUserRequest{UserName: "slow", Name: "Slow"}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Fatalf("the delay was not applied: %v", took)
	}

	// The same on a path the HTTP layer faults (no gRPC service behind it): the client's deadline wins.
	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": "/zitadel.auth.v1.AuthService/", "delayMs": 600, "status": 503})
	short2, cancel2 := context.WithTimeout(e.withAuth(token, org), 150*time.Millisecond)
	defer cancel2()
	_, err = authpb.NewAuthServiceClient(e.grpcConn()).GetMyUser(short2, &authpb.GetMyUserRequest{})
	wantCode(t, err, codes.DeadlineExceeded, "")
}

// TestGRPCFaultAfterHandler: with after, the change is applied but the client gets the error, so its retry
// meets AlreadyExists; the state file has the change too.
func TestGRPCFaultAfterHandler(t *testing.T) {
	e := start(t)
	m := e.mgmtClient()
	org := e.create("/orgs", map[string]string{"name": "Lost answers"}, "orgId")
	ctx := e.withAuth(e.accessToken(e.admin), org)
	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": addMachineUserPath, "status": 503, "after": true})
	_, err := m.AddMachineUser(ctx, &mgmt.AddMachineUserRequest{UserName: "ghost", Name: "Ghost"})
	wantCode(t, err, codes.Unavailable, "")
	u := e.userNamed("ghost")
	if u == nil {
		t.Fatal("an after fault must let the change through")
	}
	if got, err := m.GetUserByID(ctx, &mgmt.GetUserByIDRequest{Id: u["id"].(string)}); err != nil || got.GetUser().GetUserName() != "ghost" {
		t.Fatalf("the user created behind the error: %v %v", got, err)
	}
	_, err = m.AddMachineUser(ctx, &mgmt.AddMachineUserRequest{UserName: "ghost", Name: "Ghost"})
	wantCode(t, err, codes.AlreadyExists, "COMMAND-k2sIe")

	// A handler error stays hidden behind the fault as well (the answer is lost either way).
	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": addMachineUserPath, "status": 429, "retryAfter": "2", "after": true})
	_, err = m.AddMachineUser(ctx, &mgmt.AddMachineUserRequest{UserName: "ghost", Name: "Ghost"})
	wantCode(t, err, codes.ResourceExhausted, "")
	if d := retryDelay(t, err); d != 2*time.Second {
		t.Fatalf("retry delay %v", d)
	}

	// After faults on HTTP paths: the token is issued, the client gets the error.
	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": pathToken, "status": 502, "after": true})
	if r := e.token(e.assertion(e.admin, nil), zitadelScopes); r.Status != http.StatusBadGateway || r.Body["error"] != "server_error" {
		t.Fatalf("after fault on the token endpoint: %d %s", r.Status, r.Raw)
	}

	for _, bad := range []string{
		`{"pathPrefix":"/zitadel.management.v1.ManagementService/","after":true,"delayMs":10}`,
		`{"pathPrefix":"/zitadel.management.v1.ManagementService/","status":503,"subject":"1"}`,
		`{"pathPrefix":"/oauth/v2/token","status":503,"delayMs":-1}`,
	} {
		if r := e.do(http.MethodPost, "/_standin/faults", strings.NewReader(bad), map[string]string{"Content-Type": "application/json"}); r.Status != http.StatusBadRequest {
			t.Fatalf("%s: %d %s", bad, r.Status, r.Raw)
		}
	}
}

// TestTokenFaultForOneSubject: a token endpoint fault with a subject fails only that user's JWT bearer
// requests; others pass untouched and leave the fault's count alone.
func TestTokenFaultForOneSubject(t *testing.T) {
	e := start(t)
	org := e.create("/orgs", map[string]string{"name": "Subjects"}, "orgId")
	victim := e.machineUser(org, "victim", "")
	other := e.machineUser(org, "other", "")
	e.control(http.MethodPost, "/faults", map[string]any{"pathPrefix": pathToken, "status": 400, "count": 2,
		"subject": victim.UserID, "body": `{"error":"invalid_grant","error_description":"invalid assertion"}`})
	for i := 0; i < 3; i++ {
		e.accessToken(e.admin)
		e.accessToken(other)
	}
	if r := e.do(http.MethodPost, pathToken, strings.NewReader("grant_type=client_credentials"),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); r.Status != http.StatusBadRequest || r.Body["error"] == "invalid_grant" {
		t.Fatalf("a request without an assertion must pass through: %d %s", r.Status, r.Raw)
	}
	faults := e.control(http.MethodGet, "/state", nil).Body["faults"].([]any)
	if len(faults) != 1 || faults[0].(map[string]any)["count"] != float64(2) || faults[0].(map[string]any)["subject"] != victim.UserID {
		t.Fatalf("others' requests must not use up the fault: %v", faults)
	}
	for i := 0; i < 2; i++ {
		r := e.token(e.assertion(victim, nil), zitadelScopes)
		if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" {
			t.Fatalf("the subject's request %d: %d %s", i, r.Status, r.Raw)
		}
	}
	e.accessToken(victim)
}
