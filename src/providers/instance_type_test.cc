#include "providers/instance_type.h"

#include <gtest/gtest.h>

namespace pp::providers {
namespace {

// Resembles upstream's aws test table: small general types plus GPU types.
const std::vector<InstanceTypeInfo> kTable = {
    {"p3.8xlarge", 32, 249856, 4, "V100"}, {"t2.medium", 2, 4096, 0, ""},
    {"m6a.2xlarge", 8, 32768, 0, ""},      {"g5.xlarge", 4, 16384, 1, "A10G"},
    {"m6a.large", 2, 8192, 0, ""},         {"c6a.2xlarge", 8, 16384, 0, ""},
    {"m6a.xlarge", 4, 16384, 0, ""},
};
const std::vector<std::string> kAllowed = {"t2.medium",   "m6a.large", "m6a.xlarge", "c6a.2xlarge",
                                           "m6a.2xlarge", "g5.xlarge", "p3.8xlarge"};

TEST(InstanceTypeTest, SortsByGpusThenMemoryThenVcpus) {
  auto sorted = sortInstanceTypes(kTable);
  std::vector<std::string> names;
  for (const auto& t : sorted) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"t2.medium", "m6a.large", "m6a.xlarge", "c6a.2xlarge",
                                             "m6a.2xlarge", "g5.xlarge", "p3.8xlarge"}));
  // Equal entries keep their configured order.
  auto ties = sortInstanceTypes({{"b", 2, 4096, 0, ""}, {"a", 2, 4096, 0, ""}});
  EXPECT_EQ(ties[0].name, "b");
}

TEST(InstanceTypeTest, Verify) {
  struct Case {
    std::string type;
    std::vector<std::string> allowed;
    std::string result;  // empty: error below
    std::string error;
  };
  const Case cases[] = {
      {"", {}, "m6a.large", ""},
      {"", {"t2.medium"}, "m6a.large", ""},  // the default is not checked against the list
      {"m6a.large", {}, "m6a.large", ""},
      {"t2.medium", {"t2.medium"}, "t2.medium", ""},
      {"t2.medium",
       {},
       "",
       "requested instance type (\"t2.medium\") is not default (\"m6a.large\") and supported "
       "instance types list is "
       "empty"},
      {"t3.nano",
       {"t2.medium"},
       "",
       "requested instance type (\"t3.nano\") is not part of supported instance types list"},
      {"m6a.large",
       {"t2.medium"},
       "",
       "requested instance type (\"m6a.large\") is not part of supported instance types list"},
  };
  for (const auto& tc : cases) {
    auto r = verifyInstanceType(tc.type, tc.allowed, "m6a.large");
    if (tc.error.empty()) {
      ASSERT_TRUE(r) << tc.type << ": " << r.error().message;
      EXPECT_EQ(*r, tc.result);
    } else {
      ASSERT_FALSE(r) << tc.type;
      EXPECT_EQ(r.error().code, Code::kInvalidArgument);
      EXPECT_EQ(r.error().message, tc.error);
    }
  }
}

