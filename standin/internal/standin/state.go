// Package standin is a local stand-in for one ZITADEL instance, for tests and demos. It is not ZITADEL:
// it keeps its state in memory and serves only what this project's provider and verifier call.
package standin

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	authnpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authn"
	orgpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/org"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// Membership kinds, as ZITADEL's ListMyMemberships distinguishes them.
const (
	KindIAM          = "iam"
	KindOrg          = "org"
	KindProject      = "project"
	KindProjectGrant = "projectGrant"
)

// Token endpoint error styles (docs/zitadel.md at the repository root): ZITADEL after the 2026 fix, and up to v4.13.x.
const (
	StyleCurrent = "current"
	StyleLegacy  = "legacy"
)

// MaxKeyExpiration is what ZITADEL writes when a key is created without an expiration date.
var MaxKeyExpiration = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

type Org struct {
	ID            string
	Name          string
	PrimaryDomain string
	State         orgpb.OrgState
	Created       time.Time
	Changed       time.Time
	Sequence      uint64
}

type Key struct {
	ID         string
	UserID     string
	Type       authnpb.KeyType
	Expiration time.Time
	Public     *rsa.PublicKey
	Created    time.Time
	Sequence   uint64
}

type User struct {
	ID              string
	OrgID           string
	UserName        string
	Name            string
	Description     string
	AccessTokenType userpb.AccessTokenType
	State           userpb.UserState
	HasSecret       bool
	Keys            []*Key
	Created         time.Time
	Changed         time.Time
	Sequence        uint64
}

type Project struct {
	ID      string
	OrgID   string
	Name    string
	Created time.Time
}

type ProjectGrant struct {
	ID           string
	ProjectID    string
	GrantedOrgID string
	Created      time.Time
}

// Membership is a manager role assignment: on the instance, an org, a project or a project grant.
type Membership struct {
	Kind     string
	TargetID string // org, project or project grant id; the instance id for KindIAM
	UserID   string
	Roles    []string
	Created  time.Time
	Changed  time.Time
	Sequence uint64
}

