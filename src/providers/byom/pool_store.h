// The ConfigMap that holds the pool's state, shared by every adaptor of the cluster (and by
// upstream's, see pool_state.h). Every change is a read-modify-write done again from a fresh
// read when the API server answers 409 (another node wrote in between): upstream computes the
// new state once, before its retry loop, and so overwrites allocations made meanwhile.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "k8s/client.h"
#include "providers/byom/pool_state.h"

namespace pp::providers::byom {

struct PoolStoreOptions {
  std::string ns;
  std::string name = "byom-ip-pool-state";
  std::vector<std::string> pool;  // the configured addresses
  int maxAttempts = 100;          // read-modify-write attempts before giving up (ABORTED)
};

class PoolStore {
 public:
  // What the ConfigMap holds. `present` is false when there is no state yet (no ConfigMap,
  // or no allocation-state key): `state` is then a fresh one over the pool.
  struct Snapshot {
    PoolState state;
    std::map<std::string, std::string> hostKeys;  // ip -> "SHA256:..."
    bool present = false;
  };
  // A change: edits the snapshot, sets `write` when it changed something, and returns an
  // error to abandon the change. It may run several times (after conflicts), each time on a
  // fresh read, so it must not have effects outside its captured results.
  using Change = std::function<Status(Snapshot& snapshot, bool& write)>;

  PoolStore(std::shared_ptr<const k8s::Client> client, PoolStoreOptions options);

  Result<Snapshot> read() const;
  Status update(const Change& change) const;

  const PoolStoreOptions& options() const { return options_; }
  const k8s::Client& client() const { return *client_; }

 private:
  struct Raw {
    Snapshot snapshot;
    k8s::Json object;  // the ConfigMap, null when absent
  };
  Result<Raw> readRaw() const;

  std::shared_ptr<const k8s::Client> client_;
  PoolStoreOptions options_;
};

int64_t unixNow();

}  // namespace pp::providers::byom
