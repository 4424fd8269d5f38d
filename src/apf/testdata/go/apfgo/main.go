// apfgo: a stand-in for upstream's Go side of apf.json. Its types carry the field names, Go
// types and json tags of upstream's forwarder.Config and tunneler.Config (pkg/forwarder and
// pkg/podnetwork/tunneler of confidential-containers/cloud-api-adaptor), so that Go's own
// encoding/json decides what the document looks like. Only the standard library is used, so it
// builds offline with Debian's Go in GOPATH mode.
//
//	apfgo golden DIR          writes DIR/<case>.json (json.Marshal) and <case>.indented.json
//	                          (json.MarshalIndent with four spaces, as upstream's adaptor writes)
//	apfgo marshal CASE [-indent]
//	apfgo reencode [-indent]  decodes stdin (unknown keys are an error) and encodes it again
//	apfgo check-tls           decodes stdin; the TLS fields must be usable PEM, as upstream's
//	                          forwarder hands them to crypto/tls
//	apfgo field NAME          decodes stdin and prints one string field
//	apfgo from-pem CERT KEY CA NAMESPACE NAME
//	                          apf.json with the TLS fields taken from PEM files, indented
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// --- upstream's types, by field name, Go type and tag ---------------------------------------

type apfConfig struct {
	PodNetwork   *podNetwork `json:"pod-network"`
	PodNamespace string      `json:"pod-namespace"`
	PodName      string      `json:"pod-name"`

	TLSServerKey  string `json:"tls-server-key,omitempty"`
	TLSServerCert string `json:"tls-server-cert,omitempty"`
	TLSClientCA   string `json:"tls-client-ca,omitempty"`

	MinTLSVersion string   `json:"tls-min-version,omitempty"`
	CipherSuites  []string `json:"tls-cipher-suites,omitempty"`

	PpPrivateKey []byte `json:"sc-pp-prv,omitempty"`
	WnPublicKey  []byte `json:"sc-wn-pub,omitempty"`

	// In upstream releases before secure comms was removed; current ones ignore them.
	SecureCommsInbounds  string `json:"sc-inbounds,omitempty"`
	SecureCommsOutbounds string `json:"sc-outbounds,omitempty"`
	SecureComms          bool   `json:"sc,omitempty"`
}

type podNetwork struct {
	PodIP               netip.Prefix `json:"podip"`
	PodHwAddr           string       `json:"pod-hw-addr"`
	InterfaceName       string       `json:"interface"`
	WorkerNodeIP        netip.Prefix `json:"worker-node-ip"`
	TunnelType          string       `json:"tunnel-type"`
	Routes              []*route     `json:"routes"`
	Neighbors           []*neighbor  `json:"neighbors"`
	MTU                 int          `json:"mtu"`
	Index               int          `json:"index"`
	VXLANPort           int          `json:"vxlan-port,omitempty"`
	VXLANID             int          `json:"vxlan-id,omitempty"`
	Dedicated           bool         `json:"dedicated"`
	ExternalNetViaPodVM bool         `json:"external-net-via-pod-vm"`
}

type route struct {
	Dst      netip.Prefix  `json:"dst,omitempty"`
	GW       netip.Addr    `json:"gw,omitempty"`
	Dev      string        `json:"dev,omitempty"`
	Protocol routeProtocol `json:"protocol,omitempty"`
	Scope    routeScope    `json:"scope,omitempty"`
}

type neighbor struct {
	IP           netip.Addr    `json:"ip,omitempty"`
	HardwareAddr string        `json:"hw-addr,omitempty"`
	Dev          string        `json:"dev,omitempty"`
	State        neighborState `json:"state,omitempty"`
}

// The three enums travel as the names vishvananda/netlink prints (numbers from linux/rtnetlink.h
// and linux/neighbour.h); upstream decodes only the names listed as decodable.
type routeProtocol int
type routeScope uint8
type neighborState uint16

var protocolNames = map[routeProtocol]string{2: "kernel", 3: "boot", 4: "static", 16: "dhcp"}
var scopeNames = map[routeScope]string{0: "universe", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
var neighborStateNames = map[neighborState]string{
	0x00: "none", 0x01: "incomplete", 0x02: "reachable", 0x04: "stale", 0x08: "delay",
	0x10: "probe", 0x20: "failed", 0x40: "noarp", 0x80: "permanent",
}

func nameOr[T ~int | ~uint8 | ~uint16](names map[T]string, v T, fallback string) string {
	if s, ok := names[v]; ok {
		return s
	}
	return fallback
}

func lookup[T comparable](what string, names map[T]string, data []byte) (T, error) {
	var zero T
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return zero, fmt.Errorf("invalid %s: %w", what, err)
	}
	for v, n := range names {
		if n == s {
			return v, nil
		}
	}
	return zero, fmt.Errorf("unknown %s: %s", what, s)
}

