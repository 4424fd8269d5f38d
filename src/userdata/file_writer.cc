// FileWriter: whitelisted, link-free, atomic writes under a root (see file_writer.h).
#include "userdata/file_writer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "base/files.h"
#include "base/log.h"

namespace pp::userdata {
namespace {

// Splits "/a/b/c" into {"a","b","c"}; false for relative or unclean paths ("", ".", "..").
bool splitClean(std::string_view path, std::vector<std::string_view>& parts) {
  if (path.empty() || path.front() != '/') return false;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == "." || part == "..") return false;
    if (part.find('\0') != std::string_view::npos) return false;
    parts.push_back(part);
    i = j + 1;
  }
  return !parts.empty();
}

}  // namespace

std::string quoteForLog(std::string_view text) {
  constexpr size_t kMax = 200;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (text.size() > kMax) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

bool FileWriter::isAllowed(std::string_view vmPath, std::span<const std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), vmPath) != allowed.end();
}

std::string FileWriter::hostPath(std::string_view vmPath) const {
  std::string out = root_;
  while (!out.empty() && out.back() == '/') out.pop_back();
  out += vmPath;
  return out;
}

Status FileWriter::checkPath(std::string_view vmPath, bool createParents) const {
  std::vector<std::string_view> parts;
  if (!splitClean(vmPath, parts)) {
    return fail(Code::kInvalidArgument, "path " + quoteForLog(vmPath) + " is not a clean absolute path");
  }
  std::string at = root_;
  while (!at.empty() && at.back() == '/') at.pop_back();
  for (size_t i = 0; i < parts.size(); ++i) {
    at += '/';
    at += parts[i];
    const bool last = i + 1 == parts.size();
    struct stat st{};
    if (::lstat(at.c_str(), &st) != 0) {
      if (errno != ENOENT) {
        return fail(Code::kInternal, "cannot inspect " + at + ": " + std::strerror(errno));
      }
      if (last) return {};
      if (!createParents) return fail(Code::kNotFound, at + " does not exist");
      if (::mkdir(at.c_str(), 0755) != 0 && errno != EEXIST) {
        return fail(Code::kInternal, "cannot create directory " + at + ": " + std::strerror(errno));
      }
      if (::lstat(at.c_str(), &st) != 0) {
        return fail(Code::kInternal, "cannot inspect " + at + ": " + std::strerror(errno));
      }
    }
    if (S_ISLNK(st.st_mode)) {
      return fail(Code::kPermissionDenied,
                  at + " is a symbolic link; refusing to write " + std::string(vmPath) + " through it");
    }
    if (!last && !S_ISDIR(st.st_mode)) {
      return fail(Code::kFailedPrecondition, at + " is not a directory");
    }
    if (last && !S_ISREG(st.st_mode)) {
      return fail(Code::kFailedPrecondition, at + " exists and is not a regular file");
    }
  }
  return {};
}

Status FileWriter::write(std::string_view vmPath, std::string_view content) const {
  if (auto st = checkPath(vmPath, true); !st) return st;
  return files::writeAtomic(hostPath(vmPath), content, 0644);
}

Result<std::string> FileWriter::read(std::string_view vmPath, size_t maxBytes) const {
  if (auto st = checkPath(vmPath, false); !st) return fail(st.error());
  return files::readFile(hostPath(vmPath), maxBytes);
}

bool FileWriter::exists(std::string_view vmPath) const {
  struct stat st{};
  return ::lstat(hostPath(vmPath).c_str(), &st) == 0;
}

}  // namespace pp::userdata
