// Unit tests of the op state machine (kernel/src/op_transitions.hpp) and of
// the engine that performs it (kernel/src/engine.cpp). The pure table first:
// its guards exclude each other, no row is shadowed, the impossible pairs
// find no row, and docs/architecture.md §5.1 prints it. Then every row is
// walked through the engine's public API, in process, on a real EventLoop,
// with a fake resource class (the test decides when each run ends) and a
// notifier and a journal that record what they are told.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <ostream>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "engine.hpp"
#include "log.hpp"
#include "op_transitions.hpp"

namespace lrm::kernel {

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr std::uint64_t kHourMs = 3600 * 1000;
constexpr Millis kPatience{30000};  // a bound for a loaded machine, never a wait

// ---- the table's vocabulary, as docs/architecture.md prints it ----

const char* toString(OpGuard guard) {
  switch (guard) {
    case OpGuard::Always: return "—";
    case OpGuard::StartDelay: return "StartDelay";
    case OpGuard::NoStartDelay: return "NoStartDelay";
    case OpGuard::SlotFree: return "SlotFree";
    case OpGuard::NoSlotFree: return "NoSlotFree";
    case OpGuard::OneShot: return "OneShot";
    case OpGuard::Recurring: return "Recurring";
    case OpGuard::Cancelling: return "Cancelling";
    case OpGuard::Rerun: return "Rerun";
    case OpGuard::Repeat: return "Repeat";
    case OpGuard::LastRun: return "LastRun";
  }
  return "?";
}

const char* toString(OpAction action) {
  switch (action) {
    case OpAction::None: return "None";
    case OpAction::JoinQueue: return "JoinQueue";
    case OpAction::LeaveQueue: return "LeaveQueue";
    case OpAction::JoinIdle: return "JoinIdle";
    case OpAction::LeaveIdle: return "LeaveIdle";
    case OpAction::ArmTimer: return "ArmTimer";
    case OpAction::StopTimer: return "StopTimer";
    case OpAction::MarkReady: return "MarkReady";
    case OpAction::TakeRequest: return "TakeRequest";
    case OpAction::JournalAdded: return "JournalAdded";
    case OpAction::JournalRemoved: return "JournalRemoved";
    case OpAction::DeferPump: return "DeferPump";
    case OpAction::Pump: return "Pump";
    case OpAction::WaitForSlot: return "WaitForSlot";
    case OpAction::Launch: return "Launch";
    case OpAction::Reattach: return "Reattach";
    case OpAction::DeferComplete: return "DeferComplete";
    case OpAction::EndRun: return "EndRun";
    case OpAction::ReportResult: return "ReportResult";
    case OpAction::ReportCancelled: return "ReportCancelled";
    case OpAction::Kill: return "Kill";
    case OpAction::RefuseInProgress: return "RefuseInProgress";
    case OpAction::RefuseCancelling: return "RefuseCancelling";
    case OpAction::SetRerun: return "SetRerun";
    case OpAction::ClearRerun: return "ClearRerun";
    case OpAction::FreeSlot: return "FreeSlot";
  }
  return "?";
}

}  // namespace

// gtest names a row in a failure by its state, event and guard.
void PrintTo(const OpTransition& row, std::ostream* out) {
  *out << toString(row.from) << " × " << toString(row.event) << " [" << toString(row.guard) << "]";
}

