// The systemd class's bus connection on lrmd's loop (see bus.hpp).
#include "bus.hpp"

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace lrm::plugins::systemd {
namespace {

constexpr const char* kSystemd = "org.freedesktop.systemd1";
constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
constexpr std::uint32_t kFirstBackoffMs = 50;
constexpr std::uint32_t kLastBackoffMs = 2000;
// sd_bus_process calls per readiness report: the watch is level-triggered,
// so what is left is handled on the next iteration, between other work.
constexpr int kProcessBatch = 64;

std::string errorText(int code) { return std::strerror(code < 0 ? -code : code); }

int onReply(sd_bus_message* message, void* userdata, sd_bus_error*) {
  (*static_cast<Reply*>(userdata))(message, sd_bus_message_get_error(message));
  return 0;
}

void deleteReply(void* userdata) { delete static_cast<Reply*>(userdata); }

std::uint64_t nowUsec() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1000000u + static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
}

}  // namespace

Bus::~Bus() {
  host_.stopTimer(retry_timer_);
  closeBus();
}

void Bus::start() { connect(); }

void Bus::connect() {
  retry_timer_ = 0;
  // A unix socket connects at once; authentication and Hello go on through
  // sd_bus_process as the descriptor becomes ready.
  const int r = sd_bus_open_system(&bus_);
  if (r < 0) {
    bus_ = nullptr;
    return lost("cannot connect to the system bus: " + errorText(r));
  }
  watch_ = host_.watch(sd_bus_get_fd(bus_), sdk::Host::kReadable, [this](std::uint32_t ready) { onReady(ready); });
  if (watch_ == 0) return lost("cannot watch the system bus connection");
  watched_events_ = sdk::Host::kReadable;
  // Not UnitNew/UnitRemoved: every LoadUnit of an unloaded unit sends them.
  const char* signals[] = {"JobRemoved", "UnitFilesChanged", "Reloading"};
  for (const char* member : signals) {
    sd_bus_match_signal_async(bus_, nullptr, kSystemd, kManagerPath, kManager, member, onSignal, nullptr, this);
  }
  // The manager re-executing drops its name and takes it again.
  sd_bus_match_signal_async(bus_, nullptr, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                            "NameOwnerChanged", onSignal, nullptr, this);
  subscribe();
  refresh();
}

// Without Subscribe the manager sends no JobRemoved to this connection.
void Bus::subscribe() {
  call(kManagerPath, kManager, "Subscribe", nullptr, [this](sd_bus_message*, const sd_bus_error* error) {
    if (error && !sd_bus_error_has_name(error, "org.freedesktop.systemd1.AlreadySubscribed")) {
      host_.log(sdk::LogLevel::Debug, {}, std::string("systemd: Subscribe failed: ") + error->message);
      return retryLater();
    }
    backoff_ms_ = 0;
    warned_ = false;
    if (!up_) host_.log(sdk::LogLevel::Info, {}, "systemd: connected to the manager");
    up_ = true;
    events_.up();
  });
}

int Bus::onSignal(sd_bus_message* message, void* userdata, sd_bus_error*) {
  auto& self = *static_cast<Bus*>(userdata);
  const std::string member = sd_bus_message_get_member(message);
  if (member == "JobRemoved") {
    std::uint32_t id = 0;
    const char *job = nullptr, *unit = nullptr, *result = nullptr;
    if (sd_bus_message_read(message, "uoss", &id, &job, &unit, &result) >= 0) self.events_.job_removed(job, result);
  } else if (member == "NameOwnerChanged") {
    const char *name = nullptr, *before = nullptr, *after = nullptr;
    if (sd_bus_message_read(message, "sss", &name, &before, &after) < 0 || std::strcmp(name, kSystemd) != 0) return 0;
    if (*after == '\0') {
      self.host_.log(sdk::LogLevel::Notice, {}, "systemd: the manager left the bus (re-executing?)");
      self.up_ = false;
      self.events_.down();
    } else {
      self.host_.log(sdk::LogLevel::Info, {}, "systemd: the manager's bus name has a new owner; subscribing again");
      self.subscribe();
    }
  } else {
    self.events_.units_changed();
  }
  return 0;
}

