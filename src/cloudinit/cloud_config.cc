#include "cloudinit/cloud_config.h"

#include <yaml-cpp/yaml.h>

#include <string_view>

namespace pp::cloudinit {

namespace {

// Text with line breaks or other control characters goes double-quoted, where the emitter
// escapes them: a plain scalar cannot hold them, and a literal block changes some texts (a
// carriage return is read as a line break, a last line of blanks is chomped; both found by
// fuzz_cloud_config). NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR are line breaks to YAML 1.1
// parsers (libyaml, Go's yaml, PyYAML; not yaml-cpp): text with them is quoted and escaped too,
// else the VM's parser would read another document than ours. What the adaptor renders (JSON,
// base64) is single-line anyway.
bool needsQuotes(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
    if (text.substr(i, 2) == "\xc2\x85" || text.substr(i, 3) == "\xe2\x80\xa8" ||
        text.substr(i, 3) == "\xe2\x80\xa9") {
      return true;
    }
  }
  return false;
}

void emitText(YAML::Emitter& out, const std::string& text) {
  if (needsQuotes(text)) out << YAML::DoubleQuoted << YAML::EscapeNonAscii;
  out << text;
}

}  // namespace

std::string renderCloudConfig(const std::vector<WriteFile>& files) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "write_files" << YAML::Value << YAML::BeginSeq;
  for (const auto& f : files) {
    out << YAML::BeginMap << YAML::Key << "path" << YAML::Value;
    emitText(out, f.path);
    out << YAML::Key << "content" << YAML::Value;
    emitText(out, f.content);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string("#cloud-config\n") + out.c_str() + "\n";
}

Result<std::vector<WriteFile>> parseCloudConfig(const std::string& text,
                                                const CloudConfigLimits& limits) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) return fail(Code::kInvalidArgument, "user data is not a YAML mapping");
    std::vector<WriteFile> out;
    size_t contentBytes = 0;
    bool haveWriteFiles = false;
    for (const auto& kv : root) {
      auto key = kv.first.as<std::string>();
      if (key != "write_files")
        return fail(Code::kInvalidArgument, "user data: unexpected key \"" + key + "\"");
      if (haveWriteFiles) return fail(Code::kInvalidArgument, "user data: write_files given twice");
      haveWriteFiles = true;
      if (!kv.second.IsSequence())
        return fail(Code::kInvalidArgument, "user data: write_files is not a list");
      if (kv.second.size() > limits.maxFiles) {
        return fail(
            Code::kInvalidArgument,
            "user data: more than " + std::to_string(limits.maxFiles) + " write_files entries");
      }
      for (const auto& item : kv.second) {
        if (!item.IsMap())
          return fail(Code::kInvalidArgument, "user data: write_files entry is not a mapping");
        WriteFile f;
        bool havePath = false;
        bool haveContent = false;
        for (const auto& field : item) {
          auto name = field.first.as<std::string>();
          const bool nullContent = name == "content" && field.second.IsNull();
          if (!field.second.IsScalar() && !nullContent) {
            return fail(Code::kInvalidArgument, "user data: " + name + " is not a string");
          }
          bool* seen = name == "path" ? &havePath : name == "content" ? &haveContent : nullptr;
          if (seen == nullptr) {
            return fail(Code::kInvalidArgument,
                        "user data: unexpected write_files field \"" + name + "\"");
          }
          if (*seen)
            return fail(Code::kInvalidArgument,
                        "user data: write_files field " + name + " given twice");
          *seen = true;
          if (nullContent) continue;
          // Counted before copying, so that aliases of one big scalar cannot blow up memory.
          contentBytes += field.second.Scalar().size();
          if (contentBytes > limits.maxContentBytes) {
            return fail(Code::kInvalidArgument, "user data: write_files contents above " +
                                                    std::to_string(limits.maxContentBytes) +
                                                    " bytes");
          }
          (name == "path" ? f.path : f.content) = field.second.Scalar();
        }
        if (!havePath)
          return fail(Code::kInvalidArgument, "user data: write_files entry without path");
        out.push_back(std::move(f));
      }
    }
    return out;
  } catch (const YAML::Exception& e) {
    return fail(Code::kInvalidArgument, std::string("user data is not valid YAML: ") + e.what());
  }
}

}  // namespace pp::cloudinit
