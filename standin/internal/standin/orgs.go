package standin

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	objpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object"
	orgpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/org"
)

// instanceDomain is the stand-in's instance domain, the suffix of every org's primary domain (and so of login
// names). ZITADEL takes it from the host a request reaches it by; the stand-in answers on 127.0.0.1 and
// localhost alike and always uses "localhost" (ZITADEL's default ExternalDomain), so names do not depend on
// how a client addresses it.
const instanceDomain = "localhost"

var (
	errOrgInvalid          = zerr(codes.InvalidArgument, "EVENT-Mf9sd", "Errors.Org.Invalid")
	errOrgDomainEmpty      = zerr(codes.InvalidArgument, "ORG-RrfXY", "Errors.Org.Domain.EmptyString")
	errOrgNameTaken        = zerr(codes.AlreadyExists, "V3-DKcYh", "Errors.Org.AlreadyExists")
	errOrgDomainTaken      = zerr(codes.AlreadyExists, "V3-DKcYh", "Errors.Org.Domain.AlreadyExists")
	errOrgNotChanged       = zerr(codes.FailedPrecondition, "ORG-4VSdf", "Errors.Org.NotChanged")
	errOrgNotFound         = zerr(codes.NotFound, "QUERY-iTTGJ", "Errors.Org.NotFound")
	errRemoveOrgNotFound   = zerr(codes.NotFound, "COMMA-aps2n", "Errors.Org.NotFound")
	errDefaultOrgNotFound  = zerr(codes.FailedPrecondition, "INSTA-Wfe21", "Errors.Org.NotFound")
	errDefaultOrgUnchanged = zerr(codes.FailedPrecondition, "INST-SDfw2", "Errors.Instance.NotChanged")
	errDefaultOrgRemove    = zerr(codes.FailedPrecondition, "COMMA-wG9p1", "Errors.Org.DefaultOrgNotDeletable")
	errZitadelOrgRemove    = zerr(codes.FailedPrecondition, "COMMA-AF3JW", "Errors.Org.ZitadelOrgNotDeletable")
)

var domainLabelDrop = regexp.MustCompile(`[^\p{L}\p{M}0-9-]`)

// orgDomain is ZITADEL's domain.NewIAMDomainName: spaces become hyphens, characters other than letters,
// marks, digits and hyphens are dropped, the label is cut to 63 bytes (here on a rune boundary), one leading
// and one trailing hyphen go, and the whole is lowercased: "Platform Team" -> "platform-team.localhost".
// "" when no label is left.
func orgDomain(name string) string {
	label := domainLabelDrop.ReplaceAllString(strings.ReplaceAll(name, " ", "-"), "")
	label = truncateUTF8(label, min(63, 253-len(instanceDomain)-1))
	label = strings.TrimPrefix(label, "-")
	label = strings.TrimSuffix(label, "-")
	if label == "" {
		return ""
	}
	return strings.ToLower(label + "." + instanceDomain)
}

func truncateUTF8(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// checkOrgUnique enforces ZITADEL's unique constraints on org names and verified domains; except is the
// org being renamed.
func (s *State) checkOrgUnique(name, domain string, except *Org) *apiError {
	for _, o := range s.orgs {
		switch {
		case o == except:
		case o.Name == name:
			return errOrgNameTaken
		case o.PrimaryDomain == domain:
			return errOrgDomainTaken
		}
	}
	return nil
}

func (s *State) domainTaken(domain string) bool {
	for _, o := range s.orgs {
		if o.PrimaryDomain == domain {
			return true
		}
	}
	return false
}

// createOrg is management AddOrg: a new org named name, with owner as its ORG_OWNER, as ZITADEL pushes
// both in one go.
func (s *State) createOrg(name string, owner *User) (*Org, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, errOrgInvalid
	}
	domain := orgDomain(name)
	if domain == "" {
		return nil, errOrgDomainEmpty
	}
	if err := s.checkOrgUnique(name, domain, nil); err != nil {
		return nil, err
	}
	o := s.addOrg(name)
	s.addMembership(KindOrg, o.ID, owner.ID, []string{"ORG_OWNER"})
	return o, nil
}

