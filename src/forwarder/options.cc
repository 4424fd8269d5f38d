#include "base/log_flag.h"
#include "forwarder/forwarder.h"

namespace pp::forwarder {

void Options::registerFlags(flags::FlagSet& fs) {
  // Upstream's forwarder reads no environment variables: every env name is empty.
  fs.boolVar(&version, "version", false, "", "Show version");
  fs.stringVar(&configPath, "config", kDefaultConfigPath, "", "Path to a config file");
  fs.stringVar(&listen, "listen", kDefaultListen, "", "Listen address");
  fs.stringVar(&agentSocket, "kata-agent-socket", kDefaultAgentSocket, "",
               "Path to a kata agent socket");
  fs.stringVar(&podNamespace, "pod-namespace", kDefaultPodNamespace, "",
               "Path to the network namespace where the pod runs");
  fs.stringVar(&hostInterface, "host-interface", "", "",
               "network interface name that is used for network tunnel traffic");
  fs.stringVar(&caCertFile, "ca-cert-file", "", "", "CA cert file");
  fs.stringVar(&certFile, "cert-file", "", "", "cert file");
  fs.stringVar(&certKey, "cert-key", "", "", "cert key");
  fs.boolVar(&tlsSkipVerify, "tls-skip-verify", false, "",
             "Skip TLS certificate verification - use it only for testing");
  fs.boolVar(&disableTls, "disable-tls", false, "",
             "Disable TLS encryption - use it only for testing");
  fs.boolVar(&secureComms, "secure-comms", false, "",
             "Use SSH to secure communication between cluster and peer pod");
  fs.stringVar(&secureCommsInbounds, "secure-comms-inbounds", "", "",
               "WN Inbound tags for secure communication tunnels");
  fs.stringVar(&secureCommsOutbounds, "secure-comms-outbounds", "", "",
               "WN Outbound tags for secure communication tunnels");
  fs.boolVar(&noPodNetwork, "no-pod-network", false, "",
             "Do not set up the pod network (tests without root or network namespaces)");
  fs.uintVar(&maxPendingHandshakes, "max-pending-handshakes", kDefaultMaxPendingHandshakes, "",
             "Connections that may be in their TLS handshake at once; more wait to be accepted");
  fs.durationVar(&handshakeTimeout, "handshake-timeout", kDefaultHandshakeTimeout, "",
                 "Time a connection has to complete its TLS handshake");
  fs.durationVar(&idleTimeout, "idle-timeout", kDefaultIdleTimeout, "",
                 "Close a connection with no call in flight for this long (0: never)");
  fs.stringVar(&metricsListen, "metrics-listen", "", "",
               "host:port to serve GET /metrics on (Prometheus text format); empty: off");
  // Ours, not upstream's; the logger itself reads LOG_FORMAT, as this flag set reads no
  // environment.
  log::addLogFormatFlag(fs);
}

}  // namespace pp::forwarder
