// The `service` class: `service:NAME` is the systemd unit NAME.service where
// systemd is PID 1 (sd_booted()), else the LSB init script NAME, as in
// Pacemaker. Which one is decided once, at init, and logged;
// $LRM_SERVICE_BACKEND, else the setting `service.backend` (`auto`, the
// default; `systemd`; `lsb`) overrides the decision (tests keep `service` on
// init scripts on any host, or drive a private systemd manager with it). The
// class forwards everything to the chosen one (docs/systemd.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lrm/sdk/resource_class.hpp"

namespace lrm::plugins::lsb {

class ServiceClass final : public sdk::ResourceClass {
 public:
  std::string name() const noexcept override { return "service"; }
  bool init(sdk::Host& host, std::string& error) noexcept override;
  bool requiresProvider() const noexcept override { return false; }
  std::vector<std::string> providers(const std::string& type) noexcept override { return chosen_->providers(type); }
  std::vector<std::string> types(const std::string& provider) noexcept override { return chosen_->types(provider); }
  void metadata(const sdk::AgentSpec& agent, sdk::MetadataCallback done) noexcept override {
    chosen_->metadata(agent, std::move(done));
  }
  void execute(const sdk::Operation& op, sdk::CompletionCallback done) noexcept override {
    chosen_->execute(op, std::move(done));
  }
  bool cancel(sdk::CallId call_id) noexcept override { return chosen_->cancel(call_id); }
  std::string fingerprint(const sdk::AgentSpec& agent) noexcept override { return chosen_->fingerprint(agent); }
  bool resume(const sdk::Operation& op, sdk::CompletionCallback done) noexcept override {
    return chosen_->resume(op, std::move(done));
  }
  bool carriesOver(const sdk::Operation& op) const noexcept override { return chosen_->carriesOver(op); }
  void released(const std::string& instance_id, const sdk::AgentSpec& agent) noexcept override {
    chosen_->released(instance_id, agent);
  }

 private:
  std::unique_ptr<sdk::ResourceClass> chosen_;
};

}  // namespace lrm::plugins::lsb