// renameOrg is management UpdateOrg: the primary domain follows the name while it is the generated one.
func (s *State) renameOrg(o *Org, name string) error {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return errOrgInvalid
	case name == o.Name:
		return errOrgNotChanged
	}
	domain := o.PrimaryDomain
	if domain == orgDomain(o.Name) {
		if domain = orgDomain(name); domain == "" {
			return errOrgDomainEmpty
		}
	}
	if err := s.checkOrgUnique(name, domain, o); err != nil {
		return err
	}
	o.Name, o.PrimaryDomain = name, domain
	o.Changed, o.Sequence = s.now(), s.nextSeq()
	return nil
}

// firstOrgID is the org that holds the ZITADEL project (and the instance admin).
func (s *State) firstOrgID() string { return s.projectOrg(s.IAMProjectID) }

// removeOrg is admin RemoveOrg: it refuses the default org and the ZITADEL project's org, and takes the org's
// users (with their keys, tokens and memberships), projects, project grants (its own and those to it) and
// every membership on them along.
func (s *State) removeOrg(id string) error {
	switch {
	case id == s.DefaultOrgID:
		return errDefaultOrgRemove
	case id == s.firstOrgID():
		return errZitadelOrgRemove
	case s.orgs[id] == nil:
		return errRemoveOrgNotFound
	}
	for _, uid := range slices.Clone(s.userOrder) {
		if u := s.users[uid]; u != nil && u.OrgID == id {
			s.removeUser(u)
		}
	}
	for gid, g := range s.grants {
		if g.GrantedOrgID == id || s.projectOrg(g.ProjectID) == id {
			delete(s.grants, gid)
			s.removeMembershipsOn(KindProjectGrant, gid)
		}
	}
	for pid, p := range s.projects {
		if p.OrgID == id {
			delete(s.projects, pid)
			s.removeMembershipsOn(KindProject, pid)
		}
	}
	s.removeMembershipsOn(KindOrg, id)
	delete(s.orgs, id)
	s.orgOrder = slices.DeleteFunc(s.orgOrder, func(o string) bool { return o == id })
	return nil
}

func (s *State) removeMembershipsOn(kind, target string) {
	s.memberships = slices.DeleteFunc(s.memberships, func(m *Membership) bool { return m.Kind == kind && m.TargetID == target })
}

func (s *State) orgProto(o *Org) *orgpb.Org {
	return &orgpb.Org{Id: o.ID, Details: details(o.Sequence, o.Created, o.Changed, o.ID), State: o.State,
		Name: o.Name, PrimaryDomain: o.PrimaryDomain}
}

// orgMatches applies ListOrgs queries; several queries must all match.
func orgMatches(o *Org, queries []*orgpb.OrgQuery) bool {
	for _, q := range queries {
		switch {
		case q.GetNameQuery() != nil:
			if !textMatches(q.GetNameQuery().GetMethod(), o.Name, q.GetNameQuery().GetName()) {
				return false
			}
		case q.GetDomainQuery() != nil:
			if !textMatches(q.GetDomainQuery().GetMethod(), o.PrimaryDomain, q.GetDomainQuery().GetDomain()) {
				return false
			}
		case q.GetStateQuery() != nil:
			if o.State != q.GetStateQuery().GetState() {
				return false
			}
		case q.GetIdQuery() != nil:
			if o.ID != q.GetIdQuery().GetId() {
				return false
			}
		}
	}
	return true
}

func textMatches(method objpb.TextQueryMethod, value, query string) bool {
	switch method {
	case objpb.TextQueryMethod_TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE,
		objpb.TextQueryMethod_TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE,
		objpb.TextQueryMethod_TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE,
		objpb.TextQueryMethod_TEXT_QUERY_METHOD_ENDS_WITH_IGNORE_CASE:
		value, query = strings.ToLower(value), strings.ToLower(query)
	}
	switch method {
	case objpb.TextQueryMethod_TEXT_QUERY_METHOD_STARTS_WITH, objpb.TextQueryMethod_TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE:
		return strings.HasPrefix(value, query)
	case objpb.TextQueryMethod_TEXT_QUERY_METHOD_CONTAINS, objpb.TextQueryMethod_TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE:
		return strings.Contains(value, query)
	case objpb.TextQueryMethod_TEXT_QUERY_METHOD_ENDS_WITH, objpb.TextQueryMethod_TEXT_QUERY_METHOD_ENDS_WITH_IGNORE_CASE:
		return strings.HasSuffix(value, query)
	}
	return value == query
}

