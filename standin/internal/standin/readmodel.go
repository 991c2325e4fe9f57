package standin

import (
	"bytes"
	"cmp"
	"encoding/json"
	"log"
	"reflect"
	"slices"
	"time"
)

// ZITADEL is event-sourced: its management and admin APIs read from projections, which trail the events by
// a moment. The read model imitates that for the objects the provider reads back after writing them (users
// with their keys, orgs, memberships of all kinds): every committed change is recorded as a version with the
// time it was committed, and with a management read lag L a read at time t sees each object as it was at
// t-L: not there yet when it was created less than L ago, its previous state when it changed, still there
// when it was removed less than L ago. Writes (and the permission checks, which have a lag of their own)
// always see the true state. With no lag the reads see the true state too.

// maxManagementReadLag bounds the lag, so that versions older than it can be forgotten.
const maxManagementReadLag = time.Hour

type version struct {
	at  time.Time
	val any // a copy of the object (*User, *Org, *Membership); nil once removed
}

// history is one object's versions, oldest first; order is where the object stands in list answers.
type history struct {
	order    uint64
	versions []version
}

// view is the object as a read with the cutoff sees it (nil: not there).
func (h *history) view(cutoff time.Time) any {
	for i := len(h.versions) - 1; i >= 0; i-- {
		if !h.versions[i].at.After(cutoff) {
			return h.versions[i].val
		}
	}
	return nil
}

type readModel struct {
	lag         time.Duration
	users       map[string]*history // by user id
	orgs        map[string]*history // by org id
	memberships map[string]*history // by kind/target/user
	order       uint64
}

func newReadModel() readModel {
	return readModel{users: map[string]*history{}, orgs: map[string]*history{}, memberships: map[string]*history{}}
}

func (rm *readModel) put(m map[string]*history, key string, val any, at time.Time) {
	h := m[key]
	if h == nil {
		if val == nil {
			return
		}
		h = &history{}
		m[key] = h
	} else if last := h.versions[len(h.versions)-1].val; reflect.DeepEqual(last, val) {
		return
	} else if last != nil {
		// A change keeps the object's place in lists; a new object after a removal goes to the end.
		h.versions = append(h.versions, version{at: at, val: val})
		return
	}
	rm.order++
	h.order = rm.order
	h.versions = append(h.versions, version{at: at, val: val})
}

// prune forgets the versions no read can see any more: those replaced longer than the maximum lag ago.
func (rm *readModel) prune(m map[string]*history, now time.Time) {
	horizon := now.Add(-maxManagementReadLag)
	for key, h := range m {
		for len(h.versions) > 1 && !h.versions[1].at.After(horizon) {
			h.versions = h.versions[1:]
		}
		if len(h.versions) == 1 && h.versions[0].val == nil && !h.versions[0].at.After(horizon) {
			delete(m, key)
		}
	}
}

func membershipKey(m *Membership) string { return m.Kind + "/" + m.TargetID + "/" + m.UserID }

// record adds a version for every object that changed since the last record; the caller holds s.mu.
func (s *State) record(at time.Time) {
	rm := &s.reads
	seen := map[string]bool{}
	for _, id := range s.userOrder {
		if u := s.users[id]; u != nil {
			c := *u
			c.Keys = slices.Clone(u.Keys) // keys never change once made; the slice does
			rm.put(rm.users, id, &c, at)
			seen[id] = true
		}
	}
	for id := range rm.users {
		if !seen[id] {
			rm.put(rm.users, id, nil, at)
		}
	}
	clear(seen)
	for _, id := range s.orgOrder {
		if o := s.orgs[id]; o != nil {
			c := *o
			rm.put(rm.orgs, id, &c, at)
			seen[id] = true
		}
	}
	for id := range rm.orgs {
		if !seen[id] {
			rm.put(rm.orgs, id, nil, at)
		}
	}
	clear(seen)
	for _, m := range s.memberships {
		c := *m
		c.Roles = slices.Clone(m.Roles)
		key := membershipKey(m)
		rm.put(rm.memberships, key, &c, at)
		seen[key] = true
	}
	for key := range rm.memberships {
		if !seen[key] {
			rm.put(rm.memberships, key, nil, at)
		}
	}
	now := s.now()
	rm.prune(rm.users, now)
	rm.prune(rm.orgs, now)
	rm.prune(rm.memberships, now)
}