namespace {

const OpState kStates[] = {OpState::Invalid, OpState::Delayed, OpState::Queued,
                           OpState::Running, OpState::Idle,    OpState::Finished};
const OpEvent kEvents[] = {OpEvent::Invalid,      OpEvent::Submit,       OpEvent::TakeOverDelayed,
                           OpEvent::TakeOverQueued, OpEvent::TakeOverIdle, OpEvent::TakeOverRunning,
                           OpEvent::TimerElapsed, OpEvent::Pump,         OpEvent::AgentDone,
                           OpEvent::Complete,     OpEvent::Cancel,       OpEvent::Merge};

// All 64 combinations of the facts.
std::vector<OpFacts> everyFacts() {
  std::vector<OpFacts> all;
  for (unsigned bits = 0; bits < 64; ++bits) {
    OpFacts f;
    f.start_delay = bits & 1;
    f.slot_free = bits & 2;
    f.recurring = bits & 4;
    f.cancelling = bits & 8;
    f.rerun = bits & 16;
    f.reschedule = bits & 32;
    all.push_back(f);
  }
  return all;
}

std::string rowName(const OpTransition& row) {
  std::ostringstream out;
  PrintTo(row, &out);
  return out.str();
}

// ---- the pure table ----

TEST(OpTransitions, OneRowAtMostForEveryStateEventAndFacts) {
  for (OpState state : kStates) {
    for (OpEvent event : kEvents) {
      for (const OpFacts& facts : everyFacts()) {
        int matches = 0;
        for (const OpTransition& row : kOpTransitions) {
          matches += row.from == state && row.event == event && holds(row.guard, facts) ? 1 : 0;
        }
        EXPECT_LE(matches, 1) << toString(state) << " × " << toString(event);
      }
    }
  }
}

TEST(OpTransitions, EveryRowIsFoundForSomeFacts) {
  for (const OpTransition& row : kOpTransitions) {
    bool found = false;
    for (const OpFacts& facts : everyFacts()) found |= findTransition(row.from, row.event, facts) == &row;
    EXPECT_TRUE(found) << rowName(row) << " is shadowed or its guard never holds";
  }
}

TEST(OpTransitions, ImpossiblePairsFindNoRow) {
  // Whatever the facts: an event the engine never sends in that state.
  const std::pair<OpState, OpEvent> never[] = {
      {OpState::Invalid, OpEvent::Pump},         {OpState::Invalid, OpEvent::Cancel},
      {OpState::Invalid, OpEvent::Complete},     {OpState::Delayed, OpEvent::Submit},
      {OpState::Delayed, OpEvent::AgentDone},    {OpState::Delayed, OpEvent::Complete},
      {OpState::Queued, OpEvent::TimerElapsed},  {OpState::Running, OpEvent::TimerElapsed},
      {OpState::Running, OpEvent::Pump},         {OpState::Running, OpEvent::TakeOverRunning},
      {OpState::Idle, OpEvent::Pump},            {OpState::Finished, OpEvent::Cancel},
      {OpState::Finished, OpEvent::Merge},       {OpState::Finished, OpEvent::TimerElapsed},
      {OpState::Finished, OpEvent::Pump},        {OpState::Queued, OpEvent::Invalid},
  };
  for (const auto& [state, event] : never) {
    for (const OpFacts& facts : everyFacts()) {
      EXPECT_EQ(findTransition(state, event, facts), nullptr) << toString(state) << " × " << toString(event);
    }
  }
  // Facts the engine never has together in that state.
  OpFacts cancelling_one_shot;
  cancelling_one_shot.cancelling = true;
  EXPECT_EQ(findTransition(OpState::Running, OpEvent::Complete, cancelling_one_shot), nullptr);
  OpFacts cancelling;
  cancelling.recurring = true;
  cancelling.cancelling = true;
  EXPECT_EQ(findTransition(OpState::Running, OpEvent::Merge, cancelling), nullptr);  // exec skips it
}

TEST(OpTransitions, DocsArchitecturePrintsTheTable) {
  std::ostringstream expected;
  expected << "| # | state | event | guard | next | actions |\n|---|---|---|---|---|---|\n";
  int number = 0;
  for (const OpTransition& row : kOpTransitions) {
    std::string actions;
    for (OpAction action : row.actions) {
      if (action != OpAction::None) actions += (actions.empty() ? "" : ", ") + std::string(toString(action));
    }
    expected << "| " << ++number << " | " << toString(row.from) << " | " << toString(row.event) << " | "
             << toString(row.guard) << " | " << toString(row.to) << " | " << (actions.empty() ? "—" : actions)
             << " |\n";
  }
  std::ifstream doc(LRM_TEST_FIXTURES_DIR "/../../docs/architecture.md");
  ASSERT_TRUE(doc) << "docs/architecture.md not found";
  std::string line;
  std::string printed;
  bool in_table = false;
  while (std::getline(doc, line)) {
    if (line.rfind("| # | state | event | guard |", 0) == 0) in_table = true;
    if (in_table && line.rfind("|", 0) != 0) break;
    if (in_table) printed += line + "\n";
  }
  EXPECT_EQ(printed, expected.str()) << "docs/architecture.md §5.1 should read:\n" << expected.str();
}

// ---- the engine, with fakes ----

// A resource class whose runs end when the test says so.
class FakeClass : public sdk::ResourceClass {
 public:
  std::string name() const noexcept override { return "fake"; }
  bool init(sdk::Host&, std::string&) noexcept override { return true; }
  bool requiresProvider() const noexcept override { return false; }
  std::vector<std::string> providers(const std::string&) noexcept override { return {}; }
  std::vector<std::string> types(const std::string&) noexcept override { return {"Thing"}; }
  void metadata(const sdk::AgentSpec&, sdk::MetadataCallback done) noexcept override { done(sdk::Result(), ""); }
  void execute(const sdk::Operation& op, sdk::CompletionCallback done) noexcept override {
    executed.push_back(op.call_id);
    runs[op.call_id] = std::move(done);
  }
  bool cancel(sdk::CallId call_id) noexcept override {
    cancelled.push_back(call_id);
    return runs.count(call_id) > 0;
  }
  bool resume(const sdk::Operation& op, sdk::CompletionCallback done) noexcept override {
    if (!resumes) return false;
    resumed.push_back(op.call_id);
    resumed_timeout_ms.push_back(op.timeout_ms);
    runs[op.call_id] = std::move(done);
    return true;
  }
  void released(const std::string& instance_id, const sdk::AgentSpec& agent) noexcept override {
    releases.push_back(instance_id + " " + agent.toString());
  }

