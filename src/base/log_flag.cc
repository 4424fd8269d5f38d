#include "base/log_flag.h"

#include <memory>

#include "base/log.h"

namespace pp::log {
namespace {

class LogFormatValue final : public flags::Value {
 public:
  Status set(std::string_view text) override {
    Format f;
    if (!parseFormat(text, &f)) return fail(Code::kInvalidArgument, "must be text or json");
    setFormat(f);
    return {};
  }
  std::string toString() const override { return format() == Format::kJson ? "json" : "text"; }
  std::string_view typeName() const override { return "string"; }
  bool isZero() const override { return false; }
  bool quoteDefault() const override { return true; }
};

}  // namespace

flags::Flag& addLogFormatFlag(flags::FlagSet& fs, std::string env) {
  return fs.var(std::make_unique<LogFormatValue>(), "log-format", std::move(env),
                "log layout: text (Go's standard logger layout, as upstream) or json (one object "
                "a line with time, level, component, msg, sandbox_id)");
}

}  // namespace pp::log
