package standin

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	mgmt "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	userpb "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
)

// Config says where the stand-in listens and where it writes the admin key file.
type Config struct {
	Listen       string   // host:port; port 0 picks a free one
	AdminKeyFile string   // where the IAM_OWNER machine user's key file is written (0600)
	StateFile    string   // optional: load the instance from here at start and save it after every change
	DefaultOrgID string   // optional: the id of the first (and default) org of a new instance (stack configs can name it)
	TLSDir       string   // optional: serve https with a test CA kept here (tls.go); empty: http and h2c
	TLSNames     []string // the server certificate's DNS names and IP addresses (with TLSDir; default DefaultTLSNames)
	Now          func() time.Time
}

// Info is what the ready file tells a client.
type Info struct {
	Issuer       string `json:"issuer"`
	Port         int    `json:"port"`
	AdminKeyPath string `json:"adminKeyPath"`
	DefaultOrgID string `json:"defaultOrgId"`
	IAMProjectID string `json:"iamProjectId"`
	InstanceID   string `json:"instanceId"`
	AdminUserID  string `json:"adminUserId"`
	CAPath       string `json:"caPath"` // the test CA's certificate (PEM) to trust; empty without TLS
}

// Server is one running stand-in: OIDC, gRPC, REST and the control API on one loopback port.
type Server struct {
	State    *State
	Info     Info
	listener net.Listener
	http     *http.Server
	grpc     *grpc.Server
	tls      *tls.Config // nil: plain http and h2c
}

// New listens, creates the instance (default org, ZITADEL project, IAM_OWNER admin machine user and its
// key file) and returns a server ready for Serve.
func New(cfg Config) (*Server, error) {
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, errors.New("the stand-in listens on loopback addresses only")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	scheme, caPath := "http", ""
	var tlsConfig *tls.Config
	if cfg.TLSDir != "" {
		names := cfg.TLSNames
		if names == nil {
			names = ParseTLSNames(DefaultTLSNames)
		}
		if tlsConfig, caPath, err = setupTLS(cfg.TLSDir, names, cfg.Now()); err != nil {
			return nil, err
		}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	issuer := scheme + "://" + net.JoinHostPort(host, itoa(port))

	st, keyPath, err := setupInstance(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}

	s := &Server{State: st, listener: ln, tls: tlsConfig, Info: Info{Issuer: issuer, Port: port, AdminKeyPath: keyPath,
		DefaultOrgID: st.DefaultOrgID, IAMProjectID: st.IAMProjectID, InstanceID: st.InstanceID, AdminUserID: st.AdminUserID,
		CAPath: caPath}}
	s.grpc = grpc.NewServer(grpc.UnaryInterceptor(st.authInterceptor))
	mgmt.RegisterManagementServiceServer(s.grpc, &managementServer{st: st})
	admin.RegisterAdminServiceServer(s.grpc, &adminServer{st: st})

	mux := http.NewServeMux()
	(&restAPI{st: st}).routes(mux)
	(&controlAPI{st: st, issuer: issuer}).routes(mux)
	holds := &answerHolds{} // answer_holds.go: answers held back after the change is made
	holds.routes(mux)
	mux.Handle("/", newOIDCHandler(st, issuerFromHost(issuer, port)))

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if tlsConfig != nil {
		protocols.SetHTTP2(true) // negotiated by ALPN (h2): gRPC over TLS goes through route() like h2c does
	} else {
		protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge: what gRPC clients speak without TLS
	}
	s.http = &http.Server{
		Handler:           st.withFaults(holds.wrap(s.route(mux))),
		Protocols:         &protocols,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
	}
	return s, nil
}

// setupObjects creates the instance (or loads it from the state file) with its IAM_OWNER admin machine
// user, and writes the admin's key file unless a still valid one of that user is already there.
func setupObjects(cfg Config) (*State, string, error) {
	st, err := newState(cfg.Now, cfg.DefaultOrgID)
	if err != nil {
		return nil, "", err
	}
	if cfg.StateFile != "" {
		switch err := st.load(cfg.StateFile); {
		case err == nil:
			// The flag names the instance's first org; SetDefaultOrg may have made another org the default since.
			if cfg.DefaultOrgID != "" && cfg.DefaultOrgID != st.firstOrgID() {
				return nil, "", fmt.Errorf("state file %s was made with first (default) org %s, not %s: delete it to start afresh",
					cfg.StateFile, st.firstOrgID(), cfg.DefaultOrgID)
			}
		case errors.Is(err, os.ErrNotExist):
		default:
			return nil, "", err
		}
	}
	adminUser := st.users[st.AdminUserID]
	if adminUser == nil {
		adminUser = st.addMachineUser(st.DefaultOrgID, "zitadel-admin-sa", "Admin", "instance administrator of the stand-in",
			userpb.AccessTokenType_ACCESS_TOKEN_TYPE_BEARER)
		st.AdminUserID = adminUser.ID
		st.addMembership(KindIAM, st.InstanceID, adminUser.ID, []string{"IAM_OWNER"})
	}
	keyPath := cfg.AdminKeyFile
	if keyPath == "" {
		return st, "", nil
	}
	keyPath, err = filepath.Abs(keyPath)
	if err != nil {
		return nil, "", err
	}
	if existing, err := os.ReadFile(keyPath); err == nil {
		var kf keyFile
		if json.Unmarshal(existing, &kf) == nil && kf.UserID == adminUser.ID {
			if k := adminUser.key(kf.KeyID); k != nil && k.Expiration.After(st.now()) {
				return st, keyPath, nil
			}
		}
	}
	_, keyJSON, err := st.addKey(adminUser, time.Time{}, nil)
	if err != nil {
		return nil, "", err
	}
	if err := writeFileAtomic(keyPath, keyJSON, 0o600); err != nil {
		return nil, "", err
	}
	return st, keyPath, nil
}

// setupInstance creates or loads the instance and commits it: the state file is written (when there is
// one) and what it holds counts as old for the read lag.
func setupInstance(cfg Config) (*State, string, error) {
	st, keyPath, err := setupObjects(cfg)
	if err != nil {
		return nil, "", err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stateFile = cfg.StateFile
	st.commitInitial()
	return st, keyPath, nil
}

// route sends gRPC calls to the gRPC server and everything else to the HTTP mux.
func (s *Server) route(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isGRPC(r) {
			s.grpc.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// issuerFromHost derives the issuer from the Host header like ZITADEL does, for loopback names on our port
// (so both 127.0.0.1 and localhost work); anything else gets the canonical issuer. The scheme is the
// canonical issuer's: https when the stand-in serves TLS, else http.
func issuerFromHost(canonical string, port int) func(*http.Request) string {
	scheme, _, _ := strings.Cut(canonical, "://")
	return func(r *http.Request) string {
		host, p, err := net.SplitHostPort(r.Host)
		if err != nil || p != itoa(port) {
			return canonical
		}
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return scheme + "://" + r.Host
		}
		return canonical
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Serve blocks until Shutdown.
func (s *Server) Serve() error {
	var err error
	if s.tls != nil {
		err = s.http.ServeTLS(s.listener, "", "") // the certificate is in TLSConfig
	} else {
		err = s.http.Serve(s.listener)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}

// WriteReadyFile writes the Info as JSON, atomically, so a reader never sees half a file.
func (s *Server) WriteReadyFile(path string) error {
	raw, err := json.MarshalIndent(s.Info, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(raw, '\n'), 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+strings.TrimPrefix(filepath.Base(path), ".")+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
