// The provider contract: what every Provider must do whatever cloud is behind it (provider.h),
// as a typed GoogleTest suite run against each provider's fake-backed (or local) instance.
//
// A provider joins with a "contract environment" class and two lines:
//
//   struct MyContract {
//     // Traits: what the provider cannot do, with the documented reason (never a silent skip).
//     static constexpr bool kListsInstances = true;      // false: listInstances is UNIMPLEMENTED
//     MyContract();                                       // starts the fake / local backend
//     std::string skipReason();                           // non-empty: backend unavailable here
//     std::unique_ptr<Provider> makeProvider();           // a NEW provider object ("restart")
//     bool exists(const std::string& id);                 // the backend still has this instance
//     std::vector<std::string> leftovers();               // anything of a pod VM still held
//     void failCreatesAfterTheInstanceExists();           // later creates fail after the instance
//                                                         // was made (called before makeProvider)
//     std::vector<std::string> secrets();                 // must never reach the log
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(My, ProviderContract, MyContract);
//
// Every request's user data carries kUserDataSecret (as the real apf.json carries the VM's TLS
// key), so the log check covers user data for every provider.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "providers/provider.h"

namespace pp::providers::testing {

inline constexpr char kUserDataSecret[] = "contract-vm-tls-key-5d1e0c7f";

// A request as the adaptor makes it; `n` keeps names and sandbox ids apart.
inline CreateRequest contractRequest(int n) {
  char sandbox[17];
  std::snprintf(sandbox, sizeof sandbox, "c0ffee%02d%08x", n, 0x5eed0000u + n);
  CreateRequest r;
  r.podName = "contract";
  r.podNamespace = "default";
  r.sandboxId = sandbox;
  r.instanceName = std::string("podvm-ct-") + sandbox;
  r.userData = std::string("#cloud-config\nwrite_files:\n- path: /run/peerpod/apf.json\n") +
               "  content: '{\"tls-server-key\": \"" + kUserDataSecret + "\"}'\n";
  return r;
}

// Everything logged while it lives, at debug level.
class LogCapture {
 public:
  LogCapture() : level_(log::level()) {
    log::setLevel(log::Level::kDebug);
    log::setSinkForTest([this](std::string_view line) {
      std::lock_guard lock(mu_);
      text_.append(line);
    });
  }
  ~LogCapture() {
    log::setSinkForTest({});
    log::setLevel(level_);
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  log::Level level_;
  std::mutex mu_;
  std::string text_;
};

template <typename Env>
class ProviderContract : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = std::make_unique<Env>();
    ASSERT_FALSE(this->HasFailure()) << "the contract environment did not start";
    if (auto why = env_->skipReason(); !why.empty()) GTEST_SKIP() << why;
  }
  void TearDown() override { env_.reset(); }

  std::unique_ptr<Provider> provider() {
    auto p = env_->makeProvider();
    EXPECT_NE(p, nullptr);
    return p;
  }
  void expectNothingLeft() {
    auto left = env_->leftovers();
    EXPECT_TRUE(left.empty()) << "left behind: " << left.front();
  }

  std::unique_ptr<Env> env_;
};

TYPED_TEST_SUITE_P(ProviderContract);

TYPED_TEST_P(ProviderContract, CreateReturnsAnIpAndDeleteRemovesIt) {
  auto p = this->provider();
  ASSERT_TRUE(p);
  auto req = contractRequest(1);
  auto inst = p->createInstance(req);
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_FALSE(inst->id.empty());
  EXPECT_EQ(inst->name, req.instanceName);
  ASSERT_FALSE(inst->ips.empty());
  EXPECT_FALSE(inst->ips.front().empty());
  EXPECT_TRUE(this->env_->exists(inst->id));
  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_FALSE(this->env_->exists(inst->id));
  this->expectNothingLeft();
}

TYPED_TEST_P(ProviderContract, FailedCreateDeletesWhatItMade) {
  this->env_->failCreatesAfterTheInstanceExists();
  auto p = this->provider();
  ASSERT_TRUE(p);
  auto inst = p->createInstance(contractRequest(2));
  ASSERT_FALSE(inst) << "the create was meant to fail";
  this->expectNothingLeft();
}

TYPED_TEST_P(ProviderContract, DeleteOfAGoneInstanceSucceeds) {
  auto p = this->provider();
  ASSERT_TRUE(p);
  auto inst = p->createInstance(contractRequest(3));
  ASSERT_TRUE(inst) << inst.error().message;
  ASSERT_TRUE(p->deleteInstance(inst->id));
  auto again = p->deleteInstance(inst->id);
  EXPECT_TRUE(again) << again.error().message;
}

