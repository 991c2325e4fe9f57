package standin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// The control API (/_standin/...) lets tests read the state and change it behind the provider's back.
// It needs no token: the stand-in listens on loopback only and is for tests and demos.
type controlAPI struct {
	st     *State
	issuer string
}

type controlError struct {
	status int
	msg    string
}

func (e *controlError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &controlError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}
func notFound(format string, a ...any) error {
	return &controlError{http.StatusNotFound, fmt.Sprintf(format, a...)}
}
func conflict(format string, a ...any) error {
	return &controlError{http.StatusConflict, fmt.Sprintf(format, a...)}
}

// handle wraps a control endpoint: decodes the JSON body into In, runs fn under the state lock, commits a
// change (read model, state file) and writes the JSON result (or {"error": ...} with 400/404/409).
func handle[In any](st *State, fn func(r *http.Request, in *In) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := new(In)
		if r.ContentLength != 0 && r.Body != nil {
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(in); err != nil && !errors.Is(err, io.EOF) {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
				return
			}
		}
		st.mu.Lock()
		out, err := fn(r, in)
		if r.Method != http.MethodGet {
			st.commit()
		}
		st.mu.Unlock()
		if err != nil {
			code := http.StatusInternalServerError
			var ce *controlError
			if errors.As(err, &ce) {
				code = ce.status
			}
			writeJSON(w, code, map[string]string{"error": err.Error()})
			return
		}
		if out == nil {
			out = map[string]any{}
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type empty struct{}

type createOrgIn struct {
	Name string `json:"name"`
}

type createUserIn struct {
	OrgID           string `json:"orgId"`
	UserName        string `json:"userName"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	AccessTokenType string `json:"accessTokenType"`
}

type addKeyIn struct {
	OrgID          string `json:"orgId"`
	ExpirationDate string `json:"expirationDate"`
}

type memberIn struct {
	UserID string   `json:"userId"`
	Roles  []string `json:"roles"`
}

type rolesIn struct {
	Roles []string `json:"roles"`
}

type createProjectIn struct {
	OrgID string `json:"orgId"`
	Name  string `json:"name"`
}

type createGrantIn struct {
	GrantedOrgID string `json:"grantedOrgId"`
}

type lagIn struct {
	KeysMs            int `json:"keysMs"`
	MembershipsMs     int `json:"membershipsMs"`
	ManagementReadsMs int `json:"managementReadsMs"`
}

type styleIn struct {
	Style string `json:"style"`
}

func (c *controlAPI) routes(mux *http.ServeMux) {
	st := c.st
	mux.HandleFunc("GET /_standin/state", handle(st, func(*http.Request, *empty) (any, error) { return c.snapshot(), nil }))
	mux.HandleFunc("POST /_standin/reset", handle(st, func(*http.Request, *empty) (any, error) {
		st.faults, st.keyLag, st.membershipLag, st.reads.lag, st.tokenStyle = nil, 0, 0, 0, StyleCurrent
		return nil, nil
	}))
	mux.HandleFunc("POST /_standin/orgs", handle(st, func(_ *http.Request, in *createOrgIn) (any, error) {
		if strings.TrimSpace(in.Name) == "" {
			return nil, badRequest("name is required")
		}
		return map[string]string{"orgId": st.addOrg(in.Name).ID}, nil
	}))
	mux.HandleFunc("POST /_standin/users", handle(st, c.createUser))
	mux.HandleFunc("POST /_standin/users/{userId}/keys", handle(st, c.addKey))
	mux.HandleFunc("DELETE /_standin/users/{userId}/keys/{keyId}", handle(st, func(r *http.Request, _ *empty) (any, error) {
		u, err := c.user(r)
		if err != nil {
			return nil, err
		}
		if !u.removeKey(r.PathValue("keyId")) {
			return nil, notFound("key %s of user %s not found", r.PathValue("keyId"), u.ID)
		}
		return nil, nil
	}))
	mux.HandleFunc("POST /_standin/users/{userId}/_deactivate", handle(st, c.setUserState(userpb.UserState_USER_STATE_INACTIVE)))
	mux.HandleFunc("POST /_standin/users/{userId}/_reactivate", handle(st, c.setUserState(userpb.UserState_USER_STATE_ACTIVE)))
	mux.HandleFunc("DELETE /_standin/users/{userId}", handle(st, func(r *http.Request, _ *empty) (any, error) {
		u, err := c.user(r)
		if err != nil {
			return nil, err
		}
		st.removeUser(u)
		return nil, nil
	}))

	// Memberships of every kind: /_standin/<scope>/members[/{userId}].
	scopes := []struct {
		path string
		kind string
		find func(id string) bool
	}{
		{"orgs/{targetId}", KindOrg, func(id string) bool { return st.orgs[id] != nil }},
		{"instance", KindIAM, nil},
		{"projects/{targetId}", KindProject, func(id string) bool { return st.projects[id] != nil }},
		{"project-grants/{targetId}", KindProjectGrant, func(id string) bool { return st.grants[id] != nil }},
	}
	for _, sc := range scopes {
		target := func(r *http.Request) (string, error) {
			if sc.kind == KindIAM {
				return st.InstanceID, nil
			}
			id := r.PathValue("targetId")
			if !sc.find(id) {
				return "", notFound("%s %s not found", sc.kind, id)
			}
			return id, nil
		}
		mux.HandleFunc("POST /_standin/"+sc.path+"/members", handle(st, func(r *http.Request, in *memberIn) (any, error) {
			t, err := target(r)
			if err != nil {
				return nil, err
			}
			if st.users[in.UserID] == nil {
				return nil, notFound("user %s not found", in.UserID)
			}
			if len(in.Roles) == 0 {
				return nil, badRequest("roles must not be empty")
			}
			if st.membership(sc.kind, t, in.UserID) != nil {
				return nil, conflict("user %s is already a member", in.UserID)
			}
			st.addMembership(sc.kind, t, in.UserID, in.Roles)
			return nil, nil
		}))
		existing := func(r *http.Request) (*Membership, error) {
			t, err := target(r)
			if err != nil {
				return nil, err
			}
			m := st.membership(sc.kind, t, r.PathValue("userId"))
			if m == nil {
				return nil, notFound("membership of user %s not found", r.PathValue("userId"))
			}
			return m, nil
		}
		mux.HandleFunc("PUT /_standin/"+sc.path+"/members/{userId}", handle(st, func(r *http.Request, in *rolesIn) (any, error) {
			m, err := existing(r)
			if err != nil {
				return nil, err
			}
			if len(in.Roles) == 0 {
				return nil, badRequest("roles must not be empty")
			}
			m.Roles = slices.Clone(in.Roles)
			m.Changed, m.Sequence = st.now(), st.nextSeq()
			return nil, nil
		}))
		mux.HandleFunc("DELETE /_standin/"+sc.path+"/members/{userId}", handle(st, func(r *http.Request, _ *empty) (any, error) {
			m, err := existing(r)
			if err != nil {
				return nil, err
			}
			st.removeMembership(m)
			return nil, nil
		}))
	}

	mux.HandleFunc("POST /_standin/projects", handle(st, func(_ *http.Request, in *createProjectIn) (any, error) {
		if st.orgs[in.OrgID] == nil {
			return nil, notFound("org %s not found", in.OrgID)
		}
		if strings.TrimSpace(in.Name) == "" {
			return nil, badRequest("name is required")
		}
		return map[string]string{"projectId": st.addProject(in.OrgID, in.Name).ID}, nil
	}))
	mux.HandleFunc("POST /_standin/projects/{projectId}/grants", handle(st, func(r *http.Request, in *createGrantIn) (any, error) {
		p := st.projects[r.PathValue("projectId")]
		if p == nil {
			return nil, notFound("project %s not found", r.PathValue("projectId"))
		}
		if st.orgs[in.GrantedOrgID] == nil {
			return nil, notFound("org %s not found", in.GrantedOrgID)
		}
		g := &ProjectGrant{ID: st.newID(), ProjectID: p.ID, GrantedOrgID: in.GrantedOrgID, Created: st.now()}
		st.grants[g.ID] = g
		return map[string]string{"grantId": g.ID}, nil
	}))
	mux.HandleFunc("PUT /_standin/lag", handle(st, func(_ *http.Request, in *lagIn) (any, error) {
		if in.KeysMs < 0 || in.MembershipsMs < 0 || in.ManagementReadsMs < 0 {
			return nil, badRequest("lag must not be negative")
		}
		if time.Duration(in.ManagementReadsMs)*time.Millisecond > maxManagementReadLag {
			return nil, badRequest("managementReadsMs must not exceed %d", maxManagementReadLag.Milliseconds())
		}
		st.keyLag = time.Duration(in.KeysMs) * time.Millisecond
		st.membershipLag = time.Duration(in.MembershipsMs) * time.Millisecond
		st.reads.lag = time.Duration(in.ManagementReadsMs) * time.Millisecond
		return nil, nil
	}))
	mux.HandleFunc("POST /_standin/faults", handle(st, func(_ *http.Request, in *Fault) (any, error) {
		if in.PathPrefix == "" || !strings.HasPrefix(in.PathPrefix, "/") {
			return nil, badRequest("pathPrefix must start with /")
		}
		if strings.HasPrefix(in.PathPrefix, controlPrefix) {
			return nil, badRequest("the control API cannot be faulted")
		}
		if in.Status != 0 && (in.Status < 400 || in.Status > 599) {
			return nil, badRequest("status must be 0 (delay only) or 400-599")
		}
		if in.Status == 0 && in.DelayMs == 0 {
			return nil, badRequest("a fault needs a status or a delay")
		}
		if in.DelayMs < 0 {
			return nil, badRequest("delayMs must not be negative")
		}
		if in.After && in.Status == 0 {
			return nil, badRequest("an after fault needs a status")
		}
		if in.Subject != "" && !strings.HasPrefix(pathToken, in.PathPrefix) && !strings.HasPrefix(in.PathPrefix, pathToken) {
			return nil, badRequest("subject applies to the token endpoint %s only", pathToken)
		}
		if in.Count == 0 {
			in.Count = 1
		}
		st.faults = append(st.faults, in)
		return nil, nil
	}))
	mux.HandleFunc("DELETE /_standin/faults", handle(st, func(*http.Request, *empty) (any, error) {
		st.faults = nil
		return nil, nil
	}))
	mux.HandleFunc("PUT /_standin/token-error-style", handle(st, func(_ *http.Request, in *styleIn) (any, error) {
		if in.Style != StyleCurrent && in.Style != StyleLegacy {
			return nil, badRequest("style must be %q or %q", StyleCurrent, StyleLegacy)
		}
		st.tokenStyle = in.Style
		return nil, nil
	}))
	mux.HandleFunc(controlPrefix, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control endpoint"})
	})
}

func (c *controlAPI) user(r *http.Request) (*User, error) {
	u := c.st.users[r.PathValue("userId")]
	if u == nil {
		return nil, notFound("user %s not found", r.PathValue("userId"))
	}
	return u, nil
}

func (c *controlAPI) createUser(_ *http.Request, in *createUserIn) (any, error) {
	st := c.st
	if st.orgs[in.OrgID] == nil {
		return nil, notFound("org %s not found", in.OrgID)
	}
	if strings.TrimSpace(in.UserName) == "" {
		return nil, badRequest("userName is required")
	}
	att := userpb.AccessTokenType_ACCESS_TOKEN_TYPE_BEARER
	if in.AccessTokenType != "" {
		v, ok := userpb.AccessTokenType_value[in.AccessTokenType]
		if !ok {
			return nil, badRequest("accessTokenType must be ACCESS_TOKEN_TYPE_BEARER or ACCESS_TOKEN_TYPE_JWT")
		}
		att = userpb.AccessTokenType(v)
	}
	if st.userByName(in.OrgID, in.UserName) != nil {
		return nil, conflict("user name %q already exists in org %s", in.UserName, in.OrgID)
	}
	name := in.Name
	if name == "" {
		name = in.UserName
	}
	return map[string]string{"userId": st.addMachineUser(in.OrgID, in.UserName, name, in.Description, att).ID}, nil
}

func (c *controlAPI) addKey(r *http.Request, in *addKeyIn) (any, error) {
	u, err := c.user(r)
	if err != nil {
		return nil, err
	}
	if in.OrgID != "" && in.OrgID != u.OrgID {
		return nil, notFound("user %s is not in org %s", u.ID, in.OrgID)
	}
	var exp time.Time
	if in.ExpirationDate != "" {
		if exp, err = time.Parse(time.RFC3339, in.ExpirationDate); err != nil {
			return nil, badRequest("expirationDate must be RFC 3339: %v", err)
		}
		// Tests need already expired keys, which the management API refuses to create.
	}
	k, details, err := c.st.addKey(u, exp, nil)
	if err != nil {
		return nil, err
	}
	return map[string]string{"keyId": k.ID, "keyDetails": string(details)}, nil
}

func (c *controlAPI) setUserState(state userpb.UserState) func(*http.Request, *empty) (any, error) {
	return func(r *http.Request, _ *empty) (any, error) {
		u, err := c.user(r)
		if err != nil {
			return nil, err
		}
		u.State = state
		u.Changed, u.Sequence = c.st.now(), c.st.nextSeq()
		return nil, nil
	}
}

// snapshot is the whole state as JSON, without key material or tokens.
func (c *controlAPI) snapshot() map[string]any {
	st := c.st
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	orgs := []map[string]any{}
	for _, id := range st.orgOrder {
		if o := st.orgs[id]; o != nil {
			orgs = append(orgs, map[string]any{"id": o.ID, "name": o.Name, "primaryDomain": o.PrimaryDomain,
				"state": o.State.String()})
		}
	}
	users := []map[string]any{}
	for _, id := range st.userOrder {
		u := st.users[id]
		if u == nil {
			continue
		}
		keys := []map[string]any{}
		for _, k := range u.Keys {
			keys = append(keys, map[string]any{"id": k.ID, "type": k.Type.String(),
				"expirationDate": ts(k.Expiration), "createdAt": ts(k.Created)})
		}
		users = append(users, map[string]any{"id": u.ID, "orgId": u.OrgID, "userName": u.UserName, "name": u.Name,
			"description": u.Description, "state": u.State.String(), "accessTokenType": u.AccessTokenType.String(),
			"hasSecret": u.HasSecret, "keys": keys})
	}
	memberships := []map[string]any{}
	for _, m := range st.memberships {
		memberships = append(memberships, map[string]any{"kind": m.Kind, "targetId": m.TargetID, "userId": m.UserID,
			"roles": m.Roles, "createdAt": ts(m.Created)})
	}
	projects := []map[string]any{}
	for _, p := range st.projects {
		projects = append(projects, map[string]any{"id": p.ID, "orgId": p.OrgID, "name": p.Name})
	}
	slices.SortFunc(projects, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	grants := []map[string]any{}
	for _, g := range st.grants {
		grants = append(grants, map[string]any{"id": g.ID, "projectId": g.ProjectID, "grantedOrgId": g.GrantedOrgID})
	}
	faults := []*Fault{}
	faults = append(faults, st.faults...)
	return map[string]any{
		"issuer": c.issuer, "instanceId": st.InstanceID, "iamProjectId": st.IAMProjectID,
		"defaultOrgId": st.DefaultOrgID, "adminUserId": st.AdminUserID, "tokenErrorStyle": st.tokenStyle,
		"lag": map[string]int64{"keysMs": st.keyLag.Milliseconds(), "membershipsMs": st.membershipLag.Milliseconds(),
			"managementReadsMs": st.reads.lag.Milliseconds()},
		"faults": faults, "orgs": orgs, "users": users, "memberships": memberships, "projects": projects,
		"projectGrants": grants,
	}
}
