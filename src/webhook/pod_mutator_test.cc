// The mutation rules, with upstream's eleven test cases (mutating-webhook_test.go) ported as a
// table. Each case goes through the whole path: an AdmissionReview is answered, its JSON patch is
// decoded and applied to the submitted pod, and the result must equal the expected pod.
#include "webhook/pod_mutator.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "webhook/admission.h"

namespace pp::webhook {
namespace {

using nlohmann::json;

const std::string kVcpus(kCpuAnnotation);
const std::string kMemory(kMemoryAnnotation);
const std::string kGpus(kGpuAnnotation);

json container(const std::string& name, json requests, json limits) {
  json c{{"name", name}, {"image", "busybox"}, {"resources", json::object()}};
  if (!requests.is_null()) c["resources"]["requests"] = std::move(requests);
  if (!limits.is_null()) c["resources"]["limits"] = std::move(limits);
  return c;
}

json pod(const std::string& runtimeClass, json containers, json initContainers = nullptr) {
  json p{{"apiVersion", "v1"},
         {"kind", "Pod"},
         {"metadata", {{"name", "test"}, {"namespace", "default"}}},
         {"spec", {{"runtimeClassName", runtimeClass}, {"containers", std::move(containers)}}}};
  if (!initContainers.is_null()) p["spec"]["initContainers"] = std::move(initContainers);
  return p;
}

// The expected result: every container's resources emptied, the first one requesting the VM.
json mutated(json p, const std::map<std::string, std::string>& annotations) {
  if (!annotations.empty()) {
    for (const auto& [k, v] : annotations) p["metadata"]["annotations"][k] = v;
  }
  for (auto& c : p["spec"]["containers"]) c["resources"] = json::object();
  if (p["spec"].contains("initContainers")) {
    for (auto& c : p["spec"]["initContainers"]) c["resources"] = json::object();
  }
  p["spec"]["containers"][0]["resources"] = {{"requests", {{"kata.peerpods.io/vm", "1"}}},
                                             {"limits", {{"kata.peerpods.io/vm", "1"}}}};
  return p;
}

json review(const json& object, const std::string& operation = "CREATE") {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"namespace", "default"},
            {"operation", operation},
            {"object", object}}}};
}

struct Admitted {
  json response;
  json patch;   // decoded ops (empty array when none)
  json result;  // the pod after applying the patch
};

