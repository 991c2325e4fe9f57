package standin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Answer holds imitate the moment between ZITADEL committing a change and the client reading the answer:
// a request whose path starts with the hold's prefix is served as usual (the change is applied, committed to
// the read model and the state file), and only then its answer is held back for DelayMs before the first byte
// goes out. A client that dies in that window (a CI runner killed with SIGKILL) leaves the change in ZITADEL
// and nothing in its own records: what an interrupted `pulumi up` leaves behind after AddMachineKey or
// AddOrgMember went through. Faults (faults.go) act before a request is served; holds act after it.
//
// Control API (no auth, like the rest of /_standin/):
//
//	POST   /_standin/answer-holds  {"pathPrefix","delayMs","count"?}  count: matches (default 1, negative = all)
//	GET    /_standin/answer-holds  the holds still armed, {"holds": [...]}
//	DELETE /_standin/answer-holds  remove all holds

// AnswerHold holds the answers of requests under PathPrefix for DelayMs, after serving them.
type AnswerHold struct {
	PathPrefix string `json:"pathPrefix"`
	DelayMs    int    `json:"delayMs"`
	Count      int    `json:"count"` // remaining matches; negative means unlimited
}

// maxAnswerHold bounds a hold, so that a forgotten one cannot stall a client for good.
const maxAnswerHold = 10 * time.Minute

type answerHolds struct {
	mu    sync.Mutex
	holds []*AnswerHold
}

// take returns a copy of the first hold matching the path and uses one of its counts.
func (h *answerHolds) take(path string) *AnswerHold {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, hold := range h.holds {
		if !strings.HasPrefix(path, hold.PathPrefix) || hold.Count == 0 {
			continue
		}
		hit := *hold
		if hold.Count > 0 {
			hold.Count--
			if hold.Count == 0 {
				h.holds = append(h.holds[:i], h.holds[i+1:]...)
			}
		}
		return &hit
	}
	return nil
}

// wrap serves requests through next and holds the answers of those a hold matches. The control API is exempt.
func (h *answerHolds) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, controlPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		hold := h.take(r.URL.Path)
		if hold == nil {
			next.ServeHTTP(w, r)
			return
		}
		held := &heldWriter{ResponseWriter: w, r: r, delayMs: hold.DelayMs}
		next.ServeHTTP(held, r)
		held.hold() // an answer without a body or header write is held too
	})
}

// heldWriter waits once, before the first header, body or flush of the answer reaches the client. The wait
// ends early when the client goes away; the request has been served either way.
type heldWriter struct {
	http.ResponseWriter
	r       *http.Request
	delayMs int
	once    sync.Once
}

func (w *heldWriter) hold() { w.once.Do(func() { sleep(w.r.Context(), w.delayMs) }) }

func (w *heldWriter) WriteHeader(code int) {
	w.hold()
	w.ResponseWriter.WriteHeader(code)
}

func (w *heldWriter) Write(p []byte) (int, error) {
	w.hold()
	return w.ResponseWriter.Write(p)
}

// Flush is what gRPC's HTTP handler needs of a ResponseWriter.
func (w *heldWriter) Flush() {
	w.hold()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *heldWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (h *answerHolds) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+controlPrefix+"answer-holds", func(w http.ResponseWriter, r *http.Request) {
		in := &AnswerHold{}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(in); err != nil && !errors.Is(err, io.EOF) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
			return
		}
		switch {
		case !strings.HasPrefix(in.PathPrefix, "/") || strings.HasPrefix(in.PathPrefix, controlPrefix):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "pathPrefix must start with / and not be a control path"})
			return
		case in.DelayMs <= 0 || time.Duration(in.DelayMs)*time.Millisecond > maxAnswerHold:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "delayMs must be between 1 and 600000"})
			return
		}
		if in.Count == 0 {
			in.Count = 1
		}
		h.mu.Lock()
		h.holds = append(h.holds, in)
		h.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc("GET "+controlPrefix+"answer-holds", func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		holds := make([]AnswerHold, 0, len(h.holds))
		for _, hold := range h.holds {
			holds = append(holds, *hold)
		}
		h.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"holds": holds})
	})
	mux.HandleFunc("DELETE "+controlPrefix+"answer-holds", func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		h.holds = nil
		h.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{})
	})
}