// commit ends a change (a gRPC call, a control API call): it records the read model's versions and saves
// the state file, before the answer goes out, so that a client never sees a change a restart loses.
// The caller holds s.mu.
func (s *State) commit() {
	s.record(s.now())
	s.saveIfChanged()
}

// commitInitial records the state loaded or created at start as visible to every read, however lagging.
func (s *State) commitInitial() {
	s.record(time.Time{})
	s.saveIfChanged()
}

// saveIfChanged writes the state file when its content changed since the last write; the caller holds s.mu.
func (s *State) saveIfChanged() {
	if s.stateFile == "" {
		return
	}
	raw, err := s.marshalState()
	if err == nil && bytes.Equal(raw, s.savedState) {
		return
	}
	if err == nil {
		err = writeFileAtomic(s.stateFile, raw, 0o600)
	}
	if err != nil {
		log.Printf("saving state to %s: %v", s.stateFile, err)
		return
	}
	s.savedState = raw
}

// cutoff is the moment the management reads see; ok is false when they see the true state.
func (s *State) cutoff() (time.Time, bool) {
	if s.reads.lag <= 0 {
		return time.Time{}, false
	}
	return s.now().Add(-s.reads.lag), true
}

// readUser is the user as the management API's reads see it; the caller holds s.mu.
func (s *State) readUser(id string) *User {
	cutoff, lagging := s.cutoff()
	if !lagging {
		return s.users[id]
	}
	if h := s.reads.users[id]; h != nil {
		u, _ := h.view(cutoff).(*User)
		return u
	}
	return nil
}

// readOrg is the org as the admin API's reads see it; the caller holds s.mu.
func (s *State) readOrg(id string) *Org {
	cutoff, lagging := s.cutoff()
	if !lagging {
		return s.orgs[id]
	}
	if h := s.reads.orgs[id]; h != nil {
		o, _ := h.view(cutoff).(*Org)
		return o
	}
	return nil
}

// readOrgs are the orgs the admin API's reads see, in creation order; the caller holds s.mu.
func (s *State) readOrgs() []*Org {
	cutoff, lagging := s.cutoff()
	var out []*Org
	if !lagging {
		for _, id := range s.orgOrder {
			if o := s.orgs[id]; o != nil {
				out = append(out, o)
			}
		}
		return out
	}
	return viewAll[*Org](s.reads.orgs, cutoff)
}

// readMemberships are the memberships the member lists see, in creation order; the caller holds s.mu.
func (s *State) readMemberships() []*Membership {
	cutoff, lagging := s.cutoff()
	if !lagging {
		return s.memberships
	}
	return viewAll[*Membership](s.reads.memberships, cutoff)
}

func viewAll[T any](m map[string]*history, cutoff time.Time) []T {
	type entry struct {
		order uint64
		val   T
	}
	var found []entry
	for _, h := range m {
		if v, ok := h.view(cutoff).(T); ok {
			found = append(found, entry{h.order, v})
		}
	}
	slices.SortFunc(found, func(a, b entry) int { return cmp.Compare(a.order, b.order) })
	out := make([]T, 0, len(found))
	for _, e := range found {
		out = append(out, e.val)
	}
	return out
}

// marshalState is the state file's content; the caller holds s.mu.
func (s *State) marshalState() ([]byte, error) {
	out, err := s.savedForm()
	if err != nil {
		return nil, err
	}
	raw, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(raw, '\n'), nil
}