Admitted admit(const json& object, const MutatorConfig& config = {}) {
  AdmissionHandler handler(config);
  AdmissionOutcome out = handler.handle("application/json", review(object).dump());
  Admitted a;
  json body = json::parse(out.body);
  EXPECT_EQ(body["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(body["kind"], "AdmissionReview");
  a.response = body["response"];
  EXPECT_EQ(a.response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(a.response["allowed"], true) << out.body;
  a.patch = json::array();
  if (a.response.contains("patch")) {
    EXPECT_EQ(a.response["patchType"], "JSONPatch");
    auto raw = encoding::base64Decode(a.response["patch"].get<std::string>());
    EXPECT_TRUE(raw.has_value());
    a.patch = json::parse(raw.value_or("[]"));
    EXPECT_FALSE(a.patch.empty()) << "a patch is only sent when something changes";
  } else {
    EXPECT_FALSE(a.response.contains("patchType"));
  }
  a.result = object.patch(a.patch);
  return a;
}

struct UpstreamCase {
  const char* name;
  json input;
  std::map<std::string, std::string> annotations;  // expected sizing annotations
  bool targeted = true;
};

std::vector<UpstreamCase> upstreamCases() {
  std::vector<UpstreamCase> cases;
  cases.push_back(
      {"CpuMemReqLimit",
       pod("kata-remote", json::array({container("container1", {{"cpu", "2"}, {"memory", "4Gi"}},
                                                 {{"cpu", "3"}, {"memory", "5Gi"}})})),
       {{kVcpus, "3"}, {kMemory, "5120"}}});
  cases.push_back(
      {"CpuReq",
       pod("kata-remote", json::array({container("container1", {{"cpu", "2"}}, nullptr)})),
       {{kVcpus, "2"}}});
  cases.push_back(
      {"MemReq",
       pod("kata-remote", json::array({container("container1", {{"memory", "4Gi"}}, nullptr)})),
       {{kMemory, "4096"}}});
  cases.push_back({"GpuReq",
                   pod("kata-remote",
                       json::array({container("container1", {{"nvidia.com/gpu", "1"}}, nullptr)})),
                   {{kGpus, "1"}}});
  cases.push_back(
      {"NoReq",
       pod("kata-remote", json::array({json{{"name", "container1"}, {"image", "busybox"}}})),
       {}});
  cases.push_back(
      {"CpuMemReqLimitSame",
       pod("kata-remote", json::array({container("container1", {{"cpu", "2"}, {"memory", "4Gi"}},
                                                 {{"cpu", "2"}, {"memory", "4Gi"}})})),
       {{kVcpus, "2"}, {kMemory, "4096"}}});
  cases.push_back({"InitContainers",
                   pod("kata-remote",
                       json::array({container("container1", {{"cpu", "2"}, {"memory", "4Gi"}},
                                              {{"cpu", "3"}, {"memory", "5Gi"}}),
                                    container("container2", {{"cpu", "1"}, {"memory", "1Gi"}},
                                              {{"cpu", "1"}, {"memory", "1Gi"}}),
                                    container("container3", {{"cpu", "1"}, {"nvidia.com/gpu", "1"}},
                                              {{"cpu", "1"}, {"nvidia.com/gpu", "1"}})}),
                       json::array({container("init-container1", {{"cpu", "1"}, {"memory", "2Gi"}},
                                              {{"cpu", "1"}, {"memory", "2Gi"}})})),
                   {{kVcpus, "6"}, {kMemory, "8192"}, {kGpus, "1"}}});
  cases.push_back({"NoChangeForDifferentRuntimeClass",
                   pod("different-runtime",
                       json::array({container("container1", {{"cpu", "2"}, {"memory", "4Gi"}},
                                              {{"cpu", "3"}, {"memory", "5Gi"}})})),
                   {},
                   false});
  cases.push_back(
      {"FractionalCpu",
       pod("kata-remote", json::array({container("container1", {{"cpu", "200m"}, {"memory", "4Gi"}},
                                                 {{"cpu", "500m"}, {"memory", "4Gi"}})})),
       {{kVcpus, "1"}, {kMemory, "4096"}}});
  cases.push_back(
      {"FractionalCpuMoreThanOne",
       pod("kata-remote", json::array({container("container1", {{"cpu", "200m"}, {"memory", "4Gi"}},
                                                 {{"cpu", "1500m"}, {"memory", "4Gi"}})})),
       {{kVcpus, "2"}, {kMemory, "4096"}}});
  cases.push_back(
      {"FractionalCpu_MultipleContainers",
       pod("kata-remote",
           json::array({container("container1", {{"cpu", "200m"}, {"memory", "4Gi"}},
                                  {{"cpu", "0.5"}, {"memory", "4Gi"}})}),
           json::array({container("init-container1", {{"cpu", "200m"}, {"memory", "4Gi"}},
                                  {{"cpu", "0.7"}, {"memory", "4Gi"}})})),
       {{kVcpus, "2"}, {kMemory, "8192"}}});
  return cases;
}

TEST(PodMutatorTest, UpstreamCases) {
  auto cases = upstreamCases();
  ASSERT_EQ(cases.size(), 11u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto direct = mutatePod(c.input, {});
    ASSERT_TRUE(direct) << direct.error().message;
    EXPECT_EQ(direct->targeted, c.targeted);
    EXPECT_EQ(direct->annotations, c.annotations);
    Admitted a = admit(c.input);
    if (!c.targeted) {
      EXPECT_TRUE(a.patch.empty());
      EXPECT_EQ(a.result, c.input);
      continue;
    }
    EXPECT_EQ(a.result, mutated(c.input, c.annotations)) << a.patch.dump(1);
    EXPECT_EQ(a.result["spec"]["containers"][0]["resources"]["requests"]["kata.peerpods.io/vm"],
              "1");
    EXPECT_EQ(a.result["spec"]["containers"][0]["resources"]["limits"]["kata.peerpods.io/vm"], "1");
  }
}

bool hasOp(const json& patch, const std::string& op, const std::string& path) {
  for (const auto& o : patch) {
    if (o["op"] == op && o["path"] == path) return true;
  }
  return false;
}

// Upstream's hack/pod.yaml and the ops its patch holds.
TEST(PodMutatorTest, PatchShapeOfUpstreamExamplePod) {
  json p = pod("kata-remote", json::array({container("nginx", {{"cpu", "1"}, {"memory", "1Gi"}},
                                                     {{"cpu", "1"}, {"memory", "2Gi"}})}));
  Admitted a = admit(p);
  ASSERT_TRUE(hasOp(a.patch, "add", "/metadata/annotations")) << a.patch.dump(1);
  for (const auto& o : a.patch) {
    if (o["path"] == "/metadata/annotations") {
      EXPECT_EQ(o["value"], (json{{kVcpus, "1"}, {kMemory, "2048"}}));
    }
  }
  for (const char* path :
       {"/spec/containers/0/resources/requests/cpu", "/spec/containers/0/resources/requests/memory",
        "/spec/containers/0/resources/limits/cpu", "/spec/containers/0/resources/limits/memory"}) {
    EXPECT_TRUE(hasOp(a.patch, "remove", path)) << path;
  }
  EXPECT_TRUE(hasOp(a.patch, "add", "/spec/containers/0/resources/requests/kata.peerpods.io~1vm"));
  EXPECT_TRUE(hasOp(a.patch, "add", "/spec/containers/0/resources/limits/kata.peerpods.io~1vm"));
  EXPECT_EQ(a.patch.size(), 7u) << a.patch.dump(1);
}

TEST(PodMutatorTest, ExistingAnnotationsGetOneOpPerKeyAndOtherContainersLoseResources) {
  json p =
      pod("kata-remote", json::array({container("a", {{"cpu", "1"}}, nullptr),
                                      container("b", {{"memory", "1Gi"}}, {{"memory", "1Gi"}})}));
  p["metadata"]["annotations"] = {{"team", "x"}, {"a/b~c", "kept"}};
  Admitted a = admit(p);
  EXPECT_TRUE(hasOp(a.patch, "add", "/metadata/annotations/" + kVcpus));
  EXPECT_TRUE(hasOp(a.patch, "add", "/metadata/annotations/" + kMemory));
  EXPECT_TRUE(hasOp(a.patch, "remove", "/spec/containers/1/resources/requests"));
  EXPECT_TRUE(hasOp(a.patch, "remove", "/spec/containers/1/resources/limits"));
  EXPECT_EQ(a.result["metadata"]["annotations"]["a/b~c"], "kept");
  EXPECT_EQ(a.result["metadata"]["annotations"]["team"], "x");
  EXPECT_EQ(a.result["metadata"]["annotations"][kMemory], "1024");
}

TEST(PodMutatorTest, UpdateOfAnAlreadyMutatedPodIsANoOp) {
  json p =
      pod("kata-remote", json::array({container("a", {{"cpu", "2"}, {"memory", "3Gi"}}, nullptr)}));
  Admitted first = admit(p);
  Admitted second = admit(first.result);
  EXPECT_TRUE(second.patch.empty()) << second.patch.dump();
  EXPECT_EQ(second.result, first.result);
}

TEST(PodMutatorTest, ExistingSizingAnnotationIsReplaced) {
  json p = pod("kata-remote", json::array({container("a", {{"cpu", "4"}}, nullptr)}));
  p["metadata"]["annotations"] = {{kVcpus, "1"}};
  Admitted a = admit(p);
  EXPECT_TRUE(hasOp(a.patch, "replace", "/metadata/annotations/" + kVcpus)) << a.patch.dump();
  EXPECT_EQ(a.result["metadata"]["annotations"][kVcpus], "4");
}

TEST(PodMutatorTest, ConfiguredRuntimeClassAndExtendedResource) {
  MutatorConfig config{"kata-aws", "example.com/pod-vm"};
  json p = pod("kata-aws", json::array({container("a", {{"cpu", "1"}}, nullptr)}));
  Admitted a = admit(p, config);
  EXPECT_EQ(a.result["spec"]["containers"][0]["resources"]["requests"]["example.com/pod-vm"], "1");
  EXPECT_FALSE(
      a.result["spec"]["containers"][0]["resources"]["requests"].contains("kata.peerpods.io/vm"));
  Admitted other =
      admit(pod("kata-remote", json::array({container("a", {{"cpu", "1"}}, nullptr)})), config);
  EXPECT_TRUE(other.patch.empty());
}

TEST(PodMutatorTest, PodsWithoutRuntimeClassAreLeftAlone) {
  json p = pod("x", json::array({container("a", {{"cpu", "1"}}, nullptr)}));
  p["spec"].erase("runtimeClassName");
  Admitted a = admit(p);
  EXPECT_TRUE(a.patch.empty());
  // Not even odd resource values are looked at for pods that are not ours.
  p["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "bogus";
  EXPECT_TRUE(admit(p).patch.empty());
}

TEST(PodMutatorTest, RoundingRulesAndLimitsOnly) {
  auto annotations = [](json requests, json limits) {
    auto m = mutatePod(
        pod("kata-remote", json::array({container("a", std::move(requests), std::move(limits))})),
        {});
    EXPECT_TRUE(m);
    return m ? m->annotations : std::map<std::string, std::string>{};
  };
  EXPECT_EQ(annotations({{"cpu", "100m"}}, nullptr)[kVcpus], "1");
  EXPECT_EQ(annotations({{"memory", "1500M"}}, nullptr)[kMemory], "1431");
  EXPECT_EQ(annotations({{"cpu", 2}}, nullptr)[kVcpus], "2");  // a JSON number, as Quantity accepts
  // A limit below the request: the request wins.
  EXPECT_EQ(annotations({{"cpu", "3"}}, {{"cpu", "2"}})[kVcpus], "3");
  // Limits alone give nothing (the API server normally defaults requests from limits first).
  EXPECT_TRUE(annotations(nullptr, {{"cpu", "2"}, {"memory", "1Gi"}}).empty());
  EXPECT_EQ(annotations({{"nvidia.com/gpu", "2"}}, nullptr)[kGpus], "2");
}

TEST(PodMutatorTest, ResourceClaimsSurvive) {
  json c = container("a", {{"cpu", "1"}}, nullptr);
  c["resources"]["claims"] = json::array({{{"name", "gpu"}}});
  Admitted a = admit(pod("kata-remote", json::array({c})));
  EXPECT_EQ(a.result["spec"]["containers"][0]["resources"]["claims"],
            json::array({{{"name", "gpu"}}}));
}

TEST(PodMutatorTest, UnknownFieldsAreKept) {
  json p = pod("kata-remote", json::array({container("a", {{"cpu", "1"}}, nullptr)}));
  p["spec"]["someFutureField"] = {{"x", 1}};
  p["status"] = {{"phase", "Pending"}};
  Admitted a = admit(p);
  EXPECT_EQ(a.result["spec"]["someFutureField"], p["spec"]["someFutureField"]);
  EXPECT_EQ(a.result["status"], p["status"]);
}

TEST(PodMutatorTest, MalformedTargetedPodsAreErrorsNamingTheField) {
  auto error = [](json p) {
    auto m = mutatePod(p, {});
    EXPECT_FALSE(m) << p.dump();
    return m ? std::string() : m.error().message;
  };
  EXPECT_NE(error(pod("kata-remote", json::array())).find("spec.containers"), std::string::npos);
  EXPECT_NE(error(pod("kata-remote", json::array({container("a", {{"cpu", "lots"}}, nullptr)})))
                .find("spec.containers[0].resources.requests.cpu"),
            std::string::npos);
  EXPECT_NE(error(pod("kata-remote", json::array({json{{"name", "a"}, {"resources", "big"}}})))
                .find("resources"),
            std::string::npos);
  EXPECT_NE(
      error(pod("kata-remote", json::array({container("a", {{"cpu", json::array()}}, nullptr)})))
          .find("cpu"),
      std::string::npos);
  json p = pod("kata-remote", json::array({container("a", {{"cpu", "1"}}, nullptr)}));
  p["spec"]["initContainers"] = "x";
  EXPECT_NE(error(p).find("initContainers"), std::string::npos);
  p = pod("kata-remote", json::array({container("a", {{"cpu", "1"}}, nullptr)}));
  p["metadata"]["annotations"] = json::array();
  EXPECT_NE(error(p).find("annotations"), std::string::npos);
  EXPECT_FALSE(mutatePod(json::array(), {}));
  EXPECT_FALSE(mutatePod(json{{"spec", 3}}, {}));
}

}  // namespace
}  // namespace pp::webhook