// peerpod-ctrl and a restarted adaptor delete with nothing but the id they stored.
TYPED_TEST_P(ProviderContract, DeleteWorksFromTheIdAloneAfterARestart) {
  std::string id;
  {
    auto p = this->provider();
    ASSERT_TRUE(p);
    auto inst = p->createInstance(contractRequest(4));
    ASSERT_TRUE(inst) << inst.error().message;
    id = inst->id;
  }
  auto restarted = this->provider();
  ASSERT_TRUE(restarted);
  auto st = restarted->deleteInstance(id);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_FALSE(this->env_->exists(id));
  this->expectNothingLeft();
}

TYPED_TEST_P(ProviderContract, ListsInstancesByTheirSandboxTag) {
  auto p = this->provider();
  ASSERT_TRUE(p);
  if constexpr (!TypeParam::kListsInstances) {
    auto listed = p->listInstances("");
    ASSERT_FALSE(listed) << "trait kListsInstances=false, but listInstances works";
    EXPECT_EQ(listed.error().code, Code::kUnimplemented);
    return;
  }
  auto a = contractRequest(5), b = contractRequest(6);
  auto ia = p->createInstance(a);
  ASSERT_TRUE(ia) << ia.error().message;
  auto ib = p->createInstance(b);
  ASSERT_TRUE(ib) << ib.error().message;
  auto onlyA = p->listInstances(a.sandboxId);
  ASSERT_TRUE(onlyA) << onlyA.error().message;
  ASSERT_EQ(onlyA->size(), 1u);
  EXPECT_EQ(onlyA->front().id, ia->id);
  EXPECT_EQ(onlyA->front().name, a.instanceName);
  auto all = p->listInstances("");
  ASSERT_TRUE(all) << all.error().message;
  std::set<std::string> ids;
  for (const auto& i : *all) ids.insert(i.id);
  EXPECT_EQ(ids, (std::set<std::string>{ia->id, ib->id}));
  EXPECT_TRUE(p->deleteInstance(ia->id));
  EXPECT_TRUE(p->deleteInstance(ib->id));
  auto none = p->listInstances(a.sandboxId);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty());
}

TYPED_TEST_P(ProviderContract, NoSecretReachesTheLog) {
  std::string logged;
  {
    LogCapture capture;
    auto p = this->provider();
    ASSERT_TRUE(p);
    auto inst = p->createInstance(contractRequest(7));
    ASSERT_TRUE(inst) << inst.error().message;
    EXPECT_TRUE(p->deleteInstance(inst->id));
    this->env_->failCreatesAfterTheInstanceExists();
    auto failing = this->provider();
    ASSERT_TRUE(failing);
    EXPECT_FALSE(failing->createInstance(contractRequest(8)));
    logged = capture.text();
  }
  EXPECT_NE(logged.find(contractRequest(7).instanceName), std::string::npos)
      << "nothing was captured";
  EXPECT_EQ(logged.find(kUserDataSecret), std::string::npos) << "the user data was logged";
  for (const auto& secret : this->env_->secrets()) {
    if (secret.empty()) continue;
    EXPECT_EQ(logged.find(secret), std::string::npos) << "logged: " << secret.substr(0, 12);
  }
}

TYPED_TEST_P(ProviderContract, ConcurrentCreatesAllSucceed) {
  constexpr int kCreates = 4;
  auto p = this->provider();
  ASSERT_TRUE(p);
  std::vector<Result<Instance>> results(kCreates, fail(Code::kUnknown, "not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kCreates; ++i)
    threads.emplace_back([&, i] { results[i] = p->createInstance(contractRequest(10 + i)); });
  for (auto& t : threads) t.join();
  std::set<std::string> ids;
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r->ips.empty());
    ids.insert(r->id);
  }
  EXPECT_EQ(ids.size(), size_t{kCreates});
  for (const auto& id : ids) EXPECT_TRUE(p->deleteInstance(id));
  this->expectNothingLeft();
}

REGISTER_TYPED_TEST_SUITE_P(ProviderContract, CreateReturnsAnIpAndDeleteRemovesIt,
                            FailedCreateDeletesWhatItMade, DeleteOfAGoneInstanceSucceeds,
                            DeleteWorksFromTheIdAloneAfterARestart, ListsInstancesByTheirSandboxTag,
                            NoSecretReachesTheLog, ConcurrentCreatesAllSucceed);

}  // namespace pp::providers::testing
