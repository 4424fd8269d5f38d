// byom's pieces that need no VM: the pool list, the state JSON (golden files written by Go,
// testdata/go/stategolden), upstream's IP choice, namespace and node detection, and the
// ConfigMap read-modify-write against the fake API server, including two nodes racing.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "base/files.h"
#include "fake_kube_api.h"
#include "providers/byom/allocation.h"
#include "providers/byom/byom_config.h"
#include "providers/byom/pool_state.h"
#include "providers/byom/pool_store.h"
#include "providers/registry.h"

namespace pp::providers::byom {
namespace {

std::string testdata(const std::string& name) {
  auto text = files::readFile(std::string(PP_BYOM_TESTDATA) + "/" + name);
  EXPECT_TRUE(text) << name;
  return text ? *text : "";
}

TEST(ByomPoolIps, ListsRangesAndDuplicates) {
  auto ips = parsePoolIps(" 198.18.0.1, 198.18.0.5-198.18.0.7 ,,198.18.0.6,198.18.0.1", 100);
  ASSERT_TRUE(ips) << ips.error().message;
  EXPECT_EQ(*ips,
            (std::vector<std::string>{"198.18.0.1", "198.18.0.5", "198.18.0.6", "198.18.0.7"}));
}

TEST(ByomPoolIps, RangeCrossesAnOctetAndIsCapped) {
  auto ips = parsePoolIps("198.18.0.254-198.18.1.1", 100);
  ASSERT_TRUE(ips);
  EXPECT_EQ(*ips,
            (std::vector<std::string>{"198.18.0.254", "198.18.0.255", "198.18.1.0", "198.18.1.1"}));
  auto capped = parsePoolIps("198.18.0.1-198.18.0.200", 3);
  ASSERT_TRUE(capped);
  EXPECT_EQ(*capped, (std::vector<std::string>{"198.18.0.1", "198.18.0.2", "198.18.0.3"}));
}

TEST(ByomPoolIps, Ipv6IsCanonicalised) {
  auto ips = parsePoolIps("2001:DB8::1-2001:db8::2,2001:0db8::1", 10);
  ASSERT_TRUE(ips);
  EXPECT_EQ(*ips, (std::vector<std::string>{"2001:db8::1", "2001:db8::2"}));
}

TEST(ByomPoolIps, BadItemsAreNamed) {
  for (const char* bad : {"198.18.0.1,nope", "198.18.0.5-198.18.0.1", "198.18.0.1-198.18.0.1",
                          "198.18.0.1-2001:db8::1", "198.18.0.300", "198.18.0.1-"}) {
    auto r = parsePoolIps(bad, 100);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_NE(r.error().message.find("-vm-pool-ips"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(parsePoolIps("", 100)->empty());
}

// Upstream parses VM_POOL_IPS before -max-range-ips exists, so a range from the environment
// gives an empty pool; ours parses at build time with the final cap.
TEST(ByomFlags, RangesFromTheEnvironmentWork) {
  ByomConfig c;
  flags::FlagSet fs(
      "byom", flags::mapEnv({{"VM_POOL_IPS", "198.18.0.1-198.18.0.9"}, {"MAX_RANGE_IPS", "4"}}));
  registerByomFlags(fs, c);
  ASSERT_TRUE(fs.parse({}));
  auto ips = parsePoolIps(c.vmPoolIps, c.maxRangeIps);
  ASSERT_TRUE(ips);
  EXPECT_EQ(ips->size(), 4u);
}

TEST(ByomFlags, EveryUpstreamFlagWithItsVariableAndDefault) {
  auto setup = registry().setup("byom");
  ASSERT_TRUE(setup) << setup.error().message;
  flags::FlagSet fs("byom", flags::mapEnv({}));
  (*setup)->registerFlags(fs);
  const std::map<std::string, std::string> upstream = {
      {"vm-pool-ips", "VM_POOL_IPS"},
      {"ssh-username", "SSH_USERNAME"},
      {"ssh-pub-key", "SSH_PUB_KEY_PATH"},
      {"ssh-priv-key", "SSH_PRIV_KEY_PATH"},
      {"pool-namespace", "POOL_NAMESPACE"},
      {"pool-configmap-name", "POOL_CONFIGMAP_NAME"},
      {"max-range-ips", "MAX_RANGE_IPS"},
      {"ssh-timeout", "SSH_TIMEOUT"},
      {"ssh-host-key-allowlist-dir", "SSH_HOST_KEY_ALLOWLIST_DIR"}};
  const std::string help = fs.helpText();
  for (const auto& [flag, env] : upstream) {
    EXPECT_NE(fs.lookup(flag), nullptr) << flag;
    EXPECT_NE(help.find("(env " + env + ")"), std::string::npos) << env;
  }
  for (const char* d : {"(default \"peerpod\")", "(default \"/root/.ssh/id_rsa.pub\")",
                        "(default \"/root/.ssh/id_rsa\")", "(default \"byom-ip-pool-state\")",
                        "(default 100)", "(default 30)"})
    EXPECT_NE(help.find(d), std::string::npos) << d;
}

TEST(ByomState, WritesWhatGoWrites) {
  PoolState s;
  auto at = parseRfc3339("2026-12-02T07:00:05Z");
  ASSERT_TRUE(at);
  s.allocated["nginx-7f2c-0123456789abcdef"] = {"nginx-7f2c-0123456789abcdef", "198.18.0.12",
                                                "worker-1", "nginx-7f2c", *at};
  s.allocated["busybox-fedcba9876543210"] = {"busybox-fedcba9876543210", "198.18.0.10", "worker-2",
                                             "busybox", *at + 90};
  s.available = {"198.18.0.11", "198.18.0.13"};
  s.lastUpdated = *at + 120;
  s.version = 7;
  EXPECT_EQ(toJson(s), testdata("allocation-state.json"));
  EXPECT_EQ(toJson(PoolState{}), testdata("allocation-state-empty.json"));
}

TEST(ByomState, ReadsWhatGoWritesAndRoundTripsOurFields) {
  auto s = parsePoolState(testdata("allocation-state.json"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->version, 7);
  EXPECT_EQ(s->allocated.size(), 2u);
  EXPECT_EQ(s->allocated.at("busybox-fedcba9876543210").ip, "198.18.0.10");
  EXPECT_EQ(rfc3339(s->lastUpdated), "2026-12-02T07:02:05Z");
  ASSERT_NE(s->findByIp("198.18.0.12"), nullptr);
  EXPECT_EQ(s->findByIp("198.18.0.12")->podName, "nginx-7f2c");

  s->allocated.at("busybox-fedcba9876543210").sandboxId = "fedcba9876543210";
  s->allocated.at("busybox-fedcba9876543210").instanceName = "podvm-busybox-fedcba98";
  s->allocated.at("busybox-fedcba9876543210").drainingSince = s->lastUpdated;
  auto again = parsePoolState(toJson(*s));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, *s);
  // An upstream allocation carries none of our fields.
  EXPECT_EQ(toJson(*s).find("sandboxID"), toJson(*s).rfind("sandboxID"));
}

TEST(ByomState, NullsAndOffsetsAreAccepted) {
  auto s = parsePoolState(
      R"({"allocatedIPs":null,"availableIPs":null,"lastUpdated":"2026-12-02T08:00:05+01:00",
          "version":3,"unknown":1})");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(rfc3339(s->lastUpdated), "2026-12-02T07:00:05Z");
  EXPECT_TRUE(s->allocated.empty());
}

TEST(ByomState, WrongTypesAreDataLossNamingTheField) {
  for (const char* bad :
       {"[]", "{", R"({"allocatedIPs":[]})", R"({"availableIPs":[1]})", R"({"version":"7"})",
        R"({"lastUpdated":"yesterday"})", R"({"allocatedIPs":{"a":{"ip":7}}})",
        R"({"allocatedIPs":{"a":{"allocationID":"a"}}})"}) {
    auto s = parsePoolState(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, Code::kDataLoss);
    EXPECT_NE(s.error().message.find("allocation-state"), std::string::npos);
  }
}

TEST(ByomState, SelectIndexIsUpstreams) {
  std::istringstream lines(testdata("select-index.txt"));
  std::string id;
  size_t n = 0, want = 0;
  int checked = 0;
  while (lines >> id >> n >> want) {
    EXPECT_EQ(selectIndex(n, id), want) << id << " of " << n;
    ++checked;
  }
  EXPECT_EQ(checked, 16);
  EXPECT_EQ(selectIndex(1, "x"), 0u);
  EXPECT_EQ(selectIndex(0, "x"), 0u);
}

TEST(ByomState, RecoveryKeepsAllocationsAndRecomputesAvailable) {
  PoolState s;
  s.allocated["a"] = {"a", "198.18.0.2", "n", "p", 5};
  s.allocated["gone"] = {"gone", "198.18.9.9", "n", "p", 5};  // no longer in the pool: kept
  s.available = {"198.18.0.2", "198.18.7.7"};
  s.version = 4;
  recoverAvailable(s, {"198.18.0.1", "198.18.0.2", "198.18.0.3"}, 100);
  EXPECT_EQ(s.available, (std::vector<std::string>{"198.18.0.1", "198.18.0.3"}));
  EXPECT_EQ(s.allocated.size(), 2u);
  EXPECT_EQ(s.version, 5);
  EXPECT_EQ(s.lastUpdated, 100);
}

TEST(ByomDetect, NamespaceFromFileThenEnvThenDefault) {
  auto dir = std::filesystem::temp_directory_path() / ("byomns" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "namespace").string();
  ASSERT_TRUE(files::writeAtomic(file, " from-file\n"));
  EXPECT_EQ(detectNamespace(flags::mapEnv({{"POD_NAMESPACE", "from-env"}}), file), "from-file");
  ASSERT_TRUE(files::writeAtomic(file, "  \n"));
  EXPECT_EQ(detectNamespace(flags::mapEnv({{"POD_NAMESPACE", "from-env"}}), file), "from-env");
  EXPECT_EQ(detectNamespace(flags::mapEnv({}), (dir / "missing").string()),
            "confidential-containers-system");
  EXPECT_EQ(*detectNodeName(flags::mapEnv({{"NODE_NAME", " n1 "}}), file, file), "n1");
  ASSERT_TRUE(files::writeAtomic(file, "host-a\n"));
  EXPECT_EQ(*detectNodeName(flags::mapEnv({}), (dir / "missing").string(), file), "host-a");
  EXPECT_FALSE(
      detectNodeName(flags::mapEnv({}), (dir / "missing").string(), (dir / "missing").string()));
  std::filesystem::remove_all(dir);
}

class ByomStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api = fakes::FakeKubeApi::start();
    ASSERT_TRUE(api);
  }
  std::unique_ptr<PoolStore> store(std::vector<std::string> pool) {
    PoolStoreOptions o;
    o.ns = "confidential-containers-system";
    o.pool = std::move(pool);
    return std::make_unique<PoolStore>(std::make_shared<k8s::Client>(api->clientConfig()), o);
  }
  PoolState stored() {
    auto cm = api->object("configmaps", "confidential-containers-system", "byom-ip-pool-state");
    if (!cm) return {};
    auto s = parsePoolState((*cm)["data"][kStateKey].get<std::string>());
    EXPECT_TRUE(s) << s.error().message;
    return s ? *s : PoolState{};
  }
  AllocationRequest request(const std::string& id) {
    return {id, "pod", id, "podvm-" + id, "node-a", 1000};
  }
  std::unique_ptr<fakes::FakeKubeApi> api;
};

TEST_F(ByomStoreTest, FirstWriteCreatesTheConfigMapWithUpstreamsLabels) {
  auto s = store({"198.18.0.1", "198.18.0.2"});
  auto a = allocateIp(*s, request("p-1"));
  ASSERT_TRUE(a) << a.error().message;
  auto cm = api->object("configmaps", "confidential-containers-system", "byom-ip-pool-state");
  ASSERT_TRUE(cm);
  EXPECT_EQ((*cm)["metadata"]["labels"]["app.kubernetes.io/name"], "cloud-api-adaptor");
  EXPECT_EQ((*cm)["metadata"]["labels"]["app.kubernetes.io/component"], "byom-ip-pool-state");
  auto st = stored();
  ASSERT_EQ(st.allocated.size(), 1u);
  EXPECT_EQ(st.allocated.at("p-1").ip, a->ip);
  EXPECT_EQ(st.allocated.at("p-1").nodeName, "node-a");
  EXPECT_EQ(st.available.size(), 1u);
  // Upstream's choice: index selectIndex(2, id) of the available list.
  EXPECT_EQ(a->ip, (std::vector<std::string>{"198.18.0.1", "198.18.0.2"})[selectIndex(2, "p-1")]);
}

TEST_F(ByomStoreTest, TheSameAllocationIdGetsTheSameVm) {
  auto s = store({"198.18.0.1", "198.18.0.2", "198.18.0.3"});
  auto a = allocateIp(*s, request("p-1"));
  auto b = allocateIp(*s, request("p-1"));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->ip, b->ip);
  EXPECT_FALSE(a->reused);
  EXPECT_TRUE(b->reused);
  EXPECT_EQ(stored().allocated.size(), 1u);
}

TEST_F(ByomStoreTest, AnEmptyPoolIsResourceExhausted) {
  auto s = store({"198.18.0.1"});
  ASSERT_TRUE(allocateIp(*s, request("p-1")));
  auto b = allocateIp(*s, request("p-2"));
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Code::kResourceExhausted);
  ASSERT_TRUE(releaseIp(*s, "p-1", "198.18.0.1", 2000));
  EXPECT_TRUE(allocateIp(*s, request("p-2")));
}

