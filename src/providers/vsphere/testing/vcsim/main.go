// vcsim: govmomi's vCenter simulator (simulator.VPX) over TLS, for the vsphere provider's tests.
// Debian ships govmomi's sources without the vcsim command; this is the few lines we need.
//
// At start it turns the VM DC0_H0_VM0 into the template /DC0/vm/podvm-template (powered off,
// marked as a template), then prints one JSON line on stdout:
//
//	{"url":"https://127.0.0.1:PORT/sdk","thumbprint":"AA:BB:...","template_uuid":"..."}
//
// and serves until stdin closes or SIGTERM. Like a pod VM's guest tools, it reports a guest IPv4
// address for every VM powered on after start (through the simulator's own extraConfig
// "SET.guest.ipAddress", applied with ReconfigVM_Task), unless told not to.
//
// Commands, one per line on stdin, each answered with one JSON line on stdout:
//
//	vms                 the VMs created after start: [{"name","uuid","power","ip","cpus",
//	                    "memory_mb","notes","folder","extra":{...}}]
//	ip off | ip on      stop / resume reporting guest addresses
//	terminate-sessions  ends every session but the helper's own (as an expired session would)
//	sessions            the keys of the sessions of user -user
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type vmInfo struct {
	Name     string            `json:"name"`
	UUID     string            `json:"uuid"`
	Power    string            `json:"power"`
	Template bool              `json:"template"`
	IP       string            `json:"ip"`
	NumCPU   int32             `json:"cpus"`
	MemoryMB int32             `json:"memory_mb"`
	Notes    string            `json:"notes"`
	Folder   string            `json:"folder"`
	Extra    map[string]string `json:"extra"`
}

type helper struct {
	ctx     context.Context
	client  *govmomi.Client
	user    string
	initial map[types.ManagedObjectReference]bool
	mu      sync.Mutex
	ipOn    bool
	nextIP  int
	out     *json.Encoder
	outMu   sync.Mutex
}

func (h *helper) reply(v interface{}) {
	h.outMu.Lock()
	defer h.outMu.Unlock()
	if err := h.out.Encode(v); err != nil {
		log.Fatalf("stdout: %v", err)
	}
}

func (h *helper) allVMs() ([]mo.VirtualMachine, error) {
	m := view.NewManager(h.client.Client)
	v, err := m.CreateContainerView(h.ctx, h.client.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, err
	}
	defer v.Destroy(h.ctx)
	var vms []mo.VirtualMachine
	err = v.Retrieve(h.ctx, []string{"VirtualMachine"}, []string{"name", "parent", "config", "runtime.powerState", "guest.ipAddress"}, &vms)
	return vms, err
}

func (h *helper) newVMs() ([]vmInfo, error) {
	vms, err := h.allVMs()
	if err != nil {
		return nil, err
	}
	out := []vmInfo{}
	for _, vm := range vms {
		if h.initial[vm.Self] || vm.Config == nil {
			continue
		}
		i := vmInfo{Name: vm.Name, UUID: vm.Config.Uuid, Power: string(vm.Runtime.PowerState),
			Template: vm.Config.Template, NumCPU: vm.Config.Hardware.NumCPU,
			MemoryMB: vm.Config.Hardware.MemoryMB, Notes: vm.Config.Annotation, Extra: map[string]string{}}
		if vm.Parent != nil {
			if p, err := object.NewCommon(h.client.Client, *vm.Parent).ObjectName(h.ctx); err == nil {
				i.Folder = p
			}
		}
		if vm.Guest != nil {
			i.IP = vm.Guest.IpAddress
		}
		for _, o := range vm.Config.ExtraConfig {
			ov := o.GetOptionValue()
			if s, ok := ov.Value.(string); ok {
				i.Extra[ov.Key] = s
			}
		}
		out = append(out, i)
	}
	return out, nil
}

// assignAddresses gives each new powered-on VM without a guest address one, as VMware tools
// would report after boot.
func (h *helper) assignAddresses() {
	for {
		time.Sleep(50 * time.Millisecond)
		h.mu.Lock()
		on := h.ipOn
		h.mu.Unlock()
		if !on {
			continue
		}
		vms, err := h.allVMs()
		if err != nil {
			continue
		}
		for _, vm := range vms {
			if h.initial[vm.Self] || vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
				continue
			}
			if vm.Guest != nil && vm.Guest.IpAddress != "" {
				continue
			}
			h.mu.Lock()
			h.nextIP++
			ip := fmt.Sprintf("198.18.%d.%d", h.nextIP/250, h.nextIP%250+2)
			h.mu.Unlock()
			spec := types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
				&types.OptionValue{Key: "SET.guest.ipAddress", Value: ip}}}
			if task, err := object.NewVirtualMachine(h.client.Client, vm.Self).Reconfigure(h.ctx, spec); err == nil {
				_ = task.Wait(h.ctx)
			}
		}
	}
}

