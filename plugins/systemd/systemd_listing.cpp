// The systemd class's listing and metadata: `agents systemd` and synthesized
// metadata, both from the manager (see systemd_class.hpp). types() must
// answer at once and never block, so the listing is kept from the bus —
// fetched when connected and again shortly after the manager reloads or says
// unit files changed — and types() returns the latest one.
#include <memory>
#include <set>

#include "systemd_class.hpp"

namespace lrm::plugins::systemd {
namespace {

constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
constexpr std::uint32_t kListingDelayMs = 500;

// Each listed service's type, from ListUnits' a(ssssssouso) or ListUnitFiles' a(ss).
void collect(sd_bus_message* reply, const char* row, std::set<std::string>& types) {
  if (sd_bus_message_enter_container(reply, 'a', row) < 0) return;
  const char* first = nullptr;
  const char* ignored[9] = {};
  std::uint32_t job_id = 0;
  for (;;) {
    const int r = std::string(row) == "(ss)"
                      ? sd_bus_message_read(reply, row, &first, &ignored[0])
                      : sd_bus_message_read(reply, row, &first, &ignored[0], &ignored[1], &ignored[2], &ignored[3],
                                            &ignored[4], &ignored[5], &job_id, &ignored[6], &ignored[7]);
    if (r <= 0) break;
    if (auto type = listedType(first)) types.insert(*type);
  }
  sd_bus_message_exit_container(reply);
}

}  // namespace

std::vector<std::string> SystemdClass::types(const std::string& provider) noexcept {
  return provider.empty() ? listing_ : std::vector<std::string>{};
}

// A reload sends Reloading twice, and starts of many units may each reload:
// one listing for a burst of changes, half a second after the first (its
// cost grows with the number of units).
void SystemdClass::unitsChanged() {
  ++generation_;
  if (listing_timer_ != 0) return;
  listing_timer_ = host_->startTimer(kListingDelayMs, [this] {
    listing_timer_ = 0;
    refreshListing();
  });
}

// One listing at a time; a change meanwhile asks for another at its end.
void SystemdClass::refreshListing() {
  if (listing_in_flight_) {
    listing_stale_ = true;
    return;
  }
  auto types = std::make_shared<std::set<std::string>>();
  const bool sent = bus_->call(kManagerPath, kManager, "ListUnits", nullptr,
                               [this, types](sd_bus_message* reply, const sd_bus_error* error) {
                                 if (!error) collect(reply, "(ssssssouso)", *types);
                                 const bool next = bus_->call(
                                     kManagerPath, kManager, "ListUnitFiles", nullptr,
                                     [this, types](sd_bus_message* files, const sd_bus_error* failed) {
                                       if (!failed) collect(files, "(ss)", *types);
                                       listing_.assign(types->begin(), types->end());
                                       listing_in_flight_ = false;
                                       if (listing_stale_) {
                                         listing_stale_ = false;
                                         refreshListing();
                                       }
                                     });
                                 if (!next) listing_in_flight_ = false;
                               });
  listing_in_flight_ = sent;
}

// Changes whenever the manager reloaded, unit files or units changed, or the
// connection came back: the cached metadata (a unit's Description) is kept
// until then.
std::string SystemdClass::fingerprint(const sdk::AgentSpec& agent) noexcept {
  try {
    return "systemd:" + agent.type + ":" + std::to_string(generation_);
  } catch (...) {
    return {};
  }
}

void SystemdClass::metadata(const sdk::AgentSpec& agent, sdk::MetadataCallback done) noexcept {
  try {
    auto answer = [this, done](sdk::Result result, std::string xml = {}) {
      host_->post([done, result, xml] { done(result, xml); });
    };
    auto fail = [answer](sdk::ExecStatus status, int rc, std::string reason) {
      sdk::Result result;
      result.status = status;
      result.rc = rc;
      result.exit_reason = std::move(reason);
      answer(result);
    };
    const auto unit = unitName(agent.type);
    if (!unit) return fail(sdk::ExecStatus::NotInstalled, sdk::rc::kNotInstalled, "'" + agent.type + "' is not a unit name");
    const std::string type = agent.type;
    const bool sent = bus_->up() && bus_->call(
        kManagerPath, kManager, "LoadUnit", [&](sd_bus_message* m) { return sd_bus_message_append(m, "s", unit->c_str()); },
        [this, type, unit = *unit, answer, fail](sd_bus_message* reply, const sd_bus_error* error) {
          const char* path = nullptr;
          if (error || sd_bus_message_read(reply, "o", &path) < 0) {
            return fail(sdk::ExecStatus::Error, sdk::rc::kError, "LoadUnit failed: " + std::string(error ? error->message : "unreadable reply"));
          }
          const std::string object = path;
          bus_->getString(object, "org.freedesktop.systemd1.Unit", "LoadState",
                          [this, type, unit, object, answer, fail](const std::string& load, const sd_bus_error* e) {
            if (e || load == "not-found") return fail(sdk::ExecStatus::NotInstalled, sdk::rc::kNotInstalled, "unit " + unit + " not found");
            bus_->getString(object, "org.freedesktop.systemd1.Unit", "Description",
                            [type, unit, answer](const std::string& description, const sd_bus_error*) {
                              sdk::Result ok;
                              ok.status = sdk::ExecStatus::Done;
                              ok.rc = sdk::rc::kOk;
                              answer(ok, synthesizeMetadata(type, unit, description));
                            });
          });
        });
    if (!sent) fail(sdk::ExecStatus::Error, sdk::rc::kError, "the systemd manager is not connected");
  } catch (const std::exception& e) {
    sdk::Result result;
    result.exit_reason = e.what();
    host_->post([done, result] { done(result, ""); });
  }
}

}  // namespace lrm::plugins::systemd