func (p routeProtocol) MarshalJSON() ([]byte, error) {
	return json.Marshal(nameOr(protocolNames, p, strconv.Itoa(int(p))))
}
func (p *routeProtocol) UnmarshalJSON(b []byte) (err error) {
	*p, err = lookup("route protocol", protocolNames, b)
	return
}
func (s routeScope) MarshalJSON() ([]byte, error) {
	return json.Marshal(nameOr(scopeNames, s, "unknown"))
}
func (s *routeScope) UnmarshalJSON(b []byte) (err error) {
	*s, err = lookup("route scope", scopeNames, b)
	return
}
func (s neighborState) MarshalJSON() ([]byte, error) {
	return json.Marshal(nameOr(neighborStateNames, s, "unknown"))
}
func (s *neighborState) UnmarshalJSON(b []byte) (err error) {
	*s, err = lookup("neighbor state", neighborStateNames, b)
	return
}

// --- the cases (src/apf/apf_config_test.cc builds the same values) ---------------------------

const fakeKey = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oCPtO/H7P2w1oAoGCCqGSM49\nAwEHoUQDQgAEXr+QxaRyCKCuhMsmSm9T6i7oZ8MX5Vz3PWg/mHL2xHbzKf/yx0Vt\nV0Ic5QUDBdLtrJLBK4lVhRGBTmr0rVTbRw==\n-----END EC PRIVATE KEY-----\n"
const fakeCert = "-----BEGIN CERTIFICATE-----\nMIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw\nDgYDVQQKEwdBY21lIENvMB4XDTE3MTAyMDE5NDMwNloXDTE4MTAyMDE5NDMwNlow\n-----END CERTIFICATE-----\n"
const fakeCA = "-----BEGIN CERTIFICATE-----\nMIIBfDCCASOgAwIBAgIRAJw+CA==\n-----END CERTIFICATE-----\n"

func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr     { return netip.MustParseAddr(s) }

func cases() map[string]*apfConfig {
	return map[string]*apfConfig{
		"no-network": {PodNamespace: "default", PodName: "nginx-7d9c"},
		"tls": {
			PodNetwork: &podNetwork{
				PodIP: prefix("10.244.1.5/24"), PodHwAddr: "0a:58:0a:f4:01:05", InterfaceName: "eth0",
				WorkerNodeIP: prefix("192.168.122.10/24"), TunnelType: "vxlan",
				Routes: []*route{
					{GW: addr("10.244.1.1"), Dev: "eth0"},
					{Dst: prefix("10.244.1.0/24"), Dev: "eth0", Protocol: 2, Scope: 253},
					{Dst: prefix("10.96.0.0/12"), GW: addr("10.244.1.1"), Dev: "eth0", Protocol: 4},
				},
				Neighbors: []*neighbor{
					{IP: addr("10.244.1.1"), HardwareAddr: "ee:ee:ee:ee:ee:ee", Dev: "eth0", State: 0x80},
				},
				MTU: 1450, Index: 3, VXLANPort: 4789, VXLANID: 555001,
			},
			PodNamespace: "team-a", PodName: "web-0",
			TLSServerKey: fakeKey, TLSServerCert: fakeCert, TLSClientCA: fakeCA,
			MinTLSVersion: "VersionTLS13",
			CipherSuites:  []string{"TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"},
		},
		"network-minimal": {
			PodNetwork: &podNetwork{
				PodIP: prefix("10.0.0.7/32"), PodHwAddr: "02:00:00:00:00:07", InterfaceName: "eth0",
				WorkerNodeIP: prefix("198.18.0.1/16"), TunnelType: "vxlan",
				Routes: []*route{{GW: addr("169.254.1.1"), Dev: "eth0"}, {Dst: prefix("169.254.1.1/32"), Dev: "eth0", Scope: 253}},
				MTU:    1500, VXLANID: 555000, Dedicated: true, ExternalNetViaPodVM: true,
			},
			PodNamespace: "kube-system", PodName: "coredns-1",
		},
		"secure-comms": {
			PodNamespace: "default", PodName: "sc",
			PpPrivateKey:         []byte{0x00, 0xff, 0x10, 0x80, 'k', 'e', 'y', 0x7f},
			WnPublicKey:          []byte("ssh-rsa AAAAB3NzaC1yc2E= wn"),
			SecureCommsInbounds:  "KUBERNETES_PHASE:KATAAGENT:0",
			SecureCommsOutbounds: "BOTH_PHASES:KBS:kbs-service.trustee-operator-system:8080",
			SecureComms:          true,
		},
		// Go 1.19 (Debian) writes \b and \f as \u0008 and \u000c, newer Go as \b and \f: neither
		// appears here so that the goldens hold for both.
		"escaping": {
			PodNamespace: "tab\there\r\n\x01\x1f\x7f",
			PodName:      "a<b>&\"c\"\\d/é€😀\u2028\u2029\ufffd",
		},
		// Marshal only: Go writes each invalid byte as \ufffd, so this does not decode to itself.
		"invalid-utf8": {PodNamespace: "ns", PodName: "bad\xffbyte\xc3"},
	}
}

