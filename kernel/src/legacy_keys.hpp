// The key names lrmd's files used before they were written with the
// protocol records' names (lrm/protocol/records.hpp): journal formats 1 and 2
// and handover format 1. The one place that maps them; readers of an old
// file rename its keys here, then decode it as a current one.
#pragma once

#include <Poco/JSON/Object.h>

#include <string>
#include <utility>

namespace lrm::kernel {

/** Rename @p record's keys from their pre-schema names to the records' names. */
inline void renameLegacyKeys(Poco::JSON::Object& record) {
  static const std::pair<const char*, const char*> kRenamed[] = {
      // journal records and handover ops
      {"interval", "interval_ms"}, {"call", "call_id"}, {"timeout", "timeout_ms"}, {"changes", "changes_only"},
      {"originator", "originator_only"}, {"reason", "exit_reason"}, {"exec", "exec_ms"}, {"queue", "queue_ms"},
      {"drop", "drop_recurring"},
      // handover ops only
      {"instance", "instance_id"}, {"start_delay", "start_delay_ms"}, {"remaining", "remaining_ms"},
      {"waited", "waited_ms"}, {"rerun", "rerun_now"}, {"cancel", "cancel_requested"}};
  for (const auto& [old_name, name] : kRenamed) {
    if (!record.has(old_name)) continue;
    record.set(name, record.get(old_name));
    record.remove(old_name);
  }
}

/**
 * A journal record of format 1 or 2 as format 3 writes it: its keys
 * renamed, and what those formats did not keep set to what it meant then
 * (a result's output was not kept; name and agent are the instance's).
 */
inline void upgradeLegacyJournalRecord(Poco::JSON::Object& record) {
  renameLegacyKeys(record);
  const auto fill = [&](const char* key, const Poco::Dynamic::Var& value) {
    if (!record.has(key)) record.set(key, value);
  };
  const std::string kind = record.has("r") ? record.getValue<std::string>("r") : std::string();
  if (kind == "res" || kind == "run") {
    fill("type", std::string("exec"));
    fill("name", std::string());
    fill("agent", std::string());
  }
  if (kind == "res") {
    fill("output", std::string());
    fill("deleted", false);
  }
  if (kind == "rec+") {
    fill("originator_only", false);
    fill("t_run", static_cast<Poco::Int64>(0));
  }
}

}  // namespace lrm::kernel
