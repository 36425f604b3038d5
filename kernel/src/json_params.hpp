// Agent parameters as a JSON object ({"name":"value",...}), as the journal
// (state_store.cpp) and the upgrade's handover file (handover.cpp) store them.
#pragma once

#include <Poco/JSON/Object.h>

#include "lrm/sdk/types.hpp"

namespace lrm::kernel {

inline Poco::JSON::Object::Ptr paramsJson(const sdk::Params& params) {
  Poco::JSON::Object::Ptr object = new Poco::JSON::Object();
  for (const auto& [name, value] : params) object->set(name, value);
  return object;
}

/** @throws Poco::Exception when a value is not a string. */
inline sdk::Params paramsFromJson(const Poco::JSON::Object::Ptr& object) {
  sdk::Params params;
  for (const auto& name : object->getNames()) params[name] = object->getValue<std::string>(name);
  return params;
}

}  // namespace lrm::kernel