// --- commands ----------------------------------------------------------------------------------

func encode(c *apfConfig, indent bool) []byte {
	var b []byte
	var err error
	if indent {
		b, err = json.MarshalIndent(c, "", "    ")
	} else {
		b, err = json.Marshal(c)
	}
	if err != nil {
		fail(err)
	}
	return b
}

// As upstream's forwarder reads apf.json (json.Decoder), but refusing keys the struct does not
// have and anything after the document, so that a key we misspell cannot pass unnoticed.
func decode(r io.Reader) *apfConfig {
	data, err := io.ReadAll(r)
	if err != nil {
		fail(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c apfConfig
	if err := dec.Decode(&c); err != nil {
		fail(fmt.Errorf("decoding apf.json: %w", err))
	}
	if dec.More() {
		fail(errors.New("data after the apf.json document"))
	}
	return &c
}

func checkTLS(c *apfConfig) {
	pair, err := tls.X509KeyPair([]byte(c.TLSServerCert), []byte(c.TLSServerKey))
	if err != nil {
		fail(fmt.Errorf("tls-server-cert/tls-server-key: %w", err))
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		fail(fmt.Errorf("tls-server-cert: %w", err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(c.TLSClientCA)) {
		fail(errors.New("tls-client-ca: no certificate in it"))
	}
	block, rest := pem.Decode([]byte(c.TLSClientCA))
	if block == nil || len(bytes.TrimSpace(rest)) != 0 {
		fail(errors.New("tls-client-ca: not exactly one PEM block"))
	}
	fmt.Printf("ok %s\n", leaf.Subject.CommonName)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "apfgo:", err)
	os.Exit(1)
}

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fail(errors.New("usage: apfgo golden DIR | marshal CASE [-indent] | reencode [-indent] | check-tls | field NAME"))
	}
	indent := len(args) > 1 && args[len(args)-1] == "-indent"
	switch args[0] {
	case "golden":
		names := []string{}
		for name := range cases() {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			c := cases()[name]
			for _, f := range []struct {
				suffix string
				indent bool
			}{{".json", false}, {".indented.json", true}} {
				path := filepath.Join(args[1], name+f.suffix)
				if err := os.WriteFile(path, encode(c, f.indent), 0o644); err != nil {
					fail(err)
				}
			}
		}
	case "marshal":
		c, ok := cases()[args[1]]
		if !ok {
			fail(fmt.Errorf("no case %q", args[1]))
		}
		os.Stdout.Write(encode(c, indent))
	case "reencode":
		os.Stdout.Write(encode(decode(os.Stdin), indent))
	case "check-tls":
		checkTLS(decode(os.Stdin))
	case "from-pem":
		// As upstream's adaptor fills the struct in CreateVM: PEM files read as text.
		if len(args) != 6 {
			fail(errors.New("usage: apfgo from-pem CERT KEY CA NAMESPACE NAME"))
		}
		read := func(path string) string {
			b, err := os.ReadFile(path)
			if err != nil {
				fail(err)
			}
			return string(b)
		}
		c := &apfConfig{
			PodNamespace: args[4], PodName: args[5],
			TLSServerCert: read(args[1]), TLSServerKey: read(args[2]), TLSClientCA: read(args[3]),
		}
		os.Stdout.Write(encode(c, true))
	case "field":
		c := decode(os.Stdin)
		fields := map[string]string{
			"pod-namespace": c.PodNamespace, "pod-name": c.PodName, "tls-server-key": c.TLSServerKey,
			"tls-server-cert": c.TLSServerCert, "tls-client-ca": c.TLSClientCA,
		}
		v, ok := fields[args[1]]
		if !ok {
			fail(fmt.Errorf("no field %q", args[1]))
		}
		os.Stdout.WriteString(v)
	default:
		fail(fmt.Errorf("unknown command %q", args[0]))
	}
}