TEST_F(ByomStoreTest, DrainingStaysAllocatedUntilReleased) {
  auto s = store({"198.18.0.1"});
  ASSERT_TRUE(allocateIp(*s, request("p-1")));
  ASSERT_TRUE(markDraining(*s, "p-1", 1500));
  EXPECT_EQ(stored().allocated.at("p-1").drainingSince, 1500);
  EXPECT_FALSE(allocateIp(*s, request("p-2")));
  // Releasing with the wrong IP (a stale delete) changes nothing.
  ASSERT_TRUE(releaseIp(*s, "p-1", "198.18.0.9", 2000));
  EXPECT_EQ(stored().allocated.size(), 1u);
  ASSERT_TRUE(releaseIp(*s, "p-1", "198.18.0.1", 2000));
  EXPECT_TRUE(stored().allocated.empty());
  EXPECT_EQ(stored().available, std::vector<std::string>{"198.18.0.1"});
}

// A 409 makes the change run again on a fresh read, not write what was computed before.
TEST_F(ByomStoreTest, AConflictRedoesTheChangeOnAFreshRead) {
  auto s = store({"198.18.0.1", "198.18.0.2"});
  ASSERT_TRUE(allocateIp(*s, request("p-1")));
  api->failNext("PUT", "configmaps", 409, "Conflict", 2);
  int runs = 0;
  auto st = s->update([&](PoolStore::Snapshot& snap, bool& write) -> Status {
    ++runs;
    snap.state.version += 100;
    write = true;
    return {};
  });
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(stored().version, 2 + 100);  // created at 1, allocated at 2, then +100 once
}