func (m *managementServer) AddOrg(ctx context.Context, req *mgmt.AddOrgRequest) (*mgmt.AddOrgResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	o, err := m.st.createOrg(req.GetName(), callerFrom(ctx).User)
	if err != nil {
		return nil, err
	}
	return &mgmt.AddOrgResponse{Id: o.ID, Details: details(o.Sequence, o.Created, o.Changed, o.ID)}, nil
}

func (m *managementServer) UpdateOrg(ctx context.Context, req *mgmt.UpdateOrgRequest) (*mgmt.UpdateOrgResponse, error) {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	o := m.st.orgs[callerFrom(ctx).OrgID]
	if o == nil {
		return nil, zerr(codes.NotFound, "ORG-1MRds", "Errors.Org.NotFound")
	}
	if err := m.st.renameOrg(o, req.GetName()); err != nil {
		return nil, err
	}
	return &mgmt.UpdateOrgResponse{Details: details(o.Sequence, o.Created, o.Changed, o.ID)}, nil
}

func (a *adminServer) GetOrgByID(_ context.Context, req *admin.GetOrgByIDRequest) (*admin.GetOrgByIDResponse, error) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	o := a.st.readOrg(req.GetId())
	if o == nil {
		return nil, errOrgNotFound
	}
	return &admin.GetOrgByIDResponse{Org: a.st.orgProto(o)}, nil
}

func (a *adminServer) ListOrgs(_ context.Context, req *admin.ListOrgsRequest) (*admin.ListOrgsResponse, error) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	var found []*Org
	for _, o := range a.st.readOrgs() {
		if orgMatches(o, req.GetQueries()) {
			found = append(found, o)
		}
	}
	if req.GetSortingColumn() == orgpb.OrgFieldName_ORG_FIELD_NAME_NAME {
		slices.SortStableFunc(found, func(x, y *Org) int { return strings.Compare(x.Name, y.Name) })
		if !req.GetQuery().GetAsc() {
			slices.Reverse(found)
		}
	}
	result := make([]*orgpb.Org, 0, len(found))
	for _, o := range paginate(found, req.GetQuery()) {
		result = append(result, a.st.orgProto(o))
	}
	return &admin.ListOrgsResponse{Details: a.st.listDetails(len(found)), SortingColumn: req.GetSortingColumn(), Result: result}, nil
}

func (a *adminServer) GetDefaultOrg(context.Context, *admin.GetDefaultOrgRequest) (*admin.GetDefaultOrgResponse, error) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	return &admin.GetDefaultOrgResponse{Org: a.st.orgProto(a.st.orgs[a.st.DefaultOrgID])}, nil
}

func (a *adminServer) SetDefaultOrg(_ context.Context, req *admin.SetDefaultOrgRequest) (*admin.SetDefaultOrgResponse, error) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	switch {
	case req.GetOrgId() == a.st.DefaultOrgID:
		return nil, errDefaultOrgUnchanged
	case a.st.orgs[req.GetOrgId()] == nil:
		return nil, errDefaultOrgNotFound
	}
	a.st.DefaultOrgID = req.GetOrgId()
	return &admin.SetDefaultOrgResponse{Details: a.st.changeDetails(a.st.InstanceID)}, nil
}

func (a *adminServer) RemoveOrg(_ context.Context, req *admin.RemoveOrgRequest) (*admin.RemoveOrgResponse, error) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	if err := a.st.removeOrg(req.GetOrgId()); err != nil {
		return nil, err
	}
	return &admin.RemoveOrgResponse{Details: a.st.changeDetails(a.st.InstanceID)}, nil
}
