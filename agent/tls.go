package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
)

// ServerTLS is the agent's side of mutual TLS: its own certificate, and
// only clients whose certificate chains to the CA in caFile (and, when
// name is set, carries that name) get past the handshake.
func ServerTLS(caFile, certFile, keyFile, name string) (*tls.Config, error) {
	pool, cert, err := loadPair(caFile, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	if name != "" {
		c.VerifyPeerCertificate = pinName(name)
	}
	return c, nil
}

// ClientTLS is the chat bot's side: its client certificate, and the
// agent's certificate must chain to the CA in caFile and carry serverName.
func ClientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	pool, cert, err := loadPair(caFile, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   serverName,
	}, nil
}

func loadPair(caFile, certFile, keyFile string) (*x509.CertPool, tls.Certificate, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("agent tls: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, tls.Certificate{}, fmt.Errorf("agent tls: %s holds no PEM certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("agent tls: load certificate and key: %w", err)
	}
	return pool, cert, nil
}

// pinName accepts a verified client certificate only when it names name.
func pinName(name string) func([][]byte, [][]*x509.Certificate) error {
	return func(_ [][]byte, chains [][]*x509.Certificate) error {
		if len(chains) == 0 || len(chains[0]) == 0 {
			return errors.New("agent tls: no verified client certificate")
		}
		leaf := chains[0][0]
		if leaf.Subject.CommonName == name || slices.Contains(leaf.DNSNames, name) {
			return nil
		}
		return fmt.Errorf("agent tls: client certificate does not name %q", name)
	}
}