  /** The run started as @p call_id ends with @p rc: its completion callback is called. */
  void finish(sdk::CallId call_id, int rc = sdk::rc::kOk) {
    const auto it = runs.find(call_id);
    ASSERT_NE(it, runs.end()) << "no run of call " << call_id;
    const sdk::CompletionCallback done = std::move(it->second);
    runs.erase(it);
    sdk::Result result;
    result.status = sdk::ExecStatus::Done;
    result.rc = rc;
    done(result);
  }

  bool resumes = true;
  std::vector<sdk::CallId> executed;
  std::vector<sdk::CallId> cancelled;
  std::vector<sdk::CallId> resumed;
  std::vector<std::uint32_t> resumed_timeout_ms;  // the timeout each resume() was given
  std::vector<std::string> releases;  // "instance agent", one per released()
  std::map<sdk::CallId, sdk::CompletionCallback> runs;
};

class RecordingNotifier : public Notifier {
 public:
  void publishExec(const ExecEvent& event, ClientId, bool) override {
    events.push_back(event);
    if (on_exec) on_exec(event);
  }
  void publishInstance(const std::string&, const InstanceView&) override {}

  std::vector<ExecEvent> events;
  std::function<void(const ExecEvent&)> on_exec;
};

class RecordingJournal : public Journal {
 public:
  void registered(const InstanceView&, bool) override {}
  void unregistered(const std::string&) override {}
  void started(const std::string&, const std::string&, std::uint64_t, sdk::CallId call_id, std::int64_t) override {
    lines.push_back("started " + std::to_string(call_id));
  }
  void reported(const ExecEvent&) override {}
  void recurringAdded(const std::string&, const OpView& op) override {
    lines.push_back("added " + std::to_string(op.call_id));
  }
  void recurringRemoved(const std::string&, const std::string& action, std::uint64_t) override {
    lines.push_back("removed " + action);
  }

  std::vector<std::string> lines;
};

class EngineTest : public ::testing::Test {
 public:
  ~EngineTest() override { cls->runs.clear(); }  // they hold the engine's instances, which hold cls

  void start(std::size_t max_children = 0) {
    engine = std::make_unique<Engine>(loop, notifier, max_children);
    engine->addClass(cls);
    engine->setJournal(&journal);
    add("r1");
  }
  void add(const std::string& id, const std::string& agent = "fake:Thing") {
    RegisterParams request;
    request.id = id;
    request.agent = agent;
    engine->registerInstance(request);
  }
  sdk::CallId exec(const std::string& action, std::uint64_t interval_ms = 0, std::uint64_t delay_ms = 0,
                   const std::string& id = "r1") {
    ExecParams request;
    request.id = id;
    request.action = action;
    request.interval_ms = interval_ms;
    request.start_delay_ms = delay_ms;
    return engine->exec(request);
  }
  void cancel(const std::string& action, std::uint64_t interval_ms) { engine->cancel("r1", action, interval_ms); }

  // The state of the op answering to @p call_id, as the engine would hand it
  // over; one it holds no more is Finished.
  OpState stateOf(sdk::CallId call_id) const {
    for (const CarriedOp& op : engine->handOver().ops) {
      if (op.op.call_id == call_id) return op.state;
    }
    return OpState::Finished;
  }
  std::vector<ExecEvent> reportsOf(sdk::CallId call_id) const {
    std::vector<ExecEvent> found;
    for (const ExecEvent& event : notifier.events) {
      if (event.call_id == call_id) found.push_back(event);
    }
    return found;
  }
  bool journaled(const std::string& line) const {
    return std::find(journal.lines.begin(), journal.lines.end(), line) != journal.lines.end();
  }

  // Runs what is due now, and what that defers, a few loop passes deep.
  void settle() {
    for (int pass = 0; pass < 4; ++pass) {
      loop.defer([this] { loop.stop(); });
      loop.run();
    }
  }
  // Runs the loop until @p done holds (or kPatience passed, which fails).
  bool runUntil(const std::function<bool()>& done) {
    const auto deadline = Clock::now() + kPatience;
    std::function<void()> check = [&] {
      if (done() || Clock::now() >= deadline) return loop.stop();
      loop.addTimer(Millis(1), check);
    };
    loop.defer(check);
    loop.run();
    return done();
  }

