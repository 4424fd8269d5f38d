// AdmissionReview handling of bad input: every malformed request gets a review with
// allowed=false and a message (or a harmless allow), never an exception or a crash. The random
// and truncated bodies below are a cheap stand-in for a fuzzer.
#include "webhook/admission.h"

#include <gtest/gtest.h>

#include <random>

#include "base/encoding.h"

namespace pp::webhook {
namespace {

using nlohmann::json;

json validReview() {
  return json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {
      "uid": "0df28fbd-5f5f-11e8-9a8a-000c29a1c34a",
      "kind": {"group": "", "version": "v1", "kind": "Pod"},
      "resource": {"group": "", "version": "v1", "resource": "pods"},
      "name": "web", "namespace": "demo", "operation": "CREATE",
      "userInfo": {"username": "admin"},
      "object": {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "demo", "creationTimestamp": null,
                     "annotations": {"note": "é ✓"}},
        "spec": {"runtimeClassName": "kata-remote",
                 "containers": [{"name": "nginx", "image": "nginx",
                                 "resources": {"requests": {"cpu": "500m", "memory": "256Mi"},
                                               "limits": {"cpu": "1", "memory": "512Mi"}}}]},
        "status": {}
      },
      "oldObject": null, "dryRun": false
    }
  })");
}

struct Answer {
  json review;
  json response;
  AdmissionOutcome outcome;
};

Answer handle(std::string_view body, std::string_view contentType = "application/json") {
  AdmissionHandler handler{MutatorConfig{}};
  Answer a;
  a.outcome = handler.handle(contentType, body);
  EXPECT_EQ(a.outcome.httpStatus, 200);
  a.review = json::parse(a.outcome.body);  // always a JSON document
  a.response = a.review.at("response");
  EXPECT_TRUE(a.response.at("allowed").is_boolean());
  return a;
}

void expectRejected(const Answer& a, int code, std::string_view fragment) {
  EXPECT_EQ(a.response["allowed"], false) << a.outcome.body;
  EXPECT_EQ(a.response["status"]["code"], code) << a.outcome.body;
  std::string message = a.response["status"].value("message", "");
  EXPECT_NE(message.find(fragment), std::string::npos) << message;
  EXPECT_EQ(a.outcome.kind, AdmissionOutcome::Kind::kRejected);
}

TEST(AdmissionTest, ValidReviewIsMutated) {
  Answer a = handle(validReview().dump());
  EXPECT_EQ(a.response["allowed"], true);
  EXPECT_EQ(a.response["uid"], "0df28fbd-5f5f-11e8-9a8a-000c29a1c34a");
  EXPECT_EQ(a.outcome.kind, AdmissionOutcome::Kind::kMutated);
  EXPECT_EQ(a.outcome.podName, "demo/web");
  json patch = json::parse(*encoding::base64Decode(a.response["patch"].get<std::string>()));
  json result = validReview()["request"]["object"].patch(patch);
  EXPECT_EQ(result["metadata"]["annotations"][std::string(kCpuAnnotation)], "1");
  EXPECT_EQ(result["metadata"]["annotations"][std::string(kMemoryAnnotation)], "512");
  EXPECT_EQ(result["metadata"]["annotations"]["note"], "é ✓");
}

TEST(AdmissionTest, V1beta1IsAnsweredInKind) {
  json r = validReview();
  r["apiVersion"] = "admission.k8s.io/v1beta1";
  Answer a = handle(r.dump());
  EXPECT_EQ(a.review["apiVersion"], "admission.k8s.io/v1beta1");
  EXPECT_EQ(a.response["allowed"], true);
}

TEST(AdmissionTest, ContentTypeWithCharsetIsAccepted) {
  Answer a = handle(validReview().dump(), "application/json; charset=utf-8");
  EXPECT_EQ(a.response["allowed"], true);
}