// A 5xx may or may not have been applied: the change is redone on a fresh read, and an applied
// allocation is found (not made twice).
TEST_F(ByomStoreTest, TransientErrorsAreRetriedAFewTimes) {
  auto s = store({"198.18.0.1", "198.18.0.2"});
  ASSERT_TRUE(allocateIp(*s, request("p-1")));
  api->failNext("PUT", "configmaps", 503, "ServiceUnavailable", 2);
  api->failNext("GET", "configmaps", 500, "InternalError", 1);
  auto a = allocateIp(*s, request("p-2"));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(stored().allocated.size(), 2u);
  api->failNext("PUT", "configmaps", 503, "ServiceUnavailable", 4);  // every retry
  auto b = releaseIp(*s, "p-2", a->ip, 5);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Code::kUnavailable);
}

TEST_F(ByomStoreTest, OtherErrorsAreNotRetried) {
  auto s = store({"198.18.0.1"});
  ASSERT_TRUE(allocateIp(*s, request("p-1")));
  api->failNext("PUT", "configmaps", 403, "Forbidden");
  auto st = releaseIp(*s, "p-1", "198.18.0.1", 5);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kPermissionDenied);
  EXPECT_NE(st.error().message.find("byom-ip-pool-state"), std::string::npos);
}

TEST_F(ByomStoreTest, KeysOtherThanOursSurviveAndHostKeysPersist) {
  auto s = store({"198.18.0.1"});
  ASSERT_TRUE(allocateIp(*s, request("p-1")));
  auto cm = *api->object("configmaps", "confidential-containers-system", "byom-ip-pool-state");
  cm["data"]["operator-note"] = "keep me";
  api->seed("configmaps", cm);
  ASSERT_TRUE(s->update([](PoolStore::Snapshot& snap, bool& write) -> Status {
    snap.hostKeys["198.18.0.1"] = "SHA256:abc";
    write = true;
    return {};
  }));
  cm = *api->object("configmaps", "confidential-containers-system", "byom-ip-pool-state");
  EXPECT_EQ(cm["data"]["operator-note"], "keep me");
  EXPECT_EQ(s->read()->hostKeys.at("198.18.0.1"), "SHA256:abc");
}

