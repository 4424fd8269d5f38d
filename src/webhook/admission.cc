// AdmissionReview decoding, the pod mutation and the review answer with its JSON patch.
#include "webhook/admission.h"

#include <fmt/format.h>

#include "base/encoding.h"
#include "base/json_fields.h"
#include "base/strings.h"

namespace pp::webhook {
namespace {

using nlohmann::json;

constexpr std::string_view kV1 = "admission.k8s.io/v1";
constexpr std::string_view kV1beta1 = "admission.k8s.io/v1beta1";

std::string dumpSafe(const json& value) {
  // Messages may quote bytes of the input; never let an odd byte turn into an exception.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

using jsonf::stringField;

// Media type without parameters, lower-cased ("application/json; charset=utf-8" ->
// "application/json").
std::string mediaType(std::string_view contentType) {
  return strings::toLower(strings::trim(contentType.substr(0, contentType.find(';'))));
}

// nlohmann's parse errors end with "; last read: '<input bytes>'": drop the quote of the input
// (a pod may carry secrets in env values) and the library's exception tag.
std::string parseErrorMessage(const std::string& what) {
  std::string message = what;
  if (auto tag = message.find("] ");
      message.starts_with("[json.exception") && tag != std::string::npos) {
    message = message.substr(tag + 2);
  }
  if (auto last = message.find("; last read:"); last != std::string::npos) message.resize(last);
  return message;
}

class Answer {
 public:
  explicit Answer(AdmissionOutcome* out) : out_(out) {}

  void setApiVersion(std::string v) { apiVersion_ = std::move(v); }

  void reject(int code, std::string message) {
    out_->kind = AdmissionOutcome::Kind::kRejected;
    out_->message = message;
    json response{{"uid", out_->uid}, {"allowed", false}};
    response["status"] = {
        {"metadata", json::object()}, {"code", code}, {"message", std::move(message)}};
    write(std::move(response));
  }

  void allow(const json* patch, std::string summary) {
    out_->kind = patch ? AdmissionOutcome::Kind::kMutated : AdmissionOutcome::Kind::kUnchanged;
    out_->message = std::move(summary);
    json response{{"uid", out_->uid}, {"allowed", true}};
    if (patch) {
      response["patchType"] = "JSONPatch";
      response["patch"] = encoding::base64Encode(dumpSafe(*patch));
    }
    write(std::move(response));
  }

 private:
  void write(json response) {
    json review{{"apiVersion", apiVersion_},
                {"kind", "AdmissionReview"},
                {"response", std::move(response)}};
    out_->httpStatus = 200;
    out_->body = dumpSafe(review);
  }

  AdmissionOutcome* out_;
  std::string apiVersion_{kV1};
};

}  // namespace

AdmissionOutcome AdmissionHandler::handle(std::string_view contentType,
                                          std::string_view body) const {
  AdmissionOutcome out;
  Answer answer(&out);
  try {
    if (body.size() > kMaxReviewBytes) {
      answer.reject(413,
                    fmt::format("request entity is too large; limit is {} bytes", kMaxReviewBytes));
      return out;
    }
    if (body.empty()) {
      answer.reject(400, "request body is empty");
      return out;
    }
    if (std::string type = mediaType(contentType); type != "application/json") {
      answer.reject(400, fmt::format("contentType={}, expected application/json",
                                     contentType.substr(0, 100)));
      return out;
    }
    bool tooDeep = false;
    json::parser_callback_t limitDepth = [&tooDeep](int depth, json::parse_event_t, json&) {
      if (depth > kMaxReviewDepth) {
        tooDeep = true;
        return false;
      }
      return true;
    };
    json review;
    try {
      review = json::parse(body.begin(), body.end(), limitDepth);
    } catch (const json::exception& e) {
      answer.reject(400, "cannot decode the AdmissionReview: " + parseErrorMessage(e.what()));
      return out;
    }
    if (tooDeep) {
      answer.reject(400,
                    fmt::format("cannot decode the AdmissionReview: nested deeper than {} levels",
                                kMaxReviewDepth));
      return out;
    }
    if (!review.is_object()) {
      answer.reject(400, "cannot decode the AdmissionReview: not a JSON object");
      return out;
    }
    std::string apiVersion = stringField(review, "apiVersion");
    std::string kind = stringField(review, "kind");
    if ((apiVersion != kV1 && apiVersion != kV1beta1) || kind != "AdmissionReview") {
      answer.reject(
          400, fmt::format(
                   "expected apiVersion {} kind AdmissionReview, got apiVersion \"{}\" kind \"{}\"",
                   kV1, apiVersion.substr(0, 100), kind.substr(0, 100)));
      return out;
    }
    answer.setApiVersion(apiVersion);
    auto request = review.find("request");
    if (request == review.end() || !request->is_object()) {
      answer.reject(400, "the AdmissionReview has no request");
      return out;
    }
    out.uid = stringField(*request, "uid");
    if (out.uid.empty()) {
      answer.reject(400, "the admission request has no uid");
      return out;
    }
    std::string operation = stringField(*request, "operation");
    std::string subResource = stringField(*request, "subResource");
    if ((!operation.empty() && operation != "CREATE" && operation != "UPDATE") ||
        !subResource.empty()) {
      // Not registered for these; answer harmlessly rather than block the API call.
      answer.allow(nullptr, fmt::format("{} {} not handled", operation, subResource));
      return out;
    }
    if (auto rk = request->find("kind"); rk != request->end() && rk->is_object()) {
      std::string k = stringField(*rk, "kind");
      std::string group = stringField(*rk, "group");
      if (k != "Pod" || !group.empty()) {
        answer.reject(400, fmt::format("expected a request for a Pod, got kind \"{}\" group \"{}\"",
                                       k.substr(0, 100), group.substr(0, 100)));
        return out;
      }
    }
    auto object = request->find("object");
    if (object == request->end() || !object->is_object()) {
      answer.reject(400, "the admission request has no pod object");
      return out;
    }
    if (std::string k = stringField(*object, "kind"); !k.empty() && k != "Pod") {
      answer.reject(400, fmt::format("expected a Pod object, got kind \"{}\"", k.substr(0, 100)));
      return out;
    }
    const json* metadata = object->contains("metadata") ? &(*object)["metadata"] : nullptr;
    std::string ns = metadata ? stringField(*metadata, "namespace") : "";
    if (ns.empty()) ns = stringField(*request, "namespace");
    std::string name = metadata ? stringField(*metadata, "name") : "";
    if (name.empty() && metadata && !stringField(*metadata, "generateName").empty()) {
      name = stringField(*metadata, "generateName") + "*";
    }
    out.podName = ns.empty() && name.empty() ? "(unnamed)" : ns + "/" + name;

    auto mutation = mutatePod(*object, config_);
    if (!mutation) {
      answer.reject(400, "cannot mutate the pod: " + mutation.error().message);
      return out;
    }
    if (!mutation->targeted) {
      answer.allow(nullptr, "runtime class is not " + config_.targetRuntimeClass);
      return out;
    }
    json patch = json::diff(*object, mutation->pod);
    for (const auto& op : patch) out.patchPaths.push_back(stringField(op, "path"));
    std::string summary;
    for (const auto& [key, value] : mutation->annotations) {
      summary +=
          fmt::format("{}{}={}", summary.empty() ? "" : " ", key.substr(key.rfind('.') + 1), value);
    }
    if (summary.empty()) summary = "no cpu/memory/gpu requests";
    answer.allow(patch.empty() ? nullptr : &patch, summary);
  } catch (const std::exception& e) {
    // Only allocation failures or library surprises get here: refuse, keep serving.
    answer.reject(500, fmt::format("internal error: {}", e.what()));
  }
  return out;
}

}  // namespace pp::webhook
