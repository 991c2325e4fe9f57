package standin

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	authnpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authn"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// The state file lets a stand-in outlive its process the way a real instance's database does (make demo
// re-runs find what the last run created). It holds public keys only: private key material exists solely in
// the key files handed out at creation. Tokens, lag, faults and the error style are not kept.
// It is written (commit in readmodel.go) after every change and before the answer to the call that made it,
// through a temporary file renamed over the old one, so a process killed at any moment (SIGKILL) leaves
// either the old or the new file, never a torn one, and never loses a change a client was told about.

type savedKey struct {
	ID         string    `json:"id"`
	Expiration time.Time `json:"expiration"`
	Created    time.Time `json:"created"`
	Sequence   uint64    `json:"sequence"`
	PublicKey  string    `json:"publicKey"`
}

type savedUser struct {
	ID              string     `json:"id"`
	OrgID           string     `json:"orgId"`
	UserName        string     `json:"userName"`
	Name            string     `json:"name"`
	Description     string     `json:"description"`
	AccessTokenType string     `json:"accessTokenType"`
	State           string     `json:"state"`
	HasSecret       bool       `json:"hasSecret"`
	Keys            []savedKey `json:"keys"`
	Created         time.Time  `json:"created"`
	Changed         time.Time  `json:"changed"`
	Sequence        uint64     `json:"sequence"`
}

type savedState struct {
	Version      int            `json:"version"`
	InstanceID   string         `json:"instanceId"`
	IAMProjectID string         `json:"iamProjectId"`
	DefaultOrgID string         `json:"defaultOrgId"`
	AdminUserID  string         `json:"adminUserId"`
	Sequence     uint64         `json:"sequence"`
	LastID       uint64         `json:"lastId"`
	Orgs         []Org          `json:"orgs"`
	Users        []savedUser    `json:"users"`
	Projects     []Project      `json:"projects"`
	Grants       []ProjectGrant `json:"projectGrants"`
	Memberships  []Membership   `json:"memberships"`
}

const stateVersion = 1

// savedForm is the state as the state file holds it, in a stable order; the caller holds s.mu.
func (s *State) savedForm() (*savedState, error) {
	out := &savedState{Version: stateVersion, InstanceID: s.InstanceID, IAMProjectID: s.IAMProjectID,
		DefaultOrgID: s.DefaultOrgID, AdminUserID: s.AdminUserID, Sequence: s.sequence, LastID: s.lastID}
	for _, id := range s.orgOrder {
		if o := s.orgs[id]; o != nil {
			out.Orgs = append(out.Orgs, *o)
		}
	}
	for _, id := range s.userOrder {
		u := s.users[id]
		if u == nil {
			continue
		}
		su := savedUser{ID: u.ID, OrgID: u.OrgID, UserName: u.UserName, Name: u.Name, Description: u.Description,
			AccessTokenType: u.AccessTokenType.String(), State: u.State.String(), HasSecret: u.HasSecret,
			Created: u.Created, Changed: u.Changed, Sequence: u.Sequence}
		for _, k := range u.Keys {
			der, err := x509.MarshalPKIXPublicKey(k.Public)
			if err != nil {
				return nil, err
			}
			su.Keys = append(su.Keys, savedKey{ID: k.ID, Expiration: k.Expiration, Created: k.Created, Sequence: k.Sequence,
				PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
		}
		out.Users = append(out.Users, su)
	}
	for _, p := range s.projects {
		out.Projects = append(out.Projects, *p)
	}
	slices.SortFunc(out.Projects, func(a, b Project) int { return strings.Compare(a.ID, b.ID) })
	for _, g := range s.grants {
		out.Grants = append(out.Grants, *g)
	}
	slices.SortFunc(out.Grants, func(a, b ProjectGrant) int { return strings.Compare(a.ID, b.ID) })
	for _, m := range s.memberships {
		out.Memberships = append(out.Memberships, *m)
	}
	return out, nil
}

// load replaces the state's objects with those of a state file.
func (s *State) load(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var in savedState
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if in.Version != stateVersion {
		return fmt.Errorf("state file %s has version %d, this stand-in reads %d: delete it to start afresh", path, in.Version, stateVersion)
	}
	s.InstanceID, s.IAMProjectID, s.DefaultOrgID, s.AdminUserID = in.InstanceID, in.IAMProjectID, in.DefaultOrgID, in.AdminUserID
	s.sequence, s.lastID = in.Sequence, in.LastID
	s.orgs, s.orgOrder = map[string]*Org{}, nil
	for i := range in.Orgs {
		o := in.Orgs[i]
		s.orgs[o.ID] = &o
		s.orgOrder = append(s.orgOrder, o.ID)
	}
	s.users, s.userOrder = map[string]*User{}, nil
	for _, su := range in.Users {
		u := &User{ID: su.ID, OrgID: su.OrgID, UserName: su.UserName, Name: su.Name, Description: su.Description,
			AccessTokenType: userpb.AccessTokenType(userpb.AccessTokenType_value[su.AccessTokenType]),
			State:           userpb.UserState(userpb.UserState_value[su.State]), HasSecret: su.HasSecret,
			Created: su.Created, Changed: su.Changed, Sequence: su.Sequence}
		for _, sk := range su.Keys {
			block, _ := pem.Decode([]byte(sk.PublicKey))
			if block == nil {
				return fmt.Errorf("state file %s: key %s has no public key", path, sk.ID)
			}
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return err
			}
			rsaPub, ok := pub.(*rsa.PublicKey)
			if !ok {
				return errors.New("state file: only RSA keys are supported")
			}
			u.Keys = append(u.Keys, &Key{ID: sk.ID, UserID: u.ID, Type: authnpb.KeyType_KEY_TYPE_JSON, Expiration: sk.Expiration,
				Public: rsaPub, Created: sk.Created, Sequence: sk.Sequence})
		}
		s.users[u.ID] = u
		s.userOrder = append(s.userOrder, u.ID)
	}
	s.projects = map[string]*Project{}
	for i := range in.Projects {
		p := in.Projects[i]
		s.projects[p.ID] = &p
	}
	s.grants = map[string]*ProjectGrant{}
	for i := range in.Grants {
		g := in.Grants[i]
		s.grants[g.ID] = &g
	}
	s.memberships = nil
	for i := range in.Memberships {
		m := in.Memberships[i]
		s.memberships = append(s.memberships, &m)
	}
	if s.orgs[s.DefaultOrgID] == nil || s.projects[s.IAMProjectID] == nil {
		return fmt.Errorf("state file %s lacks the default org or the ZITADEL project", path)
	}
	return nil
}