bool Bus::call(const std::string& path, const std::string& interface, const std::string& member,
               const Append& append, Reply done) {
  if (!bus_) return false;
  sd_bus_message* raw = nullptr;
  int r = sd_bus_message_new_method_call(bus_, &raw, kSystemd, path.c_str(), interface.c_str(), member.c_str());
  std::unique_ptr<sd_bus_message, decltype(&sd_bus_message_unref)> message(raw, sd_bus_message_unref);
  if (r >= 0 && append) r = append(message.get());
  sd_bus_slot* slot = nullptr;
  auto reply = std::make_unique<Reply>(std::move(done));
  if (r >= 0) r = sd_bus_call_async(bus_, &slot, message.get(), onReply, reply.get(), 0);
  if (r < 0) {
    host_.log(sdk::LogLevel::Warning, {}, "systemd: cannot call " + member + ": " + errorText(r));
    return false;
  }
  // The bus owns the slot; the reply functor dies with it, after its call.
  sd_bus_slot_set_destroy_callback(slot, deleteReply);
  reply.release();
  sd_bus_slot_set_floating(slot, 1);
  sd_bus_slot_unref(slot);
  refresh();
  return true;
}

bool Bus::getString(const std::string& path, const std::string& interface, const std::string& property,
                    std::function<void(const std::string& value, const sd_bus_error* error)> done) {
  return call(
      path, "org.freedesktop.DBus.Properties", "Get",
      [&](sd_bus_message* m) { return sd_bus_message_append(m, "ss", interface.c_str(), property.c_str()); },
      [done](sd_bus_message* reply, const sd_bus_error* error) {
        const char* value = nullptr;
        if (error || sd_bus_message_read(reply, "v", "s", &value) < 0 || !value) {
          sd_bus_error unreadable = SD_BUS_ERROR_MAKE_CONST("org.freedesktop.DBus.Error.InvalidSignature",
                                                             "the property is not a string");
          return done("", error ? error : &unreadable);
        }
        done(value, nullptr);
      });
}

void Bus::onReady(std::uint32_t ready) {
  int r = 0;
  processing_ = true;
  for (int i = 0; i < kProcessBatch; ++i) {
    r = sd_bus_process(bus_, nullptr);
    if (r <= 0) break;
  }
  processing_ = false;
  if (r < 0) return lost("the system bus connection failed: " + errorText(r));
  if ((ready & sdk::Host::kHangUp) != 0) return lost("the system bus hung up");
  refresh();
}

// After every call and every sd_bus_process: wait for what sd-bus wants now.
void Bus::refresh() {
  if (!bus_) return;
  const int wanted = sd_bus_get_events(bus_);
  // Inside sd_bus_process (a handler making a call) the bus must not be
  // freed: onReady() sees the failure once sd_bus_process returns.
  if (wanted < 0) return processing_ ? void() : lost("the system bus connection is closed");
  const std::uint32_t events = ((wanted & POLLIN) ? sdk::Host::kReadable : 0u) |
                               ((wanted & POLLOUT) ? sdk::Host::kWritable : 0u);
  if (events != watched_events_) {
    host_.changeWatch(watch_, events);
    watched_events_ = events;
  }
  host_.stopTimer(timer_);
  timer_ = 0;
  std::uint64_t deadline = 0;
  if (sd_bus_get_timeout(bus_, &deadline) >= 0 && deadline != UINT64_MAX) {
    const std::uint64_t now = nowUsec();
    const std::uint64_t delay_ms = deadline > now ? (deadline - now + 999) / 1000 : 0;
    timer_ = host_.startTimer(static_cast<std::uint32_t>(std::min<std::uint64_t>(delay_ms, UINT32_MAX)), [this] {
      timer_ = 0;
      onReady(0);
    });
  }
}

// Said once as a warning; while the bus stays away (a machine without a
// system bus), the retries are logged at debug level only.
void Bus::lost(const std::string& why) {
  host_.log(warned_ ? sdk::LogLevel::Debug : sdk::LogLevel::Warning, {}, "systemd: " + why + "; reconnecting");
  warned_ = true;
  closeBus();
  const bool was_up = up_;
  up_ = false;
  if (was_up) events_.down();
  retryLater();
}

// Floating slots die with the bus, their reply functors unused.
void Bus::closeBus() {
  host_.unwatch(watch_);
  watch_ = 0;
  host_.stopTimer(timer_);
  timer_ = 0;
  if (bus_) {
    sd_bus_close(bus_);
    sd_bus_unref(bus_);
    bus_ = nullptr;
  }
}

// Reconnect when the connection is gone, else subscribe again.
void Bus::retryLater() {
  if (retry_timer_ != 0) return;
  backoff_ms_ = backoff_ms_ == 0 ? kFirstBackoffMs : std::min(backoff_ms_ * 2, kLastBackoffMs);
  retry_timer_ = host_.startTimer(backoff_ms_, [this] {
    retry_timer_ = 0;
    if (bus_) return subscribe();
    connect();
  });
}

}  // namespace lrm::plugins::systemd
