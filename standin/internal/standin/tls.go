package standin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TLS for the stand-in (--tls-dir): a test CA of its own and a server certificate signed by it, made with Go's
// crypto at start. Only the CA leaves the process: its certificate (ca.pem, 0644, what clients trust) and its
// key (ca-key.pem, 0600), so that a stand-in started again in the same directory (after SIGKILL, by a test)
// reuses the CA and clients that loaded ca.pem keep trusting it. The server key lives in memory only.
// This is a test CA for a stand-in on loopback; it must never be trusted by anything else.

const (
	caCertFile     = "ca.pem"
	caKeyFile      = "ca-key.pem"
	caValidity     = 24 * time.Hour
	caMinRemaining = time.Hour       // a CA that expires sooner than this is replaced at start
	backdate       = 5 * time.Minute // certificates are valid from a little before now (clock skew)
)

// DefaultTLSNames are the server certificate's names when --tls-names is not given.
const DefaultTLSNames = "localhost,127.0.0.1,::1"

// ParseTLSNames splits a comma-separated list of host names and IP addresses, dropping blanks.
func ParseTLSNames(list string) []string {
	var names []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// setupTLS loads or creates the CA in dir and issues a fresh server certificate for names. It returns the
// server's TLS configuration and the absolute path of ca.pem.
func setupTLS(dir string, names []string, now time.Time) (*tls.Config, string, error) {
	if len(names) == 0 {
		return nil, "", errors.New("--tls-names: the server certificate needs at least one name")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", err
	}
	certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	ca := loadCA(certPath, keyPath, now)
	if ca == nil {
		if ca, err = newCA(now); err != nil {
			return nil, "", err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
		if err != nil {
			return nil, "", err
		}
		// The key first: a start killed in between leaves an old ca.pem with a new key, which loadCA refuses.
		if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			return nil, "", err
		}
		if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o644); err != nil {
			return nil, "", err
		}
	}
	leaf, err := ca.issueServer(names, now)
	if err != nil {
		return nil, "", err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
		Certificates: []tls.Certificate{leaf},
	}, certPath, nil
}

// loadCA returns the CA of an earlier start when both files are there, belong together and the CA is
// valid for a while yet; otherwise nil (a new CA is made).
func loadCA(certPath, keyPath string, now time.Time) *testCA {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil
	}
	certBlock, _ := pem.Decode(certPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if certBlock == nil || certBlock.Type != "CERTIFICATE" || keyBlock == nil || keyBlock.Type != "PRIVATE KEY" {
		return nil
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil || !cert.IsCA || now.Before(cert.NotBefore) || now.Add(caMinRemaining).After(cert.NotAfter) {
		return nil
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil
	}
	return &testCA{cert: cert, key: key}
}

// newCA makes a self-signed ECDSA P-256 CA that may sign server certificates only (path length 0).
func newCA(now time.Time) (*testCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tag := make([]byte, 8)
	if _, err := rand.Read(tag); err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "zitadel-standin test CA " + hex.EncodeToString(tag)},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &testCA{cert: cert, key: key}, nil
}

// issueServer makes a server certificate (ECDSA P-256, serverAuth) for names: IP addresses go to the IP
// SANs, everything else to the DNS SANs. It never outlives the CA.
func (ca *testCA) issueServer(names []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if template.NotAfter.After(ca.cert.NotAfter) {
		template.NotAfter = ca.cert.NotAfter
	}
	for _, name := range names {
		if ip := net.ParseIP(strings.Trim(name, "[]")); ip != nil {
			template.IPAddresses = append(template.IPAddresses, ip)
		} else {
			template.DNSNames = append(template.DNSNames, name)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issuing the server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// randomSerial is a positive random serial number of at most 128 bits (RFC 5280 allows 20 octets).
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	return n.Add(n, big.NewInt(1)), nil
}