// Fault is an injected failure on requests whose path starts with PathPrefix (faults.go).
type Fault struct {
	PathPrefix  string `json:"pathPrefix"`
	Status      int    `json:"status"`
	Count       int    `json:"count"` // remaining matches; negative means unlimited
	RetryAfter  string `json:"retryAfter,omitempty"`
	DelayMs     int    `json:"delayMs"`
	Body        string `json:"body,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	// After: the request is served (its change applied) and the client gets the fault's status instead of
	// the answer, like an answer lost on the way back.
	After bool `json:"after,omitempty"`
	// Subject: only token requests (JWT bearer grant) whose assertion's sub is this user id match.
	Subject string `json:"subject,omitempty"`
}

// AccessToken is an issued access token; opaque tokens are looked up by ID, JWTs carry it as jti.
type AccessToken struct {
	ID         string
	UserID     string
	Audience   []string
	Scopes     []string
	Expiration time.Time
}

// State is the whole instance. Every field is guarded by mu.
type State struct {
	mu sync.Mutex

	InstanceID   string
	InstanceName string
	IAMProjectID string
	DefaultOrgID string
	AdminUserID  string

	orgs        map[string]*Org
	orgOrder    []string
	users       map[string]*User
	userOrder   []string
	projects    map[string]*Project
	grants      map[string]*ProjectGrant
	memberships []*Membership
	tokens      map[string]*AccessToken

	keyLag        time.Duration
	membershipLag time.Duration
	reads         readModel // the management and admin APIs' reads, with their own lag (readmodel.go)
	tokenStyle    string
	faults        []*Fault

	stateFile  string // where commit saves the state; "" for none
	savedState []byte // the content last written there

	signingKey   *rsa.PrivateKey
	signingKeyID string

	sequence uint64
	lastID   uint64
	now      func() time.Time
}

func newState(now func() time.Time, defaultOrgID string) (*State, error) {
	s := &State{
		InstanceName: "ZITADEL",
		orgs:         map[string]*Org{},
		users:        map[string]*User{},
		projects:     map[string]*Project{},
		grants:       map[string]*ProjectGrant{},
		tokens:       map[string]*AccessToken{},
		reads:        newReadModel(),
		tokenStyle:   StyleCurrent,
		now:          now,
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	s.signingKey = key
	s.signingKeyID = s.newID()
	s.InstanceID = s.newID()
	org := s.addOrgWithID(defaultOrgID, "ZITADEL")
	s.DefaultOrgID = org.ID
	s.IAMProjectID = s.addProject(org.ID, "ZITADEL").ID
	return s, nil
}

// newID returns an 18-digit decimal id like ZITADEL's snowflake-style ids, strictly increasing.
func (s *State) newID() string {
	base := uint64(s.now().UnixMilli())%100_000_000_000*1_000_000 + 300_000_000_000_000_000
	if base <= s.lastID {
		base = s.lastID + 1
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(1000))
	base += n.Uint64()
	s.lastID = base
	return fmt.Sprintf("%018d", base%1_000_000_000_000_000_000)
}

func (s *State) nextSeq() uint64 {
	s.sequence++
	return s.sequence
}

func (s *State) addOrg(name string) *Org { return s.addOrgWithID("", name) }

// addOrgWithID creates an org without ZITADEL's checks (the control API may make what AddOrg refuses); an
// empty id means a new one. A name without a usable domain label gets "org", a taken domain a suffix.
func (s *State) addOrgWithID(id, name string) *Org {
	now := s.now()
	if id == "" {
		id = s.newID()
	}
	domain := orgDomain(name)
	if domain == "" {
		domain = orgDomain("org")
	}
	for s.domainTaken(domain) {
		domain = strings.Replace(domain, ".", "-"+s.newID()[12:]+".", 1)
	}
	o := &Org{ID: id, Name: name, PrimaryDomain: domain, State: orgpb.OrgState_ORG_STATE_ACTIVE,
		Created: now, Changed: now, Sequence: s.nextSeq()}
	s.orgs[o.ID] = o
	s.orgOrder = append(s.orgOrder, o.ID)
	return o
}

func (s *State) addProject(orgID, name string) *Project {
	p := &Project{ID: s.newID(), OrgID: orgID, Name: name, Created: s.now()}
	s.projects[p.ID] = p
	return p
}

// userByName finds a non-deleted user by user name within an org (ZITADEL's uniqueness scope by default).
func (s *State) userByName(orgID, userName string) *User {
	for _, id := range s.userOrder {
		u := s.users[id]
		if u != nil && u.OrgID == orgID && strings.EqualFold(u.UserName, userName) {
			return u
		}
	}
	return nil
}

func (s *State) addMachineUser(orgID, userName, name, description string, att userpb.AccessTokenType) *User {
	now := s.now()
	u := &User{ID: s.newID(), OrgID: orgID, UserName: userName, Name: name, Description: description,
		AccessTokenType: att, State: userpb.UserState_USER_STATE_ACTIVE, Created: now, Changed: now, Sequence: s.nextSeq()}
	s.users[u.ID] = u
	s.userOrder = append(s.userOrder, u.ID)
	return u
}

func (s *State) removeUser(u *User) {
	delete(s.users, u.ID)
	s.userOrder = slices.DeleteFunc(s.userOrder, func(id string) bool { return id == u.ID })
	s.memberships = slices.DeleteFunc(s.memberships, func(m *Membership) bool { return m.UserID == u.ID })
	for id, t := range s.tokens {
		if t.UserID == u.ID {
			delete(s.tokens, id)
		}
	}
}

// keyFile is ZITADEL's machine key file, fields in ZITADEL's order.
type keyFile struct {
	Type           string `json:"type"`
	KeyID          string `json:"keyId"`
	Key            string `json:"key"`
	ExpirationDate string `json:"expirationDate"`
	UserID         string `json:"userId"`
}

// addKey creates an RSA-2048 key for u and returns it with the key file JSON (PKCS#1 PEM, trailing newline).
func (s *State) addKey(u *User, expiration time.Time, public *rsa.PublicKey) (*Key, []byte, error) {
	if expiration.IsZero() {
		expiration = MaxKeyExpiration
	}
	k := &Key{ID: s.newID(), UserID: u.ID, Type: authnpb.KeyType_KEY_TYPE_JSON, Expiration: expiration.UTC(),
		Created: s.now(), Sequence: s.nextSeq()}
	var details []byte
	if public != nil {
		k.Public = public
	} else {
		private, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		k.Public = &private.PublicKey
		block := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(private)})
		details, err = json.Marshal(keyFile{Type: "serviceaccount", KeyID: k.ID, Key: string(block),
			ExpirationDate: k.Expiration.Format(time.RFC3339Nano), UserID: u.ID})
		if err != nil {
			return nil, nil, err
		}
	}
	u.Keys = append(u.Keys, k)
	u.Changed = s.now()
	return k, details, nil
}

func (u *User) key(id string) *Key {
	for _, k := range u.Keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

func (u *User) loginNames(org *Org) []string {
	if org == nil {
		return []string{u.UserName}
	}
	return []string{u.UserName + "@" + org.PrimaryDomain}
}

func (s *State) membership(kind, target, userID string) *Membership {
	for _, m := range s.memberships {
		if m.Kind == kind && m.TargetID == target && m.UserID == userID {
			return m
		}
	}
	return nil
}

func (s *State) addMembership(kind, target, userID string, roles []string) *Membership {
	now := s.now()
	m := &Membership{Kind: kind, TargetID: target, UserID: userID, Roles: slices.Clone(roles),
		Created: now, Changed: now, Sequence: s.nextSeq()}
	s.memberships = append(s.memberships, m)
	return m
}

func (s *State) removeMembership(m *Membership) {
	s.memberships = slices.DeleteFunc(s.memberships, func(x *Membership) bool { return x == m })
}

// visibleMemberships are the user's memberships that the (lagging) permission projection already shows.
func (s *State) visibleMemberships(userID string) []*Membership {
	var out []*Membership
	now := s.now()
	for _, m := range s.memberships {
		if m.UserID == userID && !now.Before(m.Created.Add(s.membershipLag)) {
			out = append(out, m)
		}
	}
	return out
}

// membershipOrg is the org a membership lives in (for project grants: the granted org).
func (s *State) membershipOrg(m *Membership) string {
	switch m.Kind {
	case KindOrg:
		return m.TargetID
	case KindProject:
		if p := s.projects[m.TargetID]; p != nil {
			return p.OrgID
		}
	case KindProjectGrant:
		if g := s.grants[m.TargetID]; g != nil {
			return g.GrantedOrgID
		}
	}
	return ""
}

func (s *State) membershipDisplayName(m *Membership) string {
	switch m.Kind {
	case KindIAM:
		return s.InstanceName
	case KindOrg:
		if o := s.orgs[m.TargetID]; o != nil {
			return o.Name
		}
	case KindProject:
		if p := s.projects[m.TargetID]; p != nil {
			return p.Name
		}
	case KindProjectGrant:
		if g := s.grants[m.TargetID]; g != nil {
			if p := s.projects[g.ProjectID]; p != nil {
				return p.Name
			}
		}
	}
	return ""
}

func (s *State) membershipResourceOwner(m *Membership) string {
	switch m.Kind {
	case KindIAM:
		return s.InstanceID
	case KindProject:
		if p := s.projects[m.TargetID]; p != nil {
			return p.OrgID
		}
	case KindProjectGrant:
		if g := s.grants[m.TargetID]; g != nil {
			if p := s.projects[g.ProjectID]; p != nil {
				return p.OrgID
			}
		}
	}
	return m.TargetID
}
