// The values testdata/go/apfgo marshals into the golden files, built on our side. Keep the two
// in step: a case added here needs the same case in apfgo's cases() and regenerated goldens
// (apfgo golden src/apf/testdata).
#pragma once

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <map>
#include <string>

#include "apf/apf_config.h"

namespace pp::apf::testcases {

inline podnetwork::Ipv4Prefix prefix(std::string_view text) {
  return *podnetwork::Ipv4Prefix::parse(text);
}
inline podnetwork::Ipv4Address address(std::string_view text) {
  return *podnetwork::Ipv4Address::parse(text);
}
inline podnetwork::MacAddress mac(std::string_view text) {
  return *podnetwork::MacAddress::parse(text);
}

inline const std::map<std::string, ApfConfig>& all() {
  static const std::map<std::string, ApfConfig> cases = [] {
    std::map<std::string, ApfConfig> m;
    ApfConfig& none = m["no-network"];
    none.podNamespace = "default";
    none.podName = "nginx-7d9c";

    ApfConfig& tls = m["tls"];
    podnetwork::PodNetworkConfig& n = tls.podNetwork.emplace();
    n.podIp = prefix("10.244.1.5/24");
    n.podHwAddr = mac("0a:58:0a:f4:01:05");
    n.interfaceName = "eth0";
    n.workerNodeIp = prefix("192.168.122.10/24");
    n.tunnelType = "vxlan";
    n.routes = {
        {.gw = address("10.244.1.1"), .dev = "eth0"},
        {.dst = prefix("10.244.1.0/24"),
         .dev = "eth0",
         .protocol = RTPROT_KERNEL,
         .scope = RT_SCOPE_LINK},
        {.dst = prefix("10.96.0.0/12"),
         .gw = address("10.244.1.1"),
         .dev = "eth0",
         .protocol = RTPROT_STATIC},
    };
    n.neighbors = {{.ip = address("10.244.1.1"),
                    .hwAddr = mac("ee:ee:ee:ee:ee:ee"),
                    .dev = "eth0",
                    .state = NUD_PERMANENT}};
    n.mtu = 1450;
    n.index = 3;
    n.vxlanPort = 4789;
    n.vxlanId = 555001;
    tls.podNamespace = "team-a";
    tls.podName = "web-0";
    tls.tlsServerKey =
        "-----BEGIN EC PRIVATE KEY-----\n"
        "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oCPtO/H7P2w1oAoGCCqGSM49\n"
        "AwEHoUQDQgAEXr+QxaRyCKCuhMsmSm9T6i7oZ8MX5Vz3PWg/mHL2xHbzKf/yx0Vt\n"
        "V0Ic5QUDBdLtrJLBK4lVhRGBTmr0rVTbRw==\n"
        "-----END EC PRIVATE KEY-----\n";
    tls.tlsServerCert =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw\n"
        "DgYDVQQKEwdBY21lIENvMB4XDTE3MTAyMDE5NDMwNloXDTE4MTAyMDE5NDMwNlow\n"
        "-----END CERTIFICATE-----\n";
    tls.tlsClientCa =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBfDCCASOgAwIBAgIRAJw+CA==\n"
        "-----END CERTIFICATE-----\n";
    tls.tlsMinVersion = "VersionTLS13";
    tls.tlsCipherSuites = {"TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"};

    ApfConfig& minimal = m["network-minimal"];
    podnetwork::PodNetworkConfig& mn = minimal.podNetwork.emplace();
    mn.podIp = prefix("10.0.0.7/32");
    mn.podHwAddr = mac("02:00:00:00:00:07");
    mn.interfaceName = "eth0";
    mn.workerNodeIp = prefix("198.18.0.1/16");
    mn.tunnelType = "vxlan";
    mn.routes = {{.gw = address("169.254.1.1"), .dev = "eth0"},
                 {.dst = prefix("169.254.1.1/32"), .dev = "eth0", .scope = RT_SCOPE_LINK}};
    mn.mtu = 1500;
    mn.vxlanId = 555000;
    mn.dedicated = true;
    mn.externalNetViaPodVm = true;
    minimal.podNamespace = "kube-system";
    minimal.podName = "coredns-1";

    ApfConfig& sc = m["secure-comms"];
    sc.podNamespace = "default";
    sc.podName = "sc";
    sc.ppPrivateKey = std::string("\x00\xff\x10\x80key\x7f", 8);
    sc.wnPublicKey = "ssh-rsa AAAAB3NzaC1yc2E= wn";
    sc.secureCommsInbounds = "KUBERNETES_PHASE:KATAAGENT:0";
    sc.secureCommsOutbounds = "BOTH_PHASES:KBS:kbs-service.trustee-operator-system:8080";
    sc.secureComms = true;

    ApfConfig& esc = m["escaping"];
    esc.podNamespace = "tab\there\r\n\x01\x1f\x7f";
    esc.podName = "a<b>&\"c\"\\d/\u00e9\u20ac\U0001F600\u2028\u2029\ufffd";

    ApfConfig& bad = m["invalid-utf8"];
    bad.podNamespace = "ns";
    bad.podName =
        "bad\xff"
        "byte\xc3";
    return m;
  }();
  return cases;
}

}  // namespace pp::apf::testcases
