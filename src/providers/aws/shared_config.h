// The AWS SDKs' shared files: ~/.aws/credentials and ~/.aws/config (or AWS_SHARED_CREDENTIALS_FILE
// and AWS_CONFIG_FILE), INI syntax. A profile's settings come from the credentials file's
// [name] section, then the config file's [profile name] ([default] for the default profile).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/flags.h"

namespace pp::providers::aws {

using IniFile = std::map<std::string, std::map<std::string, std::string>>;

// Parses INI text: [section] headers, "key = value" lines, '#'/';' comments; keys lowercased.
// Nested ("services") sub-sections are read as indented key lines and ignored.
Result<IniFile> parseIni(std::string_view text);

struct ProfileSettings {
  std::string accessKeyId, secretAccessKey, sessionToken;
  std::string region;
  std::string roleArn, webIdentityTokenFile, roleSessionName;
  std::string endpointUrl;
  bool found = false;  // some file had a section for the profile
};

// The profile name to use: `configured` (-aws-profile), else AWS_PROFILE, else "default".
std::string profileName(const std::string& configured, const flags::EnvLookup& env);

// Loads the profile's settings from the two files; missing files are not an error, an
// unreadable or malformed one is.
Result<ProfileSettings> loadProfile(const std::string& profile, const flags::EnvLookup& env);

}  // namespace pp::providers::aws
