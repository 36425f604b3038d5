// The protocol records (lrm/protocol/records.hpp) and their encodings
// (sdk/src/protocol/codec.hpp, the journal, the handover file): every member
// of every record is in its schema, and a record with every field set to a
// value other than its default comes back from every encoding equal, field by
// field, but for the fields that encoding leaves out by design (lrmd's own
// fields on the wire, privileged ones for unprivileged peers).
#include <gtest/gtest.h>

#include <Poco/Checksum.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include "handover.hpp"
#include "protocol/codec.hpp"
#include "state_store.hpp"
#include "temp_dir.hpp"

namespace lrm::protocol {
namespace {

// ---- How many members an aggregate has (brace-initialising it from
// values of a type that converts to anything). A member added to a record
// and not to its schema makes its count differ from the schema's.

struct AnyMember {
  template <class T>
  operator T&() const { std::abort(); }  // never called: only its type is used
};

// Counting leaves members out on purpose (Clang warns, in an unevaluated context too).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
template <class T, class... A>
constexpr auto initializable(int) -> decltype(T{std::declval<A>()...}, true) {
  return true;
}
#pragma GCC diagnostic pop
template <class T, class... A>
constexpr bool initializable(...) {
  return false;
}

template <class T, class... A>
constexpr std::size_t memberCount() {
  if constexpr (sizeof...(A) < 40 && initializable<T, A..., AnyMember>(0)) {
    return memberCount<T, A..., AnyMember>();
  } else {
    return sizeof...(A);
  }
}

TEST(Records, EveryMemberIsInItsSchema) {
  EXPECT_EQ(memberCount<Event>(), fieldCount<Event>());
  EXPECT_EQ(memberCount<Op>(), fieldCount<Op>());
  EXPECT_EQ(memberCount<Instance>(), fieldCount<Instance>());
  EXPECT_EQ(memberCount<PingInfo>(), fieldCount<PingInfo>());
  EXPECT_EQ(memberCount<RegisterRequest>(), fieldCount<RegisterRequest>());
  EXPECT_EQ(memberCount<ExecRequest>(), fieldCount<ExecRequest>());
  EXPECT_EQ(memberCount<SubscribeRequest>(), fieldCount<SubscribeRequest>());
  EXPECT_EQ(memberCount<sdk::AgentSpec>(), fieldCount<sdk::AgentSpec>());
  EXPECT_EQ(memberCount<sdk::ParameterInfo>(), fieldCount<sdk::ParameterInfo>());
  EXPECT_EQ(memberCount<sdk::ActionInfo>(), fieldCount<sdk::ActionInfo>());
  EXPECT_EQ(memberCount<sdk::AgentMetadata>(), fieldCount<sdk::AgentMetadata>());
  // The handover's schema of a carried op lists all but its op record and its state.
  EXPECT_EQ(memberCount<kernel::CarriedOp>(), 2 + std::tuple_size_v<decltype(Schema<kernel::CarriedOp>::kFields)>);
}

// ---- Records with every field set to a value of its own.

template <class R>
void fill(R& record, int& seed);

template <class T>
void fillValue(T& value, const char* name, int& seed) {
  ++seed;
  if constexpr (std::is_same_v<T, std::string>) {
    value = std::string(name) + "-" + std::to_string(seed) + " <&\"'>\n\tline \\ \xc3\xa9t\xc3\xa9";
  } else if constexpr (std::is_same_v<T, bool>) {
    value = true;
  } else if constexpr (std::is_integral_v<T>) {
    value = static_cast<T>(1000 + seed);
  } else if constexpr (std::is_same_v<T, sdk::ExecStatus>) {
    value = sdk::ExecStatus::Timeout;
  } else if constexpr (std::is_same_v<T, sdk::Params>) {
    value = {{std::string(name) + "_a", "x=" + std::to_string(seed)}, {"b", "two words"}};
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    value = {std::string(name) + "-" + std::to_string(seed), "second"};
  } else if constexpr (kHasSchema<T>) {
    fill(value, seed);
  } else if constexpr (IsOptional<T>::value) {
    fill(value.emplace(), seed);
  } else {  // a list of records: two
    fill(value.emplace_back(), seed);
    fill(value.emplace_back(), seed);
  }
}

template <class R>
void fill(R& record, int& seed) {
  forEachField([&](const auto& field, auto& value) { fillValue(value, field.name, seed); }, record);
  if constexpr (std::is_same_v<R, Event>) record.type = "exec";  // the type that has every field
}

template <class R>
R filled() {
  R record;
  int seed = 0;
  fill(record, seed);
  return record;
}

// @p record without the fields flagged in @p flags (set to their defaults), in nested records too.
template <class R>
R without(R record, unsigned flags) {
  forEachField(
      [&](const auto& field, auto& value) {
        using T = std::decay_t<decltype(value)>;
        if (field.flags & flags) {
          value = T{};
        } else if constexpr (kHasSchema<T>) {
          value = without(value, flags);
        } else if constexpr (std::is_same_v<T, std::vector<Op>> || std::is_same_v<T, std::vector<Event>>) {
          for (auto& item : value) item = without(item, flags);
        } else if constexpr (std::is_same_v<T, std::optional<Op>>) {
          if (value) *value = without(*value, flags);
        }
      },
      record);
  return record;
}

template <class R>
std::string describe(const R& record) {
  std::ostringstream out;
  Poco::JSON::Stringifier::condense(json::toJson(record, json::kStored), out);
  return out.str();
}

// Through the wire's XML text, as a peer receives it.
template <class R>
R throughXml(const wire::Message& message) {
  std::string error;
  const auto decoded = wire::decode(wire::encode(message), error);
  EXPECT_TRUE(decoded) << error;
  return decoded ? fromMessage<R>(*decoded) : R{};
}

// Through JSON text; the fields the style leaves out may be absent, no other.
template <class R>
R throughJson(const R& record, const json::Style& style, unsigned absent = 0) {
  std::ostringstream text;
  Poco::JSON::Stringifier::condense(json::toJson(record, style), text);
  Poco::JSON::Parser parser;
  return json::fromJson<R>(*parser.parse(text.str()).extract<Poco::JSON::Object::Ptr>(), absent | style.omit);
}

// Through the JSON text appendFields() writes (the journal's), parsed back.
template <class R>
R throughText(const R& record) {
  std::string text = "{";
  json::appendFields(record, text, 0);
  text += '}';
  Poco::JSON::Parser parser;
  return json::fromJson<R>(*parser.parse(text).extract<Poco::JSON::Object::Ptr>(), 0);
}

#define EXPECT_SAME(expected, actual) \
  EXPECT_TRUE(sameFields(expected, actual)) << "expected " << describe(expected) << "\n  actual " << describe(actual)

TEST(Records, EveryFieldComesBackFromTheWire) {
  const auto event = filled<Event>();
  EXPECT_SAME(without(event, kLocal), throughXml<Event>(toMessage(event, true)));
  EXPECT_SAME(without(event, kLocal | kPrivileged), throughXml<Event>(toMessage(event, false)));
  const auto instance = filled<Instance>();
  EXPECT_SAME(without(instance, kLocal), throughXml<Instance>(toMessage(instance, true)));
  EXPECT_SAME(without(instance, kLocal | kPrivileged), throughXml<Instance>(toMessage(instance, false)));
  const auto metadata = filled<sdk::AgentMetadata>();
  EXPECT_SAME(metadata, throughXml<sdk::AgentMetadata>(toMessage(metadata)));
  const auto ping = filled<PingInfo>();
  wire::Message reply("reply");
  xml::encodeFields(ping, reply, kLocal);
  EXPECT_SAME(ping, throughXml<PingInfo>(reply));
}

TEST(Records, ARegisterEventHasNoExecFields) {
  auto event = filled<Event>();
  event.type = "register";
  Event expected;
  expected.type = "register";
  expected.id = event.id;
  expected.name = event.name;
  expected.agent = event.agent;
  EXPECT_SAME(expected, throughXml<Event>(toMessage(event, true)));
  EXPECT_SAME(expected, throughJson(event, json::kPrinted, kExecOnly));
}

TEST(Records, EveryFieldComesBackFromJson) {
  EXPECT_SAME(filled<Event>(), throughJson(filled<Event>(), json::kStored));
  EXPECT_SAME(filled<Op>(), throughJson(filled<Op>(), json::kStored));
  EXPECT_SAME(filled<Instance>(), throughJson(filled<Instance>(), json::kStored));
  EXPECT_SAME(filled<PingInfo>(), throughJson(filled<PingInfo>(), json::kStored));
  EXPECT_SAME(filled<RegisterRequest>(), throughJson(filled<RegisterRequest>(), json::kStored));
  EXPECT_SAME(filled<ExecRequest>(), throughJson(filled<ExecRequest>(), json::kStored));
  EXPECT_SAME(filled<SubscribeRequest>(), throughJson(filled<SubscribeRequest>(), json::kStored));
  EXPECT_SAME(filled<sdk::AgentMetadata>(), throughJson(filled<sdk::AgentMetadata>(), json::kStored));
  EXPECT_SAME(filled<Event>(), throughText(filled<Event>()));
  EXPECT_SAME(filled<Op>(), throughText(filled<Op>()));
  EXPECT_SAME(filled<Instance>(), throughText(filled<Instance>()));
  EXPECT_SAME(filled<RegisterRequest>(), throughText(filled<RegisterRequest>()));
  EXPECT_SAME(filled<SubscribeRequest>(), throughText(filled<SubscribeRequest>()));
  EXPECT_SAME(filled<sdk::AgentMetadata>(), throughText(filled<sdk::AgentMetadata>()));
  // lrmctl's: what a client has, without lrmd's own fields.
  EXPECT_SAME(without(filled<Event>(), kLocal), throughJson(filled<Event>(), json::kPrinted));
  EXPECT_SAME(without(filled<Instance>(), kLocal), throughJson(filled<Instance>(), json::kPrinted));
}

TEST(Records, ADifferenceInAnyFieldMakesRecordsUnequal) {
  const auto event = filled<Event>();
  int differing = 0;
  forEachField(
      [&](const auto& field, const auto&) {
        Event changed = event;
        forEachField(
            [&](const auto& other, auto& value) {
              if (std::string(other.name) == field.name) value = std::decay_t<decltype(value)>{};
            },
            changed);
        EXPECT_FALSE(changed == event) << field.name;
        ++differing;
      },
      event);
  EXPECT_EQ(differing, static_cast<int>(fieldCount<Event>()));
}

// The journal keeps every field of a result, of a recurring op and of a
// registration (format 3).
TEST(Records, EveryFieldComesBackFromTheJournal) {
  test::TempDir dir;
  auto instance = filled<Instance>();
  instance.agent = {"ocf", "heartbeat", "Dummy"};
  auto result = filled<Event>();
  result.id = instance.id;
  const auto op = filled<Op>();
  {
    kernel::StateStore store(dir.str());
    store.registered(instance, true);
    store.reported(result);
    store.recurringAdded(instance.id, op);
    store.sync();
  }
  // The header is the snapshot's (StateStore::compact()), as at every start.
  const std::string header = R"({"v":3})";
  Poco::Checksum crc(Poco::Checksum::TYPE_CRC32);
  crc.update(header);
  char digits[9];
  std::snprintf(digits, sizeof digits, "%08x", crc.checksum());
  std::ifstream in(dir.str() + "/journal", std::ios::binary);
  std::stringstream text;
  text << digits << " " << header << "\n" << in.rdbuf();
  const auto replay = kernel::replayJournal(text.str());
  EXPECT_EQ(replay.version, 3);
  EXPECT_TRUE(replay.damaged.empty());
  ASSERT_EQ(replay.instances.size(), 1u);
  const auto& restored = replay.instances[0];
  EXPECT_EQ(restored.id, instance.id);
  EXPECT_EQ(restored.name, instance.name);
  EXPECT_EQ(restored.agent, "ocf:heartbeat:Dummy");
  EXPECT_EQ(restored.params, instance.params);
  EXPECT_TRUE(restored.drop_recurring);
  ASSERT_EQ(restored.last.size(), 1u);
  EXPECT_SAME(result, restored.last[0]);
  ASSERT_EQ(restored.recurring.size(), 1u);
  EXPECT_SAME(op, restored.recurring[0]);
}

// The handover carries every field of an op, its record's and the engine's.
TEST(Records, EveryFieldComesBackFromTheHandover) {
  test::TempDir dir;
  kernel::CarriedOp carried;
  int seed = 0;
  fill(carried.op, seed);
  forEachField([&](const auto& field, auto& value) { fillValue(value, field.name, seed); }, carried);
  carried.state = kernel::OpState::Running;
  kernel::Handover handover;
  handover.ops.ops.push_back(carried);
  const std::string path = dir.str() + "/handover.json";
  kernel::writeHandover(path, handover);
  const auto read = kernel::readHandover(path);
  ASSERT_EQ(read.ops.ops.size(), 1u);
  const auto& back = read.ops.ops[0];
  EXPECT_SAME(carried.op, back.op);
  EXPECT_TRUE(sameFields(carried, back));
  EXPECT_EQ(back.state, kernel::OpState::Running);
}

}  // namespace
}  // namespace lrm::protocol
