#include "adaptor/sandbox_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "base/files.h"

namespace pp::adaptor {
namespace {

// A state file as the adaptor writes it: the pod network in apf.json's keys under "network",
// and the VNI again under "vni" for whoever reads the file.
const char* const kStateFile = R"({
  "createdAt": 1700000000,
  "id": "sb1",
  "instanceId": "i-123",
  "instanceName": "podvm-web-0-sb1",
  "ips": [
    "198.18.0.10"
  ],
  "lastError": "",
  "netnsPath": "/run/netns/p",
  "network": {
    "dedicated": false,
    "external-net-via-pod-vm": false,
    "index": 0,
    "interface": "eth0",
    "mtu": 1450,
    "neighbors": [],
    "pod-hw-addr": "0a:58:c6:13:01:0a",
    "podip": "198.19.1.10/24",
    "routes": [
      {
        "dev": "eth0",
        "dst": "",
        "gw": "198.19.1.1",
        "protocol": "boot"
      }
    ],
    "tunnel-type": "vxlan",
    "vxlan-id": 555001,
    "vxlan-port": 4789,
    "worker-node-ip": "198.18.0.2/24"
  },
  "peerPodName": "",
  "phase": "running",
  "podName": "web-0",
  "podNamespace": "team",
  "podUid": "",
  "spec": {
    "gpuModel": "",
    "gpus": 0,
    "image": "",
    "instanceType": "",
    "memoryMiB": 2048,
    "multiNic": false,
    "vcpus": 2
  },
  "startedAt": 1700000060,
  "tls": {
    "caCert": "",
    "clientCert": "",
    "clientKey": ""
  },
  "userData": "#cloud-config\n",
  "version": 1,
  "vni": 555001
})";

TEST(SandboxState, NetworkIsTypedAndTheFileKeepsItsFormat) {
  auto state = SandboxState::fromJson(nlohmann::json::parse(kStateFile));
  ASSERT_TRUE(state) << state.error().message;
  ASSERT_TRUE(state->network);
  EXPECT_EQ(state->network->vxlanId, 555001u);
  EXPECT_EQ(state->vni(), 555001u);
  EXPECT_EQ(state->network->podIp->toString(), "198.19.1.10/24");
  ASSERT_EQ(state->network->routes.size(), 1u);
  EXPECT_FALSE(state->network->routes[0].dst);
  EXPECT_EQ(state->phase, Phase::kRunning);
  // Written back byte for byte.
  EXPECT_EQ(state->toJson().dump(2), kStateFile);
}

TEST(SandboxState, NoNetworkIsNullAndVniZero) {
  auto json = nlohmann::json::parse(kStateFile);
  json["network"] = nullptr;
  json["vni"] = 0;
  auto state = SandboxState::fromJson(json);
  ASSERT_TRUE(state);
  EXPECT_FALSE(state->network);
  EXPECT_EQ(state->vni(), 0u);
  EXPECT_EQ(state->toJson(), json);
  json.erase("network");  // also absent
  json.erase("vni");
  state = SandboxState::fromJson(json);
  ASSERT_TRUE(state);
  EXPECT_FALSE(state->network);
}

TEST(SandboxState, TheVniIsTheNetworksOwn) {
  // The file's "vni" is a copy for readers; the config's vxlan-id is what counts.
  auto json = nlohmann::json::parse(kStateFile);
  json["vni"] = 1;
  auto state = SandboxState::fromJson(json);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->vni(), 555001u);
  EXPECT_EQ(state->toJson()["vni"], 555001);
}

TEST(SandboxState, MalformedNetworkIsAnErrorNamingIt) {
  auto json = nlohmann::json::parse(kStateFile);
  json["network"]["podip"] = "not an address";
  auto state = SandboxState::fromJson(json);
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().code, Code::kInvalidArgument);
  EXPECT_NE(state.error().message.find("network"), std::string::npos) << state.error().message;
  EXPECT_NE(state.error().message.find("podip"), std::string::npos) << state.error().message;
}

TEST(SandboxState, UnknownPhaseIsAnError) {
  auto json = nlohmann::json::parse(kStateFile);
  json["phase"] = "sleeping";
  EXPECT_FALSE(SandboxState::fromJson(json));
  for (Phase p :
       {Phase::kCreated, Phase::kStarting, Phase::kRunning, Phase::kStopping, Phase::kFailed}) {
    EXPECT_EQ(parsePhase(phaseName(p)), p);
  }
}

TEST(FileStateStore, SavesPrivatelyAndLoadsWhatItSaved) {
  auto dir = std::filesystem::temp_directory_path() /
             ("file-state-store-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  FileStateStore store(dir.string());
  auto state = SandboxState::fromJson(nlohmann::json::parse(kStateFile));
  ASSERT_TRUE(state);
  ASSERT_TRUE(store.save(*state, files::Durability::kDurable));
  auto path = dir / "sb1" / "state.json";
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto text = files::readFile(path.string(), 1 << 20);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, std::string(kStateFile) + "\n");

  // Unreadable files and a state in the wrong directory are reported and skipped.
  std::filesystem::create_directories(dir / "bad");
  ASSERT_TRUE(files::writeAtomic((dir / "bad" / "state.json").string(), "{", 0600));
  std::filesystem::create_directories(dir / "moved");
  ASSERT_TRUE(files::writeAtomic((dir / "moved" / "state.json").string(), kStateFile, 0600));
  std::vector<std::string> problems;
  auto loaded = store.loadAll(&problems);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].id, "sb1");
  EXPECT_EQ(loaded[0].network, state->network);
  EXPECT_EQ(problems.size(), 2u);

  ASSERT_TRUE(store.remove("sb1"));
  EXPECT_FALSE(std::filesystem::exists(dir / "sb1"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pp::adaptor