func (h *helper) sessions() ([]types.UserSession, string, error) {
	var sm mo.SessionManager
	pc := property.DefaultCollector(h.client.Client)
	err := pc.RetrieveOne(h.ctx, *h.client.ServiceContent.SessionManager, []string{"sessionList", "currentSession"}, &sm)
	if err != nil {
		return nil, "", err
	}
	own := ""
	if sm.CurrentSession != nil {
		own = sm.CurrentSession.Key
	}
	return sm.SessionList, own, nil
}

func (h *helper) command(line string) {
	switch strings.TrimSpace(line) {
	case "vms":
		vms, err := h.newVMs()
		if err != nil {
			h.reply(map[string]string{"error": err.Error()})
			return
		}
		h.reply(vms)
	case "ip off", "ip on":
		h.mu.Lock()
		h.ipOn = strings.HasSuffix(line, "on")
		h.mu.Unlock()
		h.reply(map[string]bool{"ok": true})
	case "sessions":
		list, own, err := h.sessions()
		if err != nil {
			h.reply(map[string]string{"error": err.Error()})
			return
		}
		keys := []string{}
		for _, s := range list {
			if s.Key != own && s.UserName == h.user {
				keys = append(keys, s.Key)
			}
		}
		h.reply(map[string][]string{"sessions": keys})
	case "terminate-sessions":
		list, own, err := h.sessions()
		if err != nil {
			h.reply(map[string]string{"error": err.Error()})
			return
		}
		var keys []string
		for _, s := range list {
			if s.Key != own {
				keys = append(keys, s.Key)
			}
		}
		if len(keys) > 0 {
			req := types.TerminateSession{This: *h.client.ServiceContent.SessionManager, SessionId: keys}
			if _, err := methods.TerminateSession(h.ctx, h.client.Client, &req); err != nil {
				h.reply(map[string]string{"error": err.Error()})
				return
			}
		}
		h.reply(map[string]int{"terminated": len(keys)})
	default:
		h.reply(map[string]string{"error": "unknown command " + line})
	}
}

// serverCertificate: a fresh CA and a leaf for 127.0.0.1 signed by it (ECDSA P-256).
func serverCertificate() (tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vcsim CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDer, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	ca, _ := x509.ParseCertificate(caDer)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func main() {
	user := flag.String("user", "peerpods", "the only user name Login accepts")
	pass := flag.String("password", "", "its password (required)")
	flag.Parse()
	if *pass == "" {
		log.Fatal("-password is required")
	}
	log.SetOutput(os.Stderr)

	model := simulator.VPX()
	if err := model.Create(); err != nil {
		log.Fatalf("model: %v", err)
	}
	defer model.Remove()
	// httptest's built-in certificate has a 1024-bit RSA key, which OpenSSL's default security
	// level refuses; like vCenter's, ours is issued by a CA of its own (VMCA's role).
	cert, err := serverCertificate()
	if err != nil {
		log.Fatalf("certificate: %v", err)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(*user, *pass)}
	server := model.Service.NewServer()
	defer server.Close()

	ctx := context.Background()
	u := *server.URL
	client, err := govmomi.NewClient(ctx, &u, true)
	if err != nil {
		log.Fatalf("client: %v", err)
	}

	// The template: upstream's default name, in the datacenter's VM folder.
	si := object.NewSearchIndex(client.Client)
	ref, err := si.FindByInventoryPath(ctx, "/DC0/vm/DC0_H0_VM0")
	if err != nil || ref == nil {
		log.Fatalf("DC0_H0_VM0 not found: %v", err)
	}
	vm := object.NewVirtualMachine(client.Client, ref.Reference())
	if task, err := vm.PowerOff(ctx); err == nil {
		_ = task.Wait(ctx)
	}
	task, err := vm.Rename(ctx, "podvm-template")
	if err != nil || task.Wait(ctx) != nil {
		log.Fatalf("rename: %v", err)
	}
	if err := vm.MarkAsTemplate(ctx); err != nil {
		log.Fatalf("mark as template: %v", err)
	}

	h := &helper{ctx: ctx, client: client, user: *user, initial: map[types.ManagedObjectReference]bool{},
		ipOn: true, out: json.NewEncoder(os.Stdout)}
	vms, err := h.allVMs()
	if err != nil {
		log.Fatalf("list: %v", err)
	}
	for _, v := range vms {
		h.initial[v.Self] = true
	}
	go h.assignAddresses()

	sum := sha1.Sum(server.Certificate().Raw)
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02X", b)
	}
	public := url.URL{Scheme: "https", Host: server.URL.Host, Path: "/sdk"}
	h.reply(map[string]string{"url": public.String(), "thumbprint": strings.Join(hex, ":"),
		"template_uuid": vm.UUID(ctx)})

	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			h.command(sc.Text())
		}
		close(done)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-done:
	case <-sig:
	}
}