TEST(AdmissionTest, MalformedRequestsAreRejectedWithAMessage) {
  expectRejected(handle(""), 400, "empty");
  expectRejected(handle(validReview().dump(), "text/plain"), 400, "expected application/json");
  expectRejected(handle(validReview().dump(), ""), 400, "expected application/json");
  expectRejected(handle("{\"apiVersion\": "), 400, "cannot decode");
  expectRejected(handle("[1,2,3]"), 400, "not a JSON object");
  expectRejected(handle("\"x\""), 400, "not a JSON object");
  json r = validReview();
  r["apiVersion"] = "admission.k8s.io/v2";
  expectRejected(handle(r.dump()), 400, "expected apiVersion admission.k8s.io/v1");
  r = validReview();
  r["kind"] = "ConversionReview";
  expectRejected(handle(r.dump()), 400, "kind \"ConversionReview\"");
  r = validReview();
  r.erase("request");
  expectRejected(handle(r.dump()), 400, "no request");
  r = validReview();
  r["request"].erase("uid");
  expectRejected(handle(r.dump()), 400, "no uid");
  r = validReview();
  r["request"]["uid"] = 12;
  expectRejected(handle(r.dump()), 400, "no uid");
  r = validReview();
  r["request"].erase("object");
  expectRejected(handle(r.dump()), 400, "no pod object");
  r = validReview();
  r["request"]["kind"]["kind"] = "Deployment";
  r["request"]["kind"]["group"] = "apps";
  expectRejected(handle(r.dump()), 400, "expected a request for a Pod");
  r = validReview();
  r["request"]["object"]["kind"] = "Service";
  expectRejected(handle(r.dump()), 400, "expected a Pod object");
  r = validReview();
  r["request"]["object"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "lots";
  Answer bad = handle(r.dump());
  expectRejected(bad, 400, "spec.containers[0].resources.limits.memory");
  EXPECT_EQ(bad.response["uid"], "0df28fbd-5f5f-11e8-9a8a-000c29a1c34a");
}

TEST(AdmissionTest, ParseErrorsDoNotQuoteTheInput) {
  Answer a = handle(R"({"request": {"object": {"env": "hunter2-secret)");
  std::string message = a.response["status"]["message"];
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

TEST(AdmissionTest, HugeAndDeepBodiesAreRefused) {
  std::string huge(kMaxReviewBytes + 1, ' ');
  expectRejected(handle(huge), 413, "too large");
  std::string deep(100000, '[');
  expectRejected(handle(deep), 400, "cannot decode");
  std::string nested = std::string(200, '[') + std::string(200, ']');
  expectRejected(handle(nested), 400, "nested deeper");
  json r = validReview();
  json deepValue = json::array();
  for (int i = 0; i < 150; ++i) deepValue = json::array({deepValue});
  r["request"]["object"]["spec"]["x"] = deepValue;
  expectRejected(handle(r.dump()), 400, "nested deeper");
}

TEST(AdmissionTest, OperationsAndSubresourcesNotRegisteredForAreAllowedUnchanged) {
  json r = validReview();
  r["request"]["operation"] = "DELETE";
  r["request"]["object"] = nullptr;
  Answer a = handle(r.dump());
  EXPECT_EQ(a.response["allowed"], true);
  EXPECT_FALSE(a.response.contains("patch"));
  r = validReview();
  r["request"]["subResource"] = "status";
  a = handle(r.dump());
  EXPECT_EQ(a.response["allowed"], true);
  EXPECT_FALSE(a.response.contains("patch"));
}

// Every answer, whatever the input, is a review; when it allows with a patch, the patch applies
// to the submitted object.
void checkInvariant(std::string_view body) {
  AdmissionHandler handler{MutatorConfig{}};
  AdmissionOutcome out = handler.handle("application/json", body);
  json review = json::parse(out.body);
  const json& response = review.at("response");
  if (response.at("allowed") == false) {
    EXPECT_FALSE(response.at("status").at("message").get<std::string>().empty());
    return;
  }
  if (response.contains("patch")) {
    json patch = json::parse(*encoding::base64Decode(response["patch"].get<std::string>()));
    json object = json::parse(body)["request"]["object"];
    EXPECT_NO_THROW(object.patch(patch));
  }
}

TEST(AdmissionTest, EveryTruncationOfAValidReview) {
  std::string body = validReview().dump();
  for (size_t n = 0; n <= body.size(); ++n) checkInvariant(std::string_view(body).substr(0, n));
}

TEST(AdmissionTest, RandomBytesAndRandomEdits) {
  std::mt19937 rng(20260101);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 500; ++i) {
    std::string junk(std::uniform_int_distribution<int>(0, 300)(rng), '\0');
    for (auto& c : junk) c = static_cast<char>(byte(rng));
    checkInvariant(junk);
  }
  const std::string base = validReview().dump();
  const std::string alphabet = "{}[]\":,0123456789.-eE truefalsnul\\";
  for (int i = 0; i < 3000; ++i) {
    std::string body = base;
    int edits = std::uniform_int_distribution<int>(1, 4)(rng);
    for (int e = 0; e < edits; ++e) {
      size_t pos = std::uniform_int_distribution<size_t>(0, body.size() - 1)(rng);
      char c = alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
      switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
        case 0:
          body[pos] = c;
          break;
        case 1:
          body.insert(body.begin() + pos, c);
          break;
        default:
          body.erase(pos, 1);
          break;
      }
    }
    checkInvariant(body);
  }
  // Structural edits that stay valid JSON: wrong types in every field the handler reads.
  const json junkValues[] = {nullptr, 1, -1.5, "x", json::array(), json::object(), true};
  const char* pointers[] = {"/request",
                            "/request/uid",
                            "/request/kind",
                            "/request/object",
                            "/request/object/metadata",
                            "/request/object/metadata/annotations",
                            "/request/object/spec",
                            "/request/object/spec/runtimeClassName",
                            "/request/object/spec/containers",
                            "/request/object/spec/containers/0",
                            "/request/object/spec/containers/0/resources",
                            "/request/object/spec/containers/0/resources/requests",
                            "/request/object/spec/containers/0/resources/requests/cpu",
                            "/request/object/spec/initContainers",
                            "/request/operation"};
  for (const char* p : pointers) {
    for (const auto& v : junkValues) {
      json r = validReview();
      r[json::json_pointer(p)] = v;
      SCOPED_TRACE(std::string(p) + " = " + v.dump());
      checkInvariant(r.dump());
    }
  }
}

}  // namespace
}  // namespace pp::webhook
