package standin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
)

const controlPrefix = "/_standin/"

func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// servedGRPC says whether the path is a method of a service the gRPC server serves: faults on those are
// applied by the gRPC interceptor (grpcFault), in the call's own context, where the client's deadline holds.
func servedGRPC(path string) bool {
	for _, desc := range []string{mgmt.ManagementService_ServiceDesc.ServiceName, admin.AdminService_ServiceDesc.ServiceName} {
		if strings.HasPrefix(path, "/"+desc+"/") {
			return true
		}
	}
	return false
}

// takeFault returns a copy of the first fault matching the path (and, for faults with a subject, the token
// request's assertion subject) and uses one of its counts.
func (s *State) takeFault(path, subject string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !strings.HasPrefix(path, f.PathPrefix) || f.Count == 0 {
			continue
		}
		if f.Subject != "" && (path != pathToken || subject != f.Subject) {
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

func (s *State) hasSubjectFaults() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Subject != "" {
			return true
		}
	}
	return false
}

// assertionSubject reads the sub claim of a JWT bearer grant's assertion without verifying anything (the
// token endpoint does that later) and puts the body back for it; "" when the request is no such grant.
func assertionSubject(r *http.Request) string {
	if r.Method != http.MethodPost || r.Body == nil {
		return ""
	}
	body := r.Body
	raw, err := io.ReadAll(io.LimitReader(body, 1<<20))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(raw), body), body}
	if err != nil {
		return ""
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil || form.Get("grant_type") != string(oidc.GrantTypeBearer) {
		return ""
	}
	parts := strings.Split(form.Get("assertion"), ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		Subject string `json:"sub"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Subject
}

type faultKey struct{}

// withFaults applies injected faults: a delay, then the status instead of the answer (or, with After, after
// serving the request). The control API is exempt; faults on served gRPC methods travel in the request's
// context to the gRPC interceptor.
func (s *State) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, controlPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		subject := ""
		if r.URL.Path == pathToken && s.hasSubjectFaults() {
			subject = assertionSubject(r)
		}
		f := s.takeFault(r.URL.Path, subject)
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		if isGRPC(r) && servedGRPC(r.URL.Path) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), faultKey{}, f)))
			return
		}
		if !sleep(r.Context(), f.DelayMs) {
			return // the client gave up: nothing is served
		}
		if f.Status == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if f.After {
			next.ServeHTTP(&discardWriter{header: http.Header{}}, r)
		}
		writeFault(w, r, f)
	})
}

// sleep waits ms milliseconds; false when ctx ended first (or had ended already).
func sleep(ctx context.Context, ms int) bool {
	if ms > 0 {
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return ctx.Err() == nil
}

// grpcFault applies a fault the HTTP layer handed to a served gRPC call, before the handler: its delay (cut
// short by the client's deadline or cancellation, which then ends the call unserved) and, unless the fault
// is for after the handler, its status. It returns the fault for the after part.
func grpcFault(ctx context.Context) (*Fault, error) {
	f, _ := ctx.Value(faultKey{}).(*Fault)
	if f == nil {
		return nil, nil
	}
	if !sleep(ctx, f.DelayMs) {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if f.Status != 0 && !f.After {
		return nil, faultStatus(f).Err()
	}
	return f, nil
}

// faultStatus is the gRPC status of a fault: the code for its HTTP status and, when it has a Retry-After in
// seconds, a google.rpc.RetryInfo detail with that delay, as gRPC servers that shed load send it.
func faultStatus(f *Fault) *status.Status {
	msg := "fault injected by stand-in: " + http.StatusText(f.Status)
	if f.Body != "" {
		msg = f.Body
	}
	st := status.New(codeFromHTTPStatus(f.Status), msg)
	if secs, err := strconv.Atoi(strings.TrimSpace(f.RetryAfter)); err == nil && secs >= 0 {
		if withRetry, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(secs) * time.Second)}); err == nil {
			st = withRetry
		}
	}
	return st
}

// discardWriter swallows an answer that an after fault replaces.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// grpcMessageEncode percent-encodes a grpc-message value as the gRPC HTTP/2 protocol asks.
func grpcMessageEncode(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func writeFault(w http.ResponseWriter, r *http.Request, f *Fault) {
	text := http.StatusText(f.Status)
	if isGRPC(r) {
		// A gRPC client reads the outcome from grpc-status (and grpc-status-details-bin, a google.rpc.Status),
		// sent as a trailers-only response: one HEADERS frame that ends the stream.
		st := faultStatus(f)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", strconv.Itoa(int(st.Code())))
		w.Header().Set("Grpc-Message", grpcMessageEncode(st.Message()))
		if len(st.Details()) > 0 {
			if raw, err := proto.Marshal(st.Proto()); err == nil {
				w.Header().Set("Grpc-Status-Details-Bin", base64.RawStdEncoding.EncodeToString(raw))
			}
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
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
