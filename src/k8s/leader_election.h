// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it
// (controller-runtime's --leader-elect): the holder renews the Lease every retry period; a
// candidate takes it over once it has seen no change of the holder's renewal for the lease
// duration (measured on its own clock, so clocks need not agree); writes are conditional on
// the resourceVersion, so two candidates cannot both win.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>

#include "k8s/client.h"

namespace pp::k8s {

namespace resources {
inline const Resource kLeases{"coordination.k8s.io", "v1", "leases"};
}

struct LeaderElectionOptions {
  std::string ns;
  std::string name;      // the Lease, e.g. upstream's "33f6c5d6.confidentialcontainers.org"
  std::string identity;  // this candidate, unique (host name + random suffix)
  // controller-runtime's defaults.
  std::chrono::milliseconds leaseDuration{15000};
  std::chrono::milliseconds renewDeadline{10000};
  std::chrono::milliseconds retryPeriod{2000};
};

class LeaderElector {
 public:
  LeaderElector(const Client& client, LeaderElectionOptions options);

  // Blocks until this candidate holds the Lease (true) or `stop` is requested (false).
  bool acquire(std::stop_token stop);
  // Keeps renewing until `stop` is requested (true) or the Lease could not be renewed for
  // renewDeadline or another candidate took it (false: leadership lost, stop working at once).
  bool hold(std::stop_token stop);
  // Hands the Lease over at once (holder cleared), so a successor need not wait it out.
  void release();

  // One attempt to take or renew the Lease; false when another candidate holds it.
  Result<bool> tryAcquireOrRenew();

 private:
  const Client& client_;
  LeaderElectionOptions options_;
  // What this candidate last saw of the Lease, and when (its own clock).
  std::string observedHolder_;
  std::string observedRenewTime_;
  std::chrono::steady_clock::time_point observedAt_{};
};

// A Kubernetes MicroTime for now: "2026-01-02T15:04:05.000000Z".
std::string microTimeNow();

}  // namespace pp::k8s