TEST(InstanceTypeTest, Select) {
  struct Case {
    std::string what;
    InstanceSpec spec;
    std::string result;
    std::string error;
  };
  auto spec = [](std::string type, uint32_t vcpus, uint32_t mem, uint32_t gpus,
                 std::string model = "") {
    return InstanceSpec{.instanceType = std::move(type),
                        .vcpus = vcpus,
                        .memoryMiB = mem,
                        .gpus = gpus,
                        .gpuModel = std::move(model)};
  };
  const Case cases[] = {
      {"nothing requested", spec("", 0, 0, 0), "m6a.large", ""},
      {"explicit type", spec("c6a.2xlarge", 0, 0, 0), "c6a.2xlarge", ""},
      {"explicit type beats sizes", spec("t2.medium", 8, 32768, 1), "t2.medium", ""},
      {"explicit type not allowed", spec("x1.huge", 0, 0, 0), "",
       "failed to verify instance type: requested instance type (\"x1.huge\") is not part of "
       "supported instance types "
       "list"},
      {"exact fit", spec("", 4, 16384, 0), "m6a.xlarge", ""},
      {"next bigger", spec("", 3, 10000, 0), "m6a.xlarge", ""},
      {"smallest memory first", spec("", 2, 1024, 0), "t2.medium", ""},
      {"more vcpus at same memory", spec("", 8, 16384, 0), "c6a.2xlarge", ""},
      {"GPU types skipped for cpu/memory", spec("", 16, 65536, 0), "",
       "failed to get instance type based on vCPU and memory annotations: no instance type found "
       "for the given vcpus "
       "(16) and memory (65536)"},
      {"vcpus alone falls back to default", spec("", 8, 0, 0), "m6a.large", ""},
      {"memory alone falls back to default", spec("", 0, 32768, 0), "m6a.large", ""},
      {"one GPU", spec("", 0, 0, 1), "g5.xlarge", ""},
      {"GPU with sizes", spec("", 8, 32768, 1), "p3.8xlarge", ""},
      {"many GPUs", spec("", 0, 0, 4), "p3.8xlarge", ""},
      {"too many GPUs", spec("", 2, 2048, 8), "",
       "failed to get instance type based on GPU, vCPU, and memory annotations: no instance type "
       "found for the given "
       "GPUs (8), vCPUs (2), and memory (2048)"},
      {"GPU model matches", spec("", 0, 0, 1, "v100"), "p3.8xlarge", ""},
      {"GPU model unknown", spec("", 0, 0, 1, "H100"), "",
       "failed to get instance type based on GPU, vCPU, and memory annotations: no instance type "
       "found for the given "
       "GPUs (1), vCPUs (0), and memory (0) of model \"H100\""},
  };
  for (const auto& tc : cases) {
    auto r = selectInstanceType(tc.spec, "m6a.large", kAllowed, kTable);
    if (tc.error.empty()) {
      ASSERT_TRUE(r) << tc.what << ": " << r.error().message;
      EXPECT_EQ(*r, tc.result) << tc.what;
    } else {
      ASSERT_FALSE(r) << tc.what << " selected " << *r;
      EXPECT_EQ(r.error().code, Code::kInvalidArgument) << tc.what;
      EXPECT_EQ(r.error().message, tc.error) << tc.what;
    }
  }
}

TEST(InstanceTypeTest, SelectedTypeMustBeAllowed) {
  // A fitting type that is not in the allow-list is rejected rather than silently replaced.
  auto r = selectInstanceType(InstanceSpec{.vcpus = 2, .memoryMiB = 4096}, "m6a.large",
                              {"m6a.large"}, kTable);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "failed to verify instance type: requested instance type (\"t2.medium\") is not part "
            "of supported "
            "instance types list");
  // With no allow-list only the default can be chosen; a table built from the default alone
  // (what providers do without -instance-types) therefore always works.
  auto onlyDefault = selectInstanceType(InstanceSpec{.vcpus = 1, .memoryMiB = 1024}, "m6a.large",
                                        {}, {{"m6a.large", 2, 8192, 0, ""}});
  ASSERT_TRUE(onlyDefault);
  EXPECT_EQ(*onlyDefault, "m6a.large");
}

TEST(InstanceTypeTest, LinearScanFindsFitsBinarySearchWouldMiss) {
  // Sorted by memory: a(4 GiB, 8 vCPU), b(8 GiB, 2 vCPU), c(16 GiB, 4 vCPU). For 4 vCPU/4 GiB
  // the fit predicate is true, false, true: Go's sort.Search probes b, moves right and returns
  // c; the first fit in sort order is a.
  const std::vector<InstanceTypeInfo> table = {
      {"c", 4, 16384, 0, ""}, {"b", 2, 8192, 0, ""}, {"a", 8, 4096, 0, ""}};
  auto r =
      selectInstanceType(InstanceSpec{.vcpus = 4, .memoryMiB = 4096}, "b", {"a", "b", "c"}, table);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "a");
  // Predicate false, true, false, false: sort.Search probes index 2, then 3, and reports no
  // fit at all.
  const std::vector<InstanceTypeInfo> table2 = {
      {"w", 1, 4096, 0, ""}, {"x", 4, 8192, 0, ""}, {"y", 2, 16384, 0, ""}, {"z", 2, 32768, 0, ""}};
  auto r2 = selectInstanceType(InstanceSpec{.vcpus = 4, .memoryMiB = 4096}, "w",
                               {"w", "x", "y", "z"}, table2);
  ASSERT_TRUE(r2);
  EXPECT_EQ(*r2, "x");
}

}  // namespace
}  // namespace pp::providers
