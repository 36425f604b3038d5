// The systemd class's rules, apart from the bus: which unit a type names,
// what a unit's state means for an action, the override drop-in lrm writes,
// which units `agents systemd` lists, and the metadata synthesized for a
// unit. Pure functions, so unit tests can pin them (docs/systemd.md).
#pragma once

#include <optional>
#include <string>

#include "lrm/sdk/types.hpp"

namespace lrm::plugins::systemd {

/**
 * The unit a `systemd:` type names: `NAME` → `NAME.service` unless it already
 * ends in a unit suffix (`.service`, `.socket`, `.target`, ...);
 * `NAME@instance` → `NAME@instance.service`. nullopt for what systemd would
 * refuse: characters outside `[A-Za-z0-9:_.@\-]`, a template without an
 * instance (`NAME@`), an empty name.
 */
std::optional<std::string> unitName(const std::string& type);

/** What a unit's state says about an action. */
struct UnitState {
  std::string load;        ///< LoadState: loaded, not-found, masked, ...
  std::string active;      ///< ActiveState: active, reloading, inactive, failed, activating, deactivating
  std::string result;      ///< the service's Result (exit-code, timeout, ...) when failed; may be empty
  std::string job_result;  ///< JobRemoved's result of this op's job; empty while unknown
};

/**
 * The result of @p action on @p unit in state @p state, or nullopt while it
 * is pending (check again until the op's timeout). monitor/status:
 * active/reloading → ok; inactive → not running; failed → not running with
 * the Result; activating/deactivating → pending. start: active → ok; failed →
 * error with the Result; inactive once the job is known to have ended → error;
 * else pending. stop: inactive/failed → ok; else pending. LoadState not-found →
 * not installed, whatever the action.
 */
std::optional<sdk::Result> verdict(const std::string& action, const std::string& unit, const UnitState& state);

/** The drop-in `50-lrm.conf`: Before=lrmd.service (stopped after lrmd) and Restart=no. */
std::string dropInText();

/**
 * The type `agents systemd` lists for a unit name or unit file name:
 * `foo.service` → `foo`, `foo@.service` → `foo@`, `foo@bar.service` →
 * `foo@bar`; nullopt for anything that is not a service.
 */
std::optional<std::string> listedType(const std::string& unit_or_file);

/** OCF-style metadata of @p type, with systemd's Description as shortdesc. */
std::string synthesizeMetadata(const std::string& type, const std::string& unit, const std::string& description);

}  // namespace lrm::plugins::systemd