TEST_F(ByomStoreTest, ADamagedStateIsAnErrorNotAFreshPool) {
  auto s = store({"198.18.0.1"});
  api->seed("configmaps",
            {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata",
              {{"name", "byom-ip-pool-state"}, {"namespace", "confidential-containers-system"}}},
             {"data", {{kStateKey, "{not json"}}}});
  auto a = allocateIp(*s, request("p-1"));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Code::kDataLoss);
}

// Two adaptors on two nodes (each its own client and store) allocate 100 VMs from a pool of
// 100 on one API server, 4 threads each. With the state computed outside the retry (upstream)
// a 409 retry writes the stale state back and an IP is handed out twice or an allocation is
// lost; here every VM must go to exactly one allocation.
TEST_F(ByomStoreTest, TwoNodesRacingNeverHandOutAnIpTwice) {
  auto pool = parsePoolIps("198.18.10.1-198.18.10.100", 100);
  ASSERT_TRUE(pool);
  auto nodeA = store(*pool);
  auto nodeB = store(*pool);
  std::vector<std::string> got(100);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      PoolStore& s = t % 2 ? *nodeB : *nodeA;
      for (int i = t; i < 100; i += 8) {
        AllocationRequest r{"pod-" + std::to_string(i),  "pod", std::to_string(i), "vm",
                            t % 2 ? "node-b" : "node-a", 1000};
        auto a = allocateIp(s, r);
        if (!a) {
          ++failures;
          ADD_FAILURE() << a.error().message;
          continue;
        }
        got[i] = a->ip;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::string> distinct(got.begin(), got.end());
  EXPECT_EQ(distinct.size(), 100u) << "an IP was handed out twice";
  auto st = stored();
  EXPECT_EQ(st.allocated.size(), 100u) << "an allocation was lost";
  EXPECT_TRUE(st.available.empty());
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(st.allocated.at("pod-" + std::to_string(i)).ip, got[i]) << i;
  // And back: all released concurrently, the pool is whole again.
  threads.clear();
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      PoolStore& s = t % 2 ? *nodeB : *nodeA;
      for (int i = t; i < 100; i += 8)
        EXPECT_TRUE(releaseIp(s, "pod-" + std::to_string(i), got[i], 2000));
    });
  for (auto& th : threads) th.join();
  st = stored();
  EXPECT_TRUE(st.allocated.empty());
  std::set<std::string> back(st.available.begin(), st.available.end());
  EXPECT_EQ(back.size(), 100u);
  EXPECT_EQ(st.available.size(), 100u);
}

}  // namespace
}  // namespace pp::providers::byom
