#include "adaptor/config.h"

#include <openssl/ssl.h>

#include <memory>

#include "base/log_flag.h"
#include "net/host_port.h"
#include "net/tls.h"
#include "securecomms/securecomms.h"

namespace pp::adaptor {

void AdaptorConfig::registerFlags(flags::FlagSet& fs) {
  using namespace std::chrono_literals;
  fs.stringVar(&socket, "socket", "/run/peerpod/hypervisor.sock", "REMOTE_HYPERVISOR_ENDPOINT",
               "Unix domain socket path of remote hypervisor service");
  fs.stringVar(&podsDir, "pods-dir", "/run/peerpod/pods", "PODS_DIR",
               "base directory for pod directories");
  fs.stringVar(&pauseImage, "pause-image", "", "PAUSE_IMAGE",
               "pause image to be used for the pods (unused)");
  fs.uintVar(&forwarderPort, "forwarder-port", 15150, "FORWARDER_PORT",
             "port number of agent protocol forwarder");
  fs.stringVar(&caCertFile, "ca-cert-file", "", "CACERT_FILE",
               "CA cert file that verifies the pod VM's agent-protocol-forwarder");
  fs.stringVar(&certFile, "cert-file", "", "CERT_FILE",
               "client certificate file presented to the pod VM");
  fs.stringVar(&certKey, "cert-key", "", "CERT_KEY", "client private key file").secret();
  fs.boolVar(&tlsSkipVerify, "tls-skip-verify", false, "TLS_SKIP_VERIFY",
             "skip TLS certificate verification of the pod VM (insecure)");
  fs.stringVar(&tlsMinVersion, "tls-min-version", "", "TLS_MIN_VERSION",
               "lowest TLS version between the adaptor and its pod VMs: VersionTLS12 or "
               "VersionTLS13");
  fs.stringVar(&tlsCipherSuites, "tls-cipher-suites", "", "TLS_CIPHER_SUITES",
               "TLS 1.2 cipher suites between the adaptor and its pod VMs, IANA names separated "
               "by commas (not with VersionTLS13)");
  fs.durationVar(&proxyTimeout, "proxy-timeout", 5min, "PROXY_TIMEOUT",
                 "maximum timeout for connecting to the pod VM's agent");
  fs.stringVar(&tunnelType, "tunnel-type", "vxlan", "TUNNEL_TYPE", "tunnel provider");
  fs.uintVar(&vxlanPort, "vxlan-port", 4789, "VXLAN_PORT", "VXLAN UDP port number");
  fs.stringVar(&initdata, "initdata", "", "INITDATA",
               "default initdata for all pods (base64(gzip(TOML)))");
  fs.boolVar(&cloudConfigVerify, "cloud-config-verify", false, "CLOUD_CONFIG_VERIFY",
             "verify the cloud provider's configuration at start");
  fs.intVar(&peerpodsLimitPerNode, "peerpods-limit-per-node", 10, "PEERPODS_LIMIT_PER_NODE",
            "peer pods limit per node (kata.peerpods.io/vm extended resource)");
  fs.boolVar(&enableScratchSpace, "enable-scratch-space", false, "ENABLE_SCRATCH_SPACE",
             "create an encrypted scratch space in the pod VM");
  fs.boolVar(&secureComms, "secure-comms", false, "SECURE_COMMS",
             "use SSH secure communication with the pod VM");
  fs.boolVar(&secureCommsNoTrustee, "secure-comms-no-trustee", false, "SECURE_COMMS_NO_TRUSTEE",
             "deliver secure-comms keys without Trustee");
  fs.stringVar(&secureCommsInbounds, "secure-comms-inbounds", "", "SECURE_COMMS_INBOUNDS",
               "worker node inbound tunnel tags");
  fs.stringVar(&secureCommsOutbounds, "secure-comms-outbounds", "", "SECURE_COMMS_OUTBOUNDS",
               "worker node outbound tunnel tags");
  fs.stringVar(&secureCommsPpInbounds, "secure-comms-pp-inbounds", "", "SECURE_COMMS_PP_INBOUNDS",
               "pod VM inbound tunnel tags");
  fs.stringVar(&secureCommsPpOutbounds, "secure-comms-pp-outbounds", "",
               "SECURE_COMMS_PP_OUTBOUNDS", "pod VM outbound tunnel tags");
  fs.stringVar(&secureCommsKbs, "secure-comms-kbs", "kbs-service.trustee-operator-system:8080",
               "SECURE_COMMS_KBS_ADDR", "address of the Trustee KBS");
  fs.boolVar(&disableTls, "disable-tls", false, "",
             "disable TLS to the pod VM (insecure; tests only)");
  fs.stringVar(&hostInterface, "host-interface", "", "",
               "host interface name to use for the VXLAN tunnel");
  fs.uintVar(&vxlanMinId, "vxlan-min-id", 555000, "", "minimum VXLAN ID");
  fs.boolVar(&extNetworkViaPodvm, "ext-network-via-podvm", false, "",
             "route the pod's external traffic through the pod VM (experimental)");
  fs.stringListVar(
      &podSubnetCidrs, "pod-subnet-cidrs", {}, "",
      "pod subnet CIDRs routed through the pod's gateway (comma-separated, repeatable)");
  fs.stringListVar(
      &allowedImages, "allowed-images", {}, "ALLOWED_IMAGES",
      "pod VM images that a pod's io.katacontainers.config.hypervisor.image annotation may name: "
      "names or ids, '*' matches any run of characters (comma-separated; empty: any image, "
      "except on docker)");
  fs.uintVar(&workers, "provider-workers", 1024, "PROVIDER_WORKERS",
             "most cloud provider calls at once (a thread each, started on demand)");
  fs.uintVar(&probePort, "probe-port", 8000, "PROBE_PORT",
             "port of the /startup probe (also GET /metrics, on 127.0.0.1)");
  fs.stringVar(&metricsListen, "metrics-listen", "", "METRICS_LISTEN",
               "host:port that serves GET /metrics to a scraper (empty: /metrics only on the "
               "probe port, which listens on 127.0.0.1)");
  log::addLogFormatFlag(fs);
}

Status AdaptorConfig::validate() const {
  if (!metricsListen.empty()) {
    if (auto a = net::parseHostPort(metricsListen); !a)
      return fail(a.error().wrap("-metrics-listen (METRICS_LISTEN)"));
  }
  if (forwarderPort == 0 || forwarderPort > 65535) {
    return fail(Code::kInvalidArgument, "-forwarder-port must be between 1 and 65535");
  }
  if (vxlanPort == 0 || vxlanPort > 65535)
    return fail(Code::kInvalidArgument, "-vxlan-port must be between 1 and 65535");
  if (vxlanMinId == 0 || vxlanMinId > 0xffffff) {
    return fail(Code::kInvalidArgument, "-vxlan-min-id must be between 1 and 16777215");
  }
  if (tunnelType != "vxlan") {
    return fail(Code::kInvalidArgument,
                "-tunnel-type \"" + tunnelType + "\" is not supported (only vxlan)");
  }
  if (tlsSkipVerify && !caCertFile.empty()) {
    return fail(Code::kInvalidArgument, "-tls-skip-verify cannot be used with -ca-cert-file");
  }
  if (!disableTls) {
    // As upstream, a profile its VMs would refuse stops the adaptor at start, not at each pod.
    auto profile = net::parseTlsProfile(tlsMinVersion, tlsCipherSuiteList());
    if (!profile) return fail(profile.error().wrap("-tls-min-version/-tls-cipher-suites"));
    // Suites Go accepts but this OpenSSL lacks (RC4) would otherwise fail each StartVM.
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> probe(SSL_CTX_new(TLS_method()),
                                                            SSL_CTX_free);
    if (auto st = net::applyTlsProfile(probe.get(), *profile); !st) {
      return fail(st.error().wrap("-tls-cipher-suites"));
    }
  }
  if (certFile.empty() != certKey.empty()) {
    return fail(Code::kInvalidArgument, "-cert-file and -cert-key must be given together");
  }
  if (secureComms) {
    // Tags are checked here so that a typo stops the start, not each pod.
    for (auto [flag, value] : {std::pair{"-secure-comms-inbounds", &secureCommsInbounds},
                               {"-secure-comms-outbounds", &secureCommsOutbounds},
                               {"-secure-comms-pp-inbounds", &secureCommsPpInbounds},
                               {"-secure-comms-pp-outbounds", &secureCommsPpOutbounds}}) {
      if (auto tags = securecomms::parseTags(*value); !tags) return fail(tags.error().wrap(flag));
    }
    if (secureCommsKbs.rfind(':') == std::string::npos) {
      return fail(Code::kInvalidArgument,
                  "-secure-comms-kbs \"" + secureCommsKbs + "\": want host:port");
    }
  }
  if (proxyTimeout <= std::chrono::nanoseconds::zero()) {
    return fail(Code::kInvalidArgument, "-proxy-timeout must be positive");
  }
  if (workers == 0 || workers > 1024)
    return fail(Code::kInvalidArgument, "-provider-workers must be 1..1024");
  return {};
}

std::vector<std::string> AdaptorConfig::tlsCipherSuiteList() const {
  std::vector<std::string> out;
  if (tlsCipherSuites.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t comma = tlsCipherSuites.find(',', start);
    out.push_back(tlsCipherSuites.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace pp::adaptor
