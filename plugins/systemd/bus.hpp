// The systemd class's connection to systemd's manager over the system bus
// (sd-bus; DBUS_SYSTEM_BUS_ADDRESS is honoured by sd_bus_open_system), driven
// entirely by lrmd's loop: the bus descriptor is watched with Host::watch
// (its events follow sd_bus_get_events), sd_bus_get_timeout becomes a Host
// timer, and every call is asynchronous. A lost connection (a hang-up, an
// sd_bus_process error) is re-established with back-off; `up` is reported
// once the manager has answered Subscribe, on the first connection, after a
// reconnection and after the manager re-executed (its bus name came back).
#pragma once

#include <systemd/sd-bus.h>

#include <cstdint>
#include <functional>
#include <string>

#include "lrm/sdk/host.hpp"

namespace lrm::plugins::systemd {

/** A method's reply: @p reply to read from, or @p error (then reply may be an error message or null). */
using Reply = std::function<void(sd_bus_message* reply, const sd_bus_error* error)>;
/** Appends a call's arguments; returns an sd-bus error code (< 0) on failure. */
using Append = std::function<int(sd_bus_message* call)>;

class Bus {
 public:
  struct Events {
    std::function<void()> up;    ///< the manager answers (again): re-check what was waited for
    std::function<void()> down;  ///< the connection or the manager is gone
    std::function<void(const std::string& job, const std::string& result)> job_removed;
    std::function<void()> units_changed;  ///< a reload, or unit files changed
  };

  Bus(sdk::Host& host, Events events) : host_(host), events_(std::move(events)) {}
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  /** Connect (and keep reconnecting when lost). */
  void start();
  /** Does the manager answer? */
  bool up() const { return up_; }
  /**
   * Call @p member of @p interface on systemd's object @p path; @p done later,
   * exactly once unless the connection is lost first (then never: `down` and
   * `up` say when to ask again). @return false when not connected (nothing sent).
   */
  bool call(const std::string& path, const std::string& interface, const std::string& member, const Append& append,
            Reply done);
  /** Read one string property (Properties.Get); @p done gets "" and the error on failure. */
  bool getString(const std::string& path, const std::string& interface, const std::string& property,
                 std::function<void(const std::string& value, const sd_bus_error* error)> done);

 private:
  static int onSignal(sd_bus_message* message, void* self, sd_bus_error* error);
  void connect();
  void subscribe();
  void lost(const std::string& why);
  void closeBus();
  void onReady(std::uint32_t ready);
  void refresh();
  void retryLater();

  sdk::Host& host_;
  Events events_;
  sd_bus* bus_ = nullptr;
  std::uint64_t watch_ = 0;
  std::uint32_t watched_events_ = 0;
  std::uint64_t timer_ = 0;        // sd_bus_get_timeout's deadline
  std::uint64_t retry_timer_ = 0;  // reconnect / re-subscribe back-off
  std::uint32_t backoff_ms_ = 0;
  bool up_ = false;
  bool warned_ = false;
  bool processing_ = false;  // inside sd_bus_process: handlers run  // the loss was logged as a warning since the manager last answered
};

}  // namespace lrm::plugins::systemd
