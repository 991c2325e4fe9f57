package standin

import (
	"io"
	"log"
	"log/slog"
	"os"
	"testing"
)

// serveEnv makes the test binary a stand-in process (see startProcess in persist_test.go) instead of
// running tests: the value is the listen address, the other settings come from the STANDIN_TEST_* variables.
const serveEnv = "STANDIN_TEST_SERVE"

func TestMain(m *testing.M) {
	// zitadel/oidc logs every refused request; the assertions here check them one by one.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if listen := os.Getenv(serveEnv); listen != "" {
		serveForTest(listen)
		return
	}
	os.Exit(m.Run())
}

// serveForTest runs a stand-in like the command does, until the process is killed.
func serveForTest(listen string) {
	srv, err := New(Config{Listen: listen, AdminKeyFile: os.Getenv("STANDIN_TEST_ADMIN_KEY"), StateFile: os.Getenv("STANDIN_TEST_STATE")})
	if err != nil {
		log.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	if err := srv.WriteReadyFile(os.Getenv("STANDIN_TEST_READY")); err != nil {
		log.Fatal(err)
	}
	log.Fatal(<-errc)
}
