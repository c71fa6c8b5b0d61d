package kubetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the certificates of a test cluster, written into dir.
type pki struct {
	dir                      string
	caCert, caKey            string
	serverCert, serverKey    string
	adminCert, adminKey      string
	saPub, saKey             string
	caPEM, adminPEM, adminKP []byte
}

func writePEM(path, typ string, der []byte) ([]byte, error) {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	return b, os.WriteFile(path, b, 0o600)
}

// newPKI makes a CA, the apiserver's serving certificate for 127.0.0.1,
// an admin client certificate (group system:masters) and the service
// account signing key.
func newPKI(dir string) (*pki, error) {
	p := &pki{dir: dir}
	j := func(n string) string { return filepath.Join(dir, n) }
	p.caCert, p.caKey, p.serverCert, p.serverKey = j("ca.crt"), j("ca.key"), j("apiserver.crt"), j("apiserver.key")
	p.adminCert, p.adminKey, p.saPub, p.saKey = j("admin.crt"), j("admin.key"), j("sa.pub"), j("sa.key")
	now := time.Now().Add(-time.Hour)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jouncebot-test-ca"},
		NotBefore: now, NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	if p.caPEM, err = writePEM(p.caCert, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	if err := writeKey(p.caKey, caKey); err != nil {
		return nil, err
	}
	issue := func(serial int64, cn string, org []string, usage x509.ExtKeyUsage, certPath, keyPath string, ips []net.IP, dns []string) ([]byte, []byte, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		c := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: org},
			NotBefore: now, NotAfter: now.Add(48 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, DNSNames: dns}
		der, err := x509.CreateCertificate(rand.Reader, c, ca, &k.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		cb, err := writePEM(certPath, "CERTIFICATE", der)
		if err != nil {
			return nil, nil, err
		}
		kd, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, nil, err
		}
		kb, err := writePEM(keyPath, "EC PRIVATE KEY", kd)
		return cb, kb, err
	}
	if _, _, err := issue(2, "kube-apiserver", nil, x509.ExtKeyUsageServerAuth, p.serverCert, p.serverKey,
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")}, []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}); err != nil {
		return nil, err
	}
	if p.adminPEM, p.adminKP, err = issue(3, "admin", []string{"system:masters"}, x509.ExtKeyUsageClientAuth, p.adminCert, p.adminKey, nil, nil); err != nil {
		return nil, err
	}
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if _, err := writePEM(p.saKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sa)); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return nil, err
	}
	if _, err := writePEM(p.saPub, "PUBLIC KEY", pub); err != nil {
		return nil, err
	}
	return p, nil
}

func writeKey(path string, k *ecdsa.PrivateKey) error {
	d, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return err
	}
	_, err = writePEM(path, "EC PRIVATE KEY", d)
	return err
}
