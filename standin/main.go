// Command zitadel-standin serves a local stand-in for one ZITADEL instance (OIDC, the gRPC management API
// subset, the REST calls of the verifier and a control API) on one loopback port, for tests and demos.
// It is not ZITADEL.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zitadel-bootstrap/standin/internal/standin"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback host:port to listen on (port 0 picks a free port)")
	readyFile := flag.String("ready-file", "", "write the ready JSON (issuer, port, ids, admin key path) here once listening")
	adminKeyFile := flag.String("admin-key-file", "zitadel-admin-sa.json", "where to write the IAM_OWNER machine user's key file")
	stateFile := flag.String("state-file", "", "optional: load the instance from this JSON file and save every change to it")
	defaultOrgID := flag.String("default-org-id", "", "optional: id of the default org of a new instance")
	tlsDir := flag.String("tls-dir", "", "optional: serve https with a per-run test CA; writes its certificate (ca.pem) and key (ca-key.pem) here and reuses them at the next start")
	tlsNames := flag.String("tls-names", standin.DefaultTLSNames, "with --tls-dir: comma-separated DNS names and IP addresses of the server certificate")
	flag.Parse()
	// zitadel/oidc logs route registration at info and every refused request at warn or error; keep the
	// refusals (they carry no key or token material) and drop the noise.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	// SetDefault also routes the log package (net/http's own errors among them) through that handler at info
	// level, which it drops. So errors that end the program go through fail, never log.Fatal, which exited 1
	// without a word.

	srv, err := standin.New(standin.Config{Listen: *listen, AdminKeyFile: *adminKeyFile,
		StateFile: *stateFile, DefaultOrgID: *defaultOrgID, TLSDir: *tlsDir, TLSNames: standin.ParseTLSNames(*tlsNames)})
	if err != nil {
		fail(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	if *readyFile != "" {
		if err := srv.WriteReadyFile(*readyFile); err != nil {
			fail(err)
		}
	}
	fmt.Printf("ready issuer=%s port=%d defaultOrgId=%s iamProjectId=%s adminKeyPath=%s caPath=%s\n",
		srv.Info.Issuer, srv.Info.Port, srv.Info.DefaultOrgID, srv.Info.IAMProjectID, srv.Info.AdminKeyPath, srv.Info.CAPath)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-errc:
		if err != nil {
			fail(err)
		}
	case <-sig:
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

// fail prints an error that ends the program on stderr, as "zitadel-standin: <error>", and exits 1.
func fail(err error) {
	fmt.Fprintf(os.Stderr, "zitadel-standin: %v\n", err)
	os.Exit(1)
}
