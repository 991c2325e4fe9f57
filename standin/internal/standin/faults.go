package standin

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

const controlPrefix = "/_standin/"

func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// takeFault returns a copy of the first fault matching path and uses one of its counts.
func (s *State) takeFault(path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !strings.HasPrefix(path, f.PathPrefix) || f.Count == 0 {
			continue
		}
		hit := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return &hit
	}
	return nil
}

// withFaults applies injected delays and failures before next sees the request; the control API is exempt.
func (s *State) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, controlPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		f := s.takeFault(r.URL.Path)
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		if f.DelayMs > 0 {
			select {
			case <-time.After(time.Duration(f.DelayMs) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		if f.Status == 0 {
			next.ServeHTTP(w, r)
			return
		}
		writeFault(w, r, f)
	})
}

func writeFault(w http.ResponseWriter, r *http.Request, f *Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	text := http.StatusText(f.Status)
	if isGRPC(r) {
		// A gRPC client reads the outcome from grpc-status, sent as a trailers-only response.
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", fmt.Sprint(int(codeFromHTTPStatus(f.Status))))
		w.Header().Set("Grpc-Message", "fault injected by stand-in: "+text)
		w.WriteHeader(http.StatusOK)
		return
	}
	body, ctype := f.Body, f.ContentType
	if body == "" {
		if strings.HasPrefix(r.URL.Path, "/oauth/") || strings.HasPrefix(r.URL.Path, "/oidc/") {
			kind := "server_error"
			if f.Status < 500 {
				kind = "invalid_request"
			}
			body = fmt.Sprintf(`{"error":%q,"error_description":%q}`, kind, text)
		} else {
			code := codeFromHTTPStatus(f.Status)
			if f.Status >= 500 && f.Status != http.StatusNotImplemented {
				code = codes.Internal
				if f.Status == http.StatusServiceUnavailable || f.Status == http.StatusBadGateway {
					code = codes.Unavailable
				}
			}
			body = fmt.Sprintf(`{"code":%d,"message":%q,"details":[]}`, int(code), text)
		}
		ctype = "application/json"
	}
	if ctype == "" {
		ctype = "text/plain; charset=utf-8"
		if strings.HasPrefix(strings.TrimSpace(body), "{") {
			ctype = "application/json"
		}
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(body))
}
