// Singletons: the named leases of work one node does on a shared database (the XMPP bot's
// commands, the Graph subscription, the SIP registration), told to their owners as they change.
#include "atdesk/engine/singletons.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "atdesk/testing/memory_store.hpp"

namespace atdesk::engine {
namespace {

using namespace std::chrono_literals;
using testing::MemoryJobStore;

struct Told {
  std::vector<bool> calls;
  RoleHandler handler() {
    return [this](bool holds) { calls.push_back(holds); };
  }
};

TEST(Singletons, AFreeLeaseIsHeldAtOnceAndToldBeforeAddReturns) {
  MemoryJobStore jobs;
  Singletons singletons(jobs, 30s, 5s);
  Told told;
  singletons.add("chat:xmpp", told.handler());
  EXPECT_EQ(told.calls, std::vector<bool>{true});
  EXPECT_EQ(singletons.held(), std::vector<std::string>{"chat:xmpp"});
  singletons.tick();
  singletons.tick();
  EXPECT_EQ(told.calls, std::vector<bool>{true}) << "a renewal is not a change";
  EXPECT_EQ(jobs.lease_asks, 3);
}

TEST(Singletons, AStandbyIsToldSoAtOnceAndTakesOverWhenTheLeaseIsFree) {
  MemoryJobStore jobs;
  jobs.lease_held_elsewhere = true;
  Singletons singletons(jobs, 30s, 5s);
  Told told;
  singletons.add("sip-registration", told.handler());
  EXPECT_EQ(told.calls, std::vector<bool>{false});
  singletons.tick();
  EXPECT_EQ(told.calls, std::vector<bool>{false});
  jobs.lease_held_elsewhere = false;  // the holder died and its lease expired
  singletons.tick();
  EXPECT_EQ(told.calls, (std::vector<bool>{false, true}));
  EXPECT_EQ(singletons.held(), std::vector<std::string>{"sip-registration"});
}

TEST(Singletons, AHolderWhoseLeaseWasTakenOverStepsDown) {
  MemoryJobStore jobs;
  Singletons singletons(jobs, 30s, 5s);
  Told told;
  singletons.add("chat:teams", told.handler());
  jobs.lease_held_elsewhere = true;  // this node paused past its lease; another took it
  singletons.tick();
  EXPECT_EQ(told.calls, (std::vector<bool>{true, false}));
  EXPECT_TRUE(singletons.held().empty());
}

TEST(Singletons, AnUnreachableDatabaseKeepsTheRoleWhileTheLeaseLasts) {
  MemoryJobStore jobs;
  Singletons singletons(jobs, 1h, 1s);
  Told told;
  singletons.add("chat:xmpp", told.handler());
  jobs.lease_unreachable = true;
  singletons.tick();
  EXPECT_EQ(told.calls, std::vector<bool>{true}) << "the lease has an hour left";
  EXPECT_EQ(singletons.held(), std::vector<std::string>{"chat:xmpp"});
}

TEST(Singletons, AnUnreachableDatabaseEndsTheRoleBeforeAnotherNodeCanTakeIt) {
  MemoryJobStore jobs;
  // lease - margin = 0: the first renewal that fails is already too late to keep the role.
  Singletons singletons(jobs, 5s, 5s);
  Told told;
  singletons.add("chat:xmpp", told.handler());
  jobs.lease_unreachable = true;
  singletons.tick();
  EXPECT_EQ(told.calls, (std::vector<bool>{true, false}));
  // Nobody can be told it holds a lease while the database cannot say so.
  Told other;
  singletons.add("sip-registration", other.handler());
  EXPECT_EQ(other.calls, std::vector<bool>{false});
  jobs.lease_unreachable = false;
  singletons.tick();
  EXPECT_EQ(told.calls, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(other.calls, (std::vector<bool>{false, true}));
}

TEST(Singletons, AStopTellsTheHoldersAndGivesTheLeasesUp) {
  MemoryJobStore jobs;
  Singletons singletons(jobs, 30s, 5s);
  Told held;
  singletons.add("chat:xmpp", held.handler());
  jobs.lease_held_elsewhere = true;
  Told standby;
  singletons.add("chat:teams", standby.handler());
  singletons.release_all();
  EXPECT_EQ(held.calls, (std::vector<bool>{true, false}));
  EXPECT_EQ(standby.calls, std::vector<bool>{false}) << "nothing held, nothing to tell";
  EXPECT_EQ(jobs.lease_drops, 1);
  EXPECT_TRUE(singletons.held().empty());
}

}  // namespace
}  // namespace atdesk::engine
