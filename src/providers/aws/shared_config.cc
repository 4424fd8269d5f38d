// Shared credentials/config file reading (see shared_config.h).
#include "providers/aws/shared_config.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "base/files.h"
#include "base/strings.h"

namespace pp::providers::aws {
namespace {

constexpr size_t kMaxFileBytes = 1 << 20;

std::string homeFile(const flags::EnvLookup& env, const char* var, const char* name) {
  if (auto v = env(var); v && !v->empty()) {
    if ((*v)[0] == '~') {
      if (auto home = env("HOME")) return *home + v->substr(1);
    }
    return *v;
  }
  auto home = env("HOME");
  return (home ? *home : std::string()) + "/.aws/" + name;
}

Result<IniFile> readIni(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return IniFile{};
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxFileBytes)
    return fail(Code::kInvalidArgument, path + " is larger than 1 MiB");
  auto text = files::readFile(path);
  if (!text) return fail(text.error().wrap("reading " + path));
  auto ini = parseIni(*text);
  if (!ini) return fail(ini.error().wrap(path));
  return ini;
}

void applySection(const std::map<std::string, std::string>& s, ProfileSettings& p) {
  auto set = [&](const char* key, std::string& field) {
    if (auto it = s.find(key); it != s.end() && field.empty()) field = it->second;
  };
  set("aws_access_key_id", p.accessKeyId);
  set("aws_secret_access_key", p.secretAccessKey);
  set("aws_session_token", p.sessionToken);
  set("region", p.region);
  set("role_arn", p.roleArn);
  set("web_identity_token_file", p.webIdentityTokenFile);
  set("role_session_name", p.roleSessionName);
  set("endpoint_url", p.endpointUrl);
}

}  // namespace

Result<IniFile> parseIni(std::string_view text) {
  IniFile out;
  std::string section;
  bool inSection = false;
  size_t lineNo = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view raw =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++lineNo;
    bool indented = !raw.empty() && (raw[0] == ' ' || raw[0] == '\t');
    std::string line(strings::trim(raw));
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']')
        return fail(Code::kInvalidArgument,
                    "line " + std::to_string(lineNo) + ": unterminated section header");
      section = strings::trim(std::string_view(line).substr(1, line.size() - 2));
      inSection = true;
      out[section];
      continue;
    }
    if (indented) continue;  // sub-setting of a nested block (e.g. s3 = \n  addressing_style = ...)
    size_t eq = line.find('=');
    if (eq == std::string::npos)
      return fail(Code::kInvalidArgument,
                  "line " + std::to_string(lineNo) + ": expected key = value");
    if (!inSection)
      return fail(Code::kInvalidArgument,
                  "line " + std::to_string(lineNo) + ": setting outside of a section");
    std::string key = strings::toLower(strings::trim(std::string_view(line).substr(0, eq)));
    std::string value(strings::trim(std::string_view(line).substr(eq + 1)));
    out[section][key] = value;
  }
  return out;
}

std::string profileName(const std::string& configured, const flags::EnvLookup& env) {
  if (!configured.empty()) return configured;
  if (auto p = env("AWS_PROFILE"); p && !p->empty()) return *p;
  return "default";
}

Result<ProfileSettings> loadProfile(const std::string& profile, const flags::EnvLookup& env) {
  ProfileSettings p;
  auto creds = readIni(homeFile(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials"));
  if (!creds) return fail(creds.error());
  auto config = readIni(homeFile(env, "AWS_CONFIG_FILE", "config"));
  if (!config) return fail(config.error());
  if (auto it = creds->find(profile); it != creds->end()) {
    applySection(it->second, p);
    p.found = true;
  }
  std::string configSection = profile == "default" ? "default" : "profile " + profile;
  auto it = config->find(configSection);
  if (it == config->end() && profile == "default") it = config->find("profile default");
  if (it != config->end()) {
    applySection(it->second, p);
    p.found = true;
  }
  return p;
}

}  // namespace pp::providers::aws
