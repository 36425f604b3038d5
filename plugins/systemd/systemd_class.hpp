// The `systemd` class: systemd units as resources, driven over the system bus
// on lrmd's loop (docs/systemd.md). start/stop submit the unit's job (mode
// "replace") and complete from its JobRemoved signal, then check ActiveState
// until the unit is active/inactive; monitor reads ActiveState. Until the op's
// timeout, anything unsettled — a unit activating, the bus lost, the manager
// re-executing — is checked again, never reported as a failure. Before the
// first start of a unit it writes an override drop-in (Restart=no,
// Before=lrmd.service) into `systemd.dropin-dir` and reloads the manager; the
// drop-in stays while the instance is registered and goes at released().
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bus.hpp"
#include "lrm/sdk/resource_class.hpp"
#include "systemd_unit.hpp"

namespace lrm::plugins::systemd {

class SystemdClass final : public sdk::ResourceClass {
 public:
  ~SystemdClass() override;
  std::string name() const noexcept override { return "systemd"; }
  bool requiresProvider() const noexcept override { return false; }
  bool init(sdk::Host& host, std::string& error) noexcept override;
  std::vector<std::string> providers(const std::string&) noexcept override { return {}; }
  std::vector<std::string> types(const std::string& provider) noexcept override;
  void metadata(const sdk::AgentSpec& agent, sdk::MetadataCallback done) noexcept override;
  void execute(const sdk::Operation& op, sdk::CompletionCallback done) noexcept override;
  bool cancel(sdk::CallId call_id) noexcept override;
  std::string fingerprint(const sdk::AgentSpec& agent) noexcept override;
  bool resume(const sdk::Operation& op, sdk::CompletionCallback done) noexcept override;
  /** A start or stop is a job of systemd's: it survives lrmd's re-execution. */
  bool carriesOver(const sdk::Operation& op) const noexcept override;
  /** Removes the drop-in of the instance's unit (if ours) and reloads the manager, asynchronously. */
  void released(const std::string& instance_id, const sdk::AgentSpec& agent) noexcept override;

 private:
  /** One operation in flight, from execute() to its one completion. */
  struct Op {
    sdk::Operation op;
    sdk::CompletionCallback done;
    std::string unit;
    std::string path;       // the unit's object path, from LoadUnit
    bool dropin_tried = false;     // start: the drop-in was written, or that failed
    bool dropin_written = false;   // ... it is on disk
    bool dropin_replaced = false;  // ... replacing other content: reload whatever systemd has loaded
    std::string job;        // the job of StartUnit/StopUnit while it runs
    bool submitted = false;  // the job was accepted (or, after resume, is known to systemd)
    UnitState state;
    std::string last_problem;  // why the last check did not settle
    std::uint64_t attempt = 0;  // replies of an older check are ignored
    std::uint64_t deadline_timer = 0;
    std::uint64_t recheck_timer = 0;
    std::uint32_t backoff_ms = 0;
  };

  void begin(const sdk::Operation& op, sdk::CompletionCallback done, bool submitted);
  void check(sdk::CallId id);
  void readState(sdk::CallId id, std::uint64_t attempt, const std::string& path);
  void readResult(sdk::CallId id, std::uint64_t attempt, const std::string& path);
  void decide(sdk::CallId id);
  void submit(sdk::CallId id);
  void ensureDropIn(sdk::CallId id);
  void reloadUnlessLoaded(sdk::CallId id, std::uint64_t attempt, bool changed);
  void recheck(sdk::CallId id, const std::string& problem);
  void failed(sdk::CallId id, const sd_bus_error* error, const std::string& what);
  void finish(sdk::CallId id, sdk::Result result);
  void finishRemovingDropIn(sdk::CallId id, sdk::Result result);
  void timedOut(sdk::CallId id);
  Op* current(sdk::CallId id, std::uint64_t attempt);
  void onUp();
  void onJobRemoved(const std::string& job, const std::string& result);
  void unitsChanged();
  void refreshListing();

  sdk::Host* host_ = nullptr;
  std::unique_ptr<Bus> bus_;
  std::string dropin_dir_;  // empty (the setting "none" or ""): no drop-in
  std::map<sdk::CallId, Op> ops_;
  std::map<std::string, std::string> dropin_units_;  // instance id → unit whose drop-in its start wrote
  std::vector<std::string> listing_;  // types(), refreshed from the bus
  std::uint64_t generation_ = 0;      // bumped whenever units may have changed (fingerprint)
  bool listing_in_flight_ = false;
  bool listing_stale_ = false;
  std::uint64_t listing_timer_ = 0;  // a refresh after a burst of changes
};

}  // namespace lrm::plugins::systemd
