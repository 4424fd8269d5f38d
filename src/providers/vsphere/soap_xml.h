// The XML of vSphere's SOAP API (vim25), read strictly and within bounds on libxml2's pull
// reader: no DTD, no entities, no network. Unlike EC2's answers, vim25's carry meaning in
// attributes (a managed object reference's type="VirtualMachine", a value's xsi:type), so the
// tree keeps them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/strings.h"

namespace pp::providers::vsphere {

struct SoapNode {
  std::string name;  // local name
  // Local name -> value; an attribute of the XMLSchema-instance namespace is "xsi:<name>".
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string text;
  std::vector<SoapNode> children;

  const SoapNode* child(std::string_view name) const;
  std::vector<const SoapNode*> all(std::string_view name) const;
  std::string childText(std::string_view name) const;
  // Attribute by name ("type", "xsi:type"); "" when absent.
  std::string attribute(std::string_view name) const;
};

struct SoapLimits {
  size_t maxBytes = 16 << 20;
  int maxDepth = 64;
  size_t maxNodes = 500000;
};

Result<SoapNode> parseSoapXml(std::string_view document, const SoapLimits& limits = {});

using strings::xmlEscape;  // base/strings.h

}  // namespace pp::providers::vsphere
