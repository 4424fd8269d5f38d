// Helpers for the userdata tests: a temporary pod VM root, file helpers, a fake metadata
// service (net::HttpServer) that records requests, and an independent digest (python3).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "net/http_server.h"

namespace pp::userdata::testing {

namespace fs = std::filesystem;

class TempRoot {
 public:
  TempRoot() {
    std::string tmpl = (fs::temp_directory_path() / "pud-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempRoot() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  fs::path operator/(std::string_view rel) const { return path_ / std::string(rel); }

 private:
  fs::path path_;
};

inline void writeText(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

inline std::string readText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every regular file and link under `dir`, relative, sorted.
inline std::set<std::string> listFiles(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       it != fs::recursive_directory_iterator(); ++it) {
    if (!it->is_directory() || it->is_symlink()) out.insert(fs::relative(it->path(), dir).string());
  }
  return out;
}

inline mode_t fileMode(const fs::path& p) {
  struct stat st {};
  ::lstat(p.c_str(), &st);
  return st.st_mode & 07777;
}

// hashlib's hex digest of a file, computed by python3: a check independent of our code.
inline std::string pythonDigest(const std::string& algorithm, const fs::path& file) {
  std::string cmd =
      "python3 -c 'import hashlib,sys; print(hashlib.new(sys.argv[1], open(sys.argv[2], "
      "\"rb\").read()).hexdigest())' " +
      algorithm + " '" + file.string() + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "";
  char buf[256] = {};
  std::string out;
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  ::pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// A metadata service stand-in: answers with `handler`, records every request.
class FakeMetadata {
 public:
  using Handler = std::function<net::ServerResponse(const net::ServerRequest&)>;
  explicit FakeMetadata(Handler handler) : handler_(std::move(handler)) {
    net::HttpServerOptions o;
    o.name = "fake-metadata";
    auto s = net::HttpServer::start(o, [this](const net::ServerRequest& r) {
      std::lock_guard lock(mu_);
      requests_.push_back(r);
      return handler_(r);
    });
    if (!s) throw std::runtime_error(s.error().toString());
    server_ = std::move(*s);
  }
  std::string url() const { return server_->baseUrl(); }
  std::vector<net::ServerRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  Handler handler_;
  std::vector<net::ServerRequest> requests_;
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace pp::userdata::testing
