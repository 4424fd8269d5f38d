#include "adaptor/probe.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "base/log.h"

namespace pp::adaptor {
namespace {
constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kMaxRequest = 8192;
}  // namespace

Result<std::shared_ptr<StartupProbe>> StartupProbe::start(
    asio::any_io_executor ex, const std::string& host, uint16_t port, std::string hypervisorSocket,
    std::function<std::string()> podsNotReady) {
  asio::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return fail(Code::kInvalidArgument, "probe address " + host + ": " + ec.message());
  asio::ip::tcp::acceptor acceptor(ex);
  asio::ip::tcp::endpoint ep(addr, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(64, ec);
  if (ec)
    return fail(Code::kUnavailable, "startup probe: listen on " + host + ":" +
                                        std::to_string(port) + ": " + ec.message());
  std::shared_ptr<StartupProbe> p(
      new StartupProbe(std::move(acceptor), std::move(hypervisorSocket)));
  p->podsNotReady_ = std::move(podsNotReady);
  p->port_ = p->acceptor_.local_endpoint(ec).port();
  asio::co_spawn(ex, acceptLoop(p), asio::detached);
  return p;
}

std::string StartupProbe::lastNotReadyReason() const {
  std::lock_guard lock(reasonMu_);
  return lastReason_;
}

void StartupProbe::stop() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    asio::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

asio::awaitable<void> StartupProbe::acceptLoop(std::shared_ptr<StartupProbe> self) {
  asio::steady_timer pause(self->acceptor_.get_executor());
  while (self->acceptor_.is_open()) {
    auto [ec, s] = co_await self->acceptor_.async_accept(kUse);
    if (ec) {
      if (!self->acceptor_.is_open()) break;
      // Out of descriptors (or memory): accepting again at once would spin.
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(kUse);
      continue;
    }
    asio::co_spawn(self->acceptor_.get_executor(), serve(self, std::move(s)), asio::detached);
  }
}

asio::awaitable<std::string> StartupProbe::notReadyReason() {
  if (readyOnce_) co_return "";
  asio::local::stream_protocol::socket s(co_await asio::this_coro::executor);
  asio::local::stream_protocol::endpoint ep(socket_);
  auto [ec] = co_await s.async_connect(ep, kUse);
  if (ec) co_return "hypervisor socket " + socket_ + " is not accepting connections yet";
  if (podsNotReady_) {
    std::string reason = podsNotReady_();
    if (!reason.empty()) co_return reason;
  }
  readyOnce_ = true;
  co_return "";
}

asio::awaitable<void> StartupProbe::serve(std::shared_ptr<StartupProbe> self,
                                          asio::ip::tcp::socket s) {
  using namespace asio::experimental::awaitable_operators;
  std::string req;
  char buf[1024];
  // Read the request head with a deadline; slow or oversized requests are dropped.
  asio::steady_timer deadline(s.get_executor(), std::chrono::seconds(5));
  bool complete = false;
  while (req.size() < kMaxRequest) {
    auto r = co_await (s.async_read_some(asio::buffer(buf), kUse) || deadline.async_wait(kUse));
    if (r.index() == 1) break;
    auto [ec, n] = std::get<0>(r);
    if (ec) break;
    req.append(buf, n);
    if (req.find("\r\n\r\n") != std::string::npos || req.find("\n\n") != std::string::npos) {
      complete = true;
      break;
    }
  }
  if (!complete) co_return;
  std::string status = "404 Not Found", body = "not found\n";
  auto lineEnd = req.find_first_of("\r\n");
  std::string line = req.substr(0, lineEnd);
  if (line.rfind("GET /startup ", 0) == 0 || line == "GET /startup") {
    std::string reason = co_await self->notReadyReason();
    {
      std::lock_guard lock(self->reasonMu_);
      if (reason != self->lastReason_ && !reason.empty())
        log::info("probe", "/startup: not ready: {}", reason);
      self->lastReason_ = reason;
    }
    if (reason.empty()) {
      status = "200 OK";
      body = "ok\n";
    } else {
      status = "500 Internal Server Error";
      body = "not ready\n";
    }
  } else if (line.rfind("GET ", 0) != 0) {
    status = "405 Method Not Allowed";
    body = "only GET\n";
  }
  std::string resp = "HTTP/1.1 " + status + "\r\nContent-Type: text/plain\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  auto [wec, wn] = co_await asio::async_write(s, asio::buffer(resp), kUse);
  (void)wec;
  (void)wn;
  asio::error_code ignored;
  s.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

}  // namespace pp::adaptor
