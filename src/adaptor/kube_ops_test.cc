#include "adaptor/kube_ops.h"

#include <gtest/gtest.h>

namespace pp::adaptor {
namespace {

using k8s::Json;

TEST(ImagePullSecrets, MergeSkipsMalformedSecrets) {
  std::vector<std::string> skipped;
  Json notDocker{{"metadata", {{"name", "opaque"}}}, {"data", {{"token", "eA=="}}}};
  Json badBase64{{"metadata", {{"name", "bad"}}}, {"data", {{".dockerconfigjson", "@@"}}}};
  EXPECT_EQ(mergeImagePullSecrets({notDocker, badBase64}, &skipped), "");
  EXPECT_EQ(skipped, (std::vector<std::string>{"opaque", "bad"}));
}

}  // namespace
}  // namespace pp::adaptor
