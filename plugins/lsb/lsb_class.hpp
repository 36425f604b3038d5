// The `lsb` class (init scripts) and the `service` class, which resolves a
// name to the LSB script when one exists. systemd units are not supported
// yet: where systemd is PID 1 a later `service` would try the unit
// `<name>.service` after the script (docs/sdk.md). Both search the
// directories of $LRM_LSB_PATH, else of the setting lsb.path (":"-separated,
// default /etc/init.d).
#pragma once

#include <string>
#include <vector>

#include "script_class.hpp"

namespace lrm::plugins::lsb {

class LsbClass : public ScriptClass {
 public:
  explicit LsbClass(std::string name = "lsb") : name_(std::move(name)) {}

  std::string name() const noexcept override { return name_; }
  bool requiresProvider() const noexcept override { return false; }
  bool init(sdk::Host& host, std::string& error) noexcept override;
  std::vector<std::string> providers(const std::string& type) noexcept override;
  std::vector<std::string> types(const std::string& provider) noexcept override;
  void metadata(const sdk::AgentSpec& agent, sdk::MetadataCallback done) noexcept override;

 protected:
  std::optional<Invocation> prepare(const sdk::Operation& op, std::string& reason) override;
  std::optional<std::string> locate(const sdk::AgentSpec& agent) const override;
  ExitCodeMapper exitCodes() const override;

 private:
  std::string missing(const sdk::AgentSpec& agent) const;

  std::string name_;
  std::vector<std::string> dirs_;
  ListingMemo memo_;
};

/** `service:<name>`: the LSB script `<name>` if there is one. */
class ServiceClass final : public LsbClass {
 public:
  ServiceClass() : LsbClass("service") {}
};

}  // namespace lrm::plugins::lsb
