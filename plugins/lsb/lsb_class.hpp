// The `lsb` class (init scripts), also what the `service` class runs where
// systemd is not PID 1 (service_class.hpp). It searches the directories of
// $LRM_LSB_PATH, else of the setting lsb.path (":"-separated, default
// /etc/init.d).
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

}  // namespace lrm::plugins::lsb