  // A recurring monitor (every @p interval_ms) whose run is in flight.
  sdk::CallId runningRecurring(std::uint64_t interval_ms = kHourMs) {
    const sdk::CallId call = exec("monitor", interval_ms);
    settle();
    EXPECT_EQ(stateOf(call), OpState::Running);
    return call;
  }
  // A recurring monitor between two runs.
  sdk::CallId idleRecurring() {
    const sdk::CallId call = runningRecurring();
    cls->finish(call);
    settle();
    EXPECT_EQ(stateOf(call), OpState::Idle);
    return call;
  }
  // A one-shot start whose run is in flight.
  sdk::CallId runningOneShot() {
    const sdk::CallId call = exec("start");
    settle();
    EXPECT_EQ(stateOf(call), OpState::Running);
    return call;
  }
  // Takes over one recurring monitor handed over in @p state.
  sdk::CallId takeOver(OpState state, std::uint64_t waited_ms = 0) {
    CarriedOps carried;
    CarriedOp op;
    op.instance_id = "r1";
    op.op.action = "monitor";
    op.op.interval_ms = kHourMs;
    op.op.call_id = 100;
    op.op.timeout_ms = 20000;
    op.state = state;
    op.remaining_ms = kHourMs;
    op.waited_ms = waited_ms;
    carried.ops.push_back(op);
    carried.next_call_id = 101;
    engine->takeOver(carried);
    return 100;
  }
  void abandon() { engine->abandonInFlight("abandoned by the test"); }

  EventLoop loop;
  RecordingNotifier notifier;
  RecordingJournal journal;
  std::shared_ptr<FakeClass> cls = std::make_shared<FakeClass>();
  std::unique_ptr<Engine> engine;
};

// ---- every row, walked through the engine ----

class EveryRow : public EngineTest, public ::testing::WithParamInterface<OpTransition> {};
using Walk = std::function<void(EngineTest&)>;
using RowKey = std::tuple<OpState, OpEvent, OpGuard>;

// How each row is reached, fired and observed. A row added to the table
// without a walk here fails EveryRow for it.
struct Walks {
  static void submitNoDelay(EngineTest& t) {
    const sdk::CallId call = t.exec("monitor", kHourMs);
    EXPECT_EQ(t.stateOf(call), OpState::Queued);
    EXPECT_TRUE(t.journaled("added " + std::to_string(call)));
    EXPECT_THAT(t.cls->executed, IsEmpty());  // DeferPump
    t.settle();
    EXPECT_EQ(t.stateOf(call), OpState::Running);
  }
  static void submitDelayed(EngineTest& t) {
    const sdk::CallId call = t.exec("monitor", kHourMs, kHourMs);
    EXPECT_EQ(t.stateOf(call), OpState::Delayed);
    EXPECT_TRUE(t.journaled("added " + std::to_string(call)));
    t.settle();
    EXPECT_EQ(t.stateOf(call), OpState::Delayed);
    EXPECT_THAT(t.cls->executed, IsEmpty());
  }
  static void takeOverDelayed(EngineTest& t) {
    const sdk::CallId call = t.takeOver(OpState::Delayed);
    t.settle();
    EXPECT_EQ(t.stateOf(call), OpState::Delayed);
    EXPECT_THAT(t.cls->executed, IsEmpty());
  }
  static void takeOverQueued(EngineTest& t) {
    const sdk::CallId call = t.takeOver(OpState::Queued);
    EXPECT_EQ(t.stateOf(call), OpState::Queued);
    t.settle();
    EXPECT_THAT(t.cls->executed, ElementsAre(call));
  }
  static void takeOverIdle(EngineTest& t) {
    const sdk::CallId call = t.takeOver(OpState::Idle);
    t.settle();
    EXPECT_EQ(t.stateOf(call), OpState::Idle);
    EXPECT_THAT(t.cls->executed, IsEmpty());
  }
  static void takeOverRunning(EngineTest& t) {
    const sdk::CallId call = t.takeOver(OpState::Running);
    EXPECT_EQ(t.stateOf(call), OpState::Running);
    EXPECT_THAT(t.cls->resumed, ElementsAre(call));
    EXPECT_EQ(t.engine->inFlight(), 1u);
    t.cls->finish(call, 7);
    t.settle();
    ASSERT_EQ(t.reportsOf(call).size(), 1u);
    EXPECT_EQ(t.reportsOf(call)[0].rc, 7);
  }
  static void delayElapsed(EngineTest& t) {
    t.runningOneShot();  // holds the instance: the op stays Queued
    const sdk::CallId call = t.exec("monitor", 0, 5);
    EXPECT_EQ(t.stateOf(call), OpState::Delayed);
    EXPECT_TRUE(t.runUntil([&] { return t.stateOf(call) == OpState::Queued; }));
  }
  static void intervalElapsed(EngineTest& t) {
    const sdk::CallId call = t.runningRecurring(5);
    t.engine->freeze();  // pump starts nothing: it stays Queued
    t.cls->finish(call);
    EXPECT_TRUE(t.runUntil([&] { return t.stateOf(call) == OpState::Queued; }));
    EXPECT_EQ(t.reportsOf(call).size(), 1u);
  }
  static void delayedHeadHolds(EngineTest& t) {
    const sdk::CallId delayed = t.exec("start", 0, kHourMs);
    const sdk::CallId behind = t.exec("monitor");
    t.settle();
    EXPECT_EQ(t.stateOf(delayed), OpState::Delayed);
    EXPECT_EQ(t.stateOf(behind), OpState::Queued);
    EXPECT_THAT(t.cls->executed, IsEmpty());
  }
  static void launch(EngineTest& t) {
    const sdk::CallId call = t.exec("start");
    EXPECT_EQ(t.stateOf(call), OpState::Queued);
    t.settle();
    EXPECT_EQ(t.stateOf(call), OpState::Running);
    EXPECT_THAT(t.cls->executed, ElementsAre(call));
    EXPECT_TRUE(t.journaled("started " + std::to_string(call)));
    EXPECT_EQ(t.engine->inFlight(), 1u);
  }
  static void noSlot(EngineTest& t) {
    t.engine = std::make_unique<Engine>(t.loop, t.notifier, 1);
    t.engine->addClass(t.cls);
    t.add("r1");
    t.add("r2");
    const sdk::CallId first = t.runningOneShot();
    const sdk::CallId second = t.exec("start", 0, 0, "r2");
    t.settle();
    EXPECT_EQ(t.stateOf(second), OpState::Queued);
    t.cls->finish(first);
    t.settle();
    EXPECT_EQ(t.stateOf(second), OpState::Running);  // FreeSlot pumped the waiting instance
  }
  static void agentDone(EngineTest& t) {
    const sdk::CallId call = t.runningOneShot();
    t.cls->finish(call);
    EXPECT_EQ(t.stateOf(call), OpState::Running);  // DeferComplete
    EXPECT_THAT(t.reportsOf(call), IsEmpty());
    t.settle();
    EXPECT_EQ(t.reportsOf(call).size(), 1u);
  }
  // A recurring op abandoned, frozen, with a duplicate merged while it ran: Queued.
  static std::pair<sdk::CallId, sdk::CallId> abandonedRerun(EngineTest& t) {
    const sdk::CallId call = t.runningRecurring();
    const sdk::CallId merged = t.exec("monitor", kHourMs);
    t.engine->freeze();
    return {call, merged};
  }
  static void lateAgentDoneQueued(EngineTest& t) {
    const auto [call, merged] = abandonedRerun(t);
    t.abandon();
    EXPECT_EQ(t.stateOf(merged), OpState::Queued);
    t.cls->finish(call);
    t.settle();
    EXPECT_EQ(t.stateOf(merged), OpState::Queued);
    EXPECT_EQ(t.reportsOf(merged).size(), 1u);  // the abandon's only
  }
  static void lateAgentDoneIdle(EngineTest& t) {
    const sdk::CallId call = t.runningRecurring();
    t.engine->freeze();  // an upgrade: not draining, so it is rescheduled
    t.abandon();
    EXPECT_EQ(t.stateOf(call), OpState::Idle);
    t.cls->finish(call);
    t.settle();
    EXPECT_EQ(t.stateOf(call), OpState::Idle);
    EXPECT_EQ(t.reportsOf(call).size(), 1u);
  }
  static void lateAgentDoneFinished(EngineTest& t) {
    const sdk::CallId call = t.runningOneShot();
    t.abandon();
    t.cls->finish(call);
    t.settle();
    ASSERT_EQ(t.reportsOf(call).size(), 1u);
    EXPECT_EQ(t.reportsOf(call)[0].status, sdk::ExecStatus::Error);
  }
  static void lastRun(EngineTest& t) {
    const sdk::CallId call = t.runningOneShot();
    t.cls->finish(call, 3);
    t.settle();
    EXPECT_EQ(t.stateOf(call), OpState::Finished);
    ASSERT_EQ(t.reportsOf(call).size(), 1u);
    EXPECT_EQ(t.reportsOf(call)[0].rc, 3);
    EXPECT_EQ(t.engine->inFlight(), 0u);
    // A recurring op whose run ends while the engine drains is not rescheduled.
    const sdk::CallId recurring = t.runningRecurring();
    t.engine->drain();
    t.cls->finish(recurring);
    t.settle();
    EXPECT_EQ(t.stateOf(recurring), OpState::Finished);
  }
  static void repeat(EngineTest& t) {
    const sdk::CallId call = t.idleRecurring();
    EXPECT_EQ(t.reportsOf(call).size(), 1u);
    EXPECT_EQ(t.engine->inFlight(), 0u);
  }
  static void rerun(EngineTest& t) {
    const auto [call, merged] = abandonedRerun(t);
    t.cls->finish(call);
    t.settle();
    EXPECT_EQ(t.stateOf(merged), OpState::Queued);
    ASSERT_EQ(t.reportsOf(merged).size(), 1u);  // the run, reported under the new call
    EXPECT_EQ(t.reportsOf(merged)[0].status, sdk::ExecStatus::Done);
  }
  static void completeCancelling(EngineTest& t) {
    const sdk::CallId call = t.runningRecurring();
    t.cancel("monitor", kHourMs);  // Kill
    t.cls->finish(call, 5);
    t.settle();
    EXPECT_EQ(t.stateOf(call), OpState::Finished);
    ASSERT_EQ(t.reportsOf(call).size(), 1u);
    EXPECT_EQ(t.reportsOf(call)[0].status, sdk::ExecStatus::Cancelled);
    EXPECT_EQ(t.reportsOf(call)[0].rc, 0);  // its last_rc: no run of it ended done
    EXPECT_TRUE(t.journaled("removed monitor"));
  }
  static void lateCompleteQueued(EngineTest& t) {
    const auto [call, merged] = abandonedRerun(t);
    t.cls->finish(call);  // AgentDone: its completion is deferred
    t.abandon();          // and the run ends before it
    EXPECT_EQ(t.stateOf(merged), OpState::Queued);
    t.settle();
    EXPECT_EQ(t.stateOf(merged), OpState::Queued);
    EXPECT_EQ(t.reportsOf(merged).size(), 1u);
  }
  static void lateCompleteIdle(EngineTest& t) {
    const sdk::CallId call = t.runningRecurring();
    t.engine->freeze();
    t.cls->finish(call);
    t.abandon();
    EXPECT_EQ(t.stateOf(call), OpState::Idle);
    t.settle();
    EXPECT_EQ(t.stateOf(call), OpState::Idle);
    EXPECT_EQ(t.reportsOf(call).size(), 1u);
  }
  static void lateCompleteFinished(EngineTest& t) {
    const sdk::CallId call = t.runningOneShot();
    t.cls->finish(call);
    t.abandon();
    t.settle();
    ASSERT_EQ(t.reportsOf(call).size(), 1u);
    EXPECT_EQ(t.reportsOf(call)[0].status, sdk::ExecStatus::Error);
  }
  static void expectCancelledAtOnce(EngineTest& t, sdk::CallId call) {
    EXPECT_EQ(t.stateOf(call), OpState::Finished);
    ASSERT_EQ(t.reportsOf(call).size(), 1u);
    EXPECT_EQ(t.reportsOf(call)[0].status, sdk::ExecStatus::Cancelled);
    EXPECT_TRUE(t.journaled("removed monitor"));
  }
  static void cancelDelayed(EngineTest& t) {
    const sdk::CallId call = t.exec("monitor", kHourMs, kHourMs);
    t.cancel("monitor", kHourMs);
    expectCancelledAtOnce(t, call);
  }
  static void cancelQueued(EngineTest& t) {
    const sdk::CallId call = t.exec("monitor", kHourMs);
    t.cancel("monitor", kHourMs);
    expectCancelledAtOnce(t, call);
    t.settle();
    EXPECT_THAT(t.cls->executed, IsEmpty());
  }
  static void cancelIdle(EngineTest& t) {
    const sdk::CallId call = t.idleRecurring();
    t.notifier.events.clear();
    t.cancel("monitor", kHourMs);
    expectCancelledAtOnce(t, call);
  }
  static void refuseInProgress(EngineTest& t) {
    const sdk::CallId call = t.runningOneShot();
    try {
      t.cancel("start", 0);
      ADD_FAILURE() << "cancelled a running one-shot op";
    } catch (const RequestError& e) {
      EXPECT_EQ(e.code(), "in-progress");
    }
    EXPECT_EQ(t.engine->flush("r1"), 0u);
    EXPECT_EQ(t.stateOf(call), OpState::Running);
    EXPECT_THAT(t.cls->cancelled, IsEmpty());
  }
  static void kill(EngineTest& t) {
    const sdk::CallId call = t.runningRecurring();
    t.cancel("monitor", kHourMs);
    EXPECT_EQ(t.stateOf(call), OpState::Running);
    EXPECT_THAT(t.cls->cancelled, ElementsAre(call));
  }
  static void refuseCancelling(EngineTest& t) {
    const sdk::CallId call = t.runningRecurring();
    t.cancel("monitor", kHourMs);
    try {
      t.cancel("monitor", kHourMs);
      ADD_FAILURE() << "cancelled twice";
    } catch (const RequestError& e) {
      EXPECT_EQ(e.code(), "not-found");
    }
    EXPECT_EQ(t.stateOf(call), OpState::Running);
    EXPECT_THAT(t.cls->cancelled, ElementsAre(call));
  }
  static void mergeDelayed(EngineTest& t) {
    t.exec("monitor", kHourMs, kHourMs);
    const sdk::CallId merged = t.exec("monitor", kHourMs);
    EXPECT_EQ(t.stateOf(merged), OpState::Delayed);
    EXPECT_TRUE(t.journaled("added " + std::to_string(merged)));
  }
  static void mergeQueued(EngineTest& t) {
    t.exec("monitor", kHourMs);
    const sdk::CallId merged = t.exec("monitor", kHourMs);
    EXPECT_EQ(t.stateOf(merged), OpState::Queued);
    EXPECT_TRUE(t.journaled("added " + std::to_string(merged)));
    EXPECT_EQ(t.engine->handOver().ops.size(), 1u);
  }
  static void mergeIdle(EngineTest& t) {
    t.idleRecurring();
    t.engine->freeze();  // pump starts nothing: it stays Queued
    const sdk::CallId merged = t.exec("monitor", kHourMs);
    EXPECT_EQ(t.stateOf(merged), OpState::Queued);
  }
  static void mergeRunning(EngineTest& t) {
    const sdk::CallId call = t.runningRecurring();
    const sdk::CallId merged = t.exec("monitor", kHourMs);
    EXPECT_EQ(t.stateOf(merged), OpState::Running);
    t.cls->finish(call);
    t.settle();
    EXPECT_EQ(t.reportsOf(merged).size(), 1u);
    EXPECT_THAT(t.cls->executed, ElementsAre(call, merged));  // run again at once
  }
};

const std::map<RowKey, Walk>& walks() {
  using S = OpState;
  using E = OpEvent;
  using G = OpGuard;
  static const std::map<RowKey, Walk> all = {
      {{S::Invalid, E::Submit, G::NoStartDelay}, Walks::submitNoDelay},
      {{S::Invalid, E::Submit, G::StartDelay}, Walks::submitDelayed},
      {{S::Invalid, E::TakeOverDelayed, G::Always}, Walks::takeOverDelayed},
      {{S::Invalid, E::TakeOverQueued, G::Always}, Walks::takeOverQueued},
      {{S::Invalid, E::TakeOverIdle, G::Always}, Walks::takeOverIdle},
      {{S::Invalid, E::TakeOverRunning, G::Always}, Walks::takeOverRunning},
      {{S::Delayed, E::TimerElapsed, G::Always}, Walks::delayElapsed},
      {{S::Idle, E::TimerElapsed, G::Always}, Walks::intervalElapsed},
      {{S::Delayed, E::Pump, G::Always}, Walks::delayedHeadHolds},
      {{S::Queued, E::Pump, G::SlotFree}, Walks::launch},
      {{S::Queued, E::Pump, G::NoSlotFree}, Walks::noSlot},
      {{S::Running, E::AgentDone, G::Always}, Walks::agentDone},
      {{S::Queued, E::AgentDone, G::Always}, Walks::lateAgentDoneQueued},
      {{S::Idle, E::AgentDone, G::Always}, Walks::lateAgentDoneIdle},
      {{S::Finished, E::AgentDone, G::Always}, Walks::lateAgentDoneFinished},
      {{S::Running, E::Complete, G::LastRun}, Walks::lastRun},
      {{S::Running, E::Complete, G::Repeat}, Walks::repeat},
      {{S::Running, E::Complete, G::Rerun}, Walks::rerun},
      {{S::Running, E::Complete, G::Cancelling}, Walks::completeCancelling},
      {{S::Queued, E::Complete, G::Always}, Walks::lateCompleteQueued},
      {{S::Idle, E::Complete, G::Always}, Walks::lateCompleteIdle},
      {{S::Finished, E::Complete, G::Always}, Walks::lateCompleteFinished},
      {{S::Delayed, E::Cancel, G::Always}, Walks::cancelDelayed},
      {{S::Queued, E::Cancel, G::Always}, Walks::cancelQueued},
      {{S::Idle, E::Cancel, G::Always}, Walks::cancelIdle},
      {{S::Running, E::Cancel, G::OneShot}, Walks::refuseInProgress},
      {{S::Running, E::Cancel, G::Recurring}, Walks::kill},
      {{S::Running, E::Cancel, G::Cancelling}, Walks::refuseCancelling},
      {{S::Delayed, E::Merge, G::Always}, Walks::mergeDelayed},
      {{S::Queued, E::Merge, G::Always}, Walks::mergeQueued},
      {{S::Idle, E::Merge, G::Always}, Walks::mergeIdle},
      {{S::Running, E::Merge, G::Recurring}, Walks::mergeRunning},
  };
  return all;
}

TEST_P(EveryRow, IsWalkedThroughTheEngine) {
  const OpTransition& row = GetParam();
  const auto walk = walks().find({row.from, row.event, row.guard});
  ASSERT_NE(walk, walks().end()) << "no walk for " << rowName(row);
  start();
  walk->second(*this);
}

std::string testName(const ::testing::TestParamInfo<OpTransition>& info) {
  const OpTransition& row = info.param;
  std::string name = std::string(toString(row.from)) + "_" + toString(row.event);
  if (row.guard != OpGuard::Always) name += std::string("_") + toString(row.guard);
  return name;
}

INSTANTIATE_TEST_SUITE_P(Table, EveryRow, ::testing::ValuesIn(kOpTransitions), testName);

TEST_F(EngineTest, AClassThatCannotResumeHasTheRunReportedUnknown) {
  start();
  cls->resumes = false;
  const sdk::CallId call = takeOver(OpState::Running);
  settle();
  ASSERT_EQ(reportsOf(call).size(), 1u);
  EXPECT_EQ(reportsOf(call)[0].status, sdk::ExecStatus::Error);
  EXPECT_EQ(stateOf(call), OpState::Idle);  // recurring: rescheduled
}

TEST_F(EngineTest, AResumedRunIsGivenWhatIsLeftOfItsTimeout) {
  start();
  // Carried over after 15 s of its 20 s: at most 5 s are left.
  takeOver(OpState::Running, 15000);
  ASSERT_EQ(cls->resumed_timeout_ms.size(), 1u);
  EXPECT_GT(cls->resumed_timeout_ms[0], 0u);
  EXPECT_LE(cls->resumed_timeout_ms[0], 5000u);
}

TEST_F(EngineTest, AResumedRunThatOverranItsTimeoutIsGivenOneMillisecondNotNone) {
  start();
  takeOver(OpState::Running, 25000);
  ASSERT_EQ(cls->resumed_timeout_ms.size(), 1u);
  EXPECT_EQ(cls->resumed_timeout_ms[0], 1u);  // 0 would mean no timeout at all
}

TEST_F(EngineTest, OnOpEndedIsCalledEachTimeARunEnds) {
  start();
  int ended = 0;
  engine->setOnOpEnded([&] { ++ended; });
  const sdk::CallId first = runningOneShot();
  cls->finish(first);
  settle();
  EXPECT_EQ(ended, 1);
  runningOneShot();
  abandon();
  EXPECT_EQ(ended, 2);
}

TEST_F(EngineTest, UnregisteringAnIdleInstanceReleasesItOnce) {
  start();
  ASSERT_TRUE(engine->unregisterInstance("r1"));
  EXPECT_THAT(cls->releases, ElementsAre("r1 fake:Thing"));
  EXPECT_FALSE(engine->unregisterInstance("r1"));
  settle();
  EXPECT_THAT(cls->releases, ElementsAre("r1 fake:Thing"));
}

TEST_F(EngineTest, UnregisteringDuringARunReleasesAfterItsReport) {
  start();
  const sdk::CallId call = runningOneShot();
  ASSERT_TRUE(engine->unregisterInstance("r1"));
  EXPECT_THAT(cls->releases, IsEmpty()) << "its op still runs";
  std::size_t released_at_report = 1;
  notifier.on_exec = [&](const ExecEvent&) { released_at_report = cls->releases.size(); };
  cls->finish(call);
  settle();
  ASSERT_EQ(reportsOf(call).size(), 1u);
  EXPECT_TRUE(reportsOf(call)[0].deleted);
  EXPECT_EQ(released_at_report, 0u);
  EXPECT_THAT(cls->releases, ElementsAre("r1 fake:Thing"));
}

TEST_F(EngineTest, ReRegisteringWithTheSameAgentReleasesNothing) {
  start();
  add("r1");
  RegisterParams renamed;
  renamed.id = "r1";
  renamed.name = "another name";
  renamed.agent = "fake:Thing";
  engine->registerInstance(renamed);
  const sdk::CallId call = runningOneShot();
  ASSERT_TRUE(engine->unregisterInstance("r1"));
  add("r1");  // back before the run ended: the agent is not gone
  cls->finish(call);
  settle();
  EXPECT_THAT(cls->releases, IsEmpty());
}

TEST_F(EngineTest, ReRegisteringWithAnotherAgentReleasesTheOldOne) {
  start();
  add("r1", "fake:Other");
  EXPECT_THAT(cls->releases, ElementsAre("r1 fake:Thing"));
  const sdk::CallId call = runningOneShot();
  add("r1", "fake:Third");
  EXPECT_THAT(cls->releases, ElementsAre("r1 fake:Thing")) << "fake:Other's start still runs";
  cls->finish(call);
  settle();
  EXPECT_THAT(cls->releases, ElementsAre("r1 fake:Thing", "r1 fake:Other"));
}

TEST_F(EngineTest, AClassBuiltBeforeAbi14IsNeverReleased) {
  engine = std::make_unique<Engine>(loop, notifier, 0);
  engine->addClass(cls, 3);
  add("r1");
  add("r1", "fake:Other");
  const sdk::CallId call = runningOneShot();
  ASSERT_TRUE(engine->unregisterInstance("r1"));
  cls->finish(call);
  settle();
  add("r2");
  ASSERT_TRUE(engine->unregisterInstance("r2"));
  EXPECT_THAT(cls->releases, IsEmpty());
}

// The Notifier must not call back into the engine. One that does can make
// flush cancel an op twice: Cancel in state Finished, an impossible pair.
// Debug builds abort on it; a production build logs it and leaves the op.
TEST_F(EngineTest, AnImpossiblePairIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  start();
  exec("start", 0, kHourMs);
  exec("monitor", 0, kHourMs);
  bool reentered = false;
  notifier.on_exec = [this, &reentered](const ExecEvent&) {
    if (reentered) return;
    reentered = true;
    engine->flush("r1");
  };
  EXPECT_DEBUG_DEATH(
      {
        setupLogging("stderr", sdk::LogLevel::Error);
        engine->flush("r1");
      },
      "impossible transition: Cancel in state Finished; the operation is left as it was");
}

}  // namespace
}  // namespace lrm::kernel
