// Plugins inside real Nodes over ZeroMQ on 127.0.0.1: a plugin answering its
// message type over the network, ring events reaching a DelegateHook, two
// plugins sharing a service, and broken plugins failing the node's start-up
// with one precise line.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "dendrite/plugin.h"
#include "host/node.h"
#include "plugins/include/test_plugins/counter_service.h"
#include "plugins/include/test_plugins/event_recorder.h"
#include "plugins/include/test_plugins/test_plugins.h"
#include "support/cluster.h"
#include "support/programs.h"

namespace dendrite::test {
namespace {

using test_plugins::CounterService;
using test_plugins::EventRecorder;

const std::string kPluginDir = test_plugin_dir();
constexpr Milliseconds kCallTimeout{5000};

std::string file_of(const std::string& name) {
  return kPluginDir + "/lib" + name + ".so";
}

// A node config loading `plugins` (by name) from the test plugin directory.
host::Config plugin_config(const std::vector<std::string>& plugins,
                           std::vector<std::string> join = {}) {
  host::Config c = test_config(std::move(join), /*vnodes=*/2);
  c.stabilize_min = Milliseconds(50);
  c.stabilize_max = Milliseconds(150);
  c.timeout = Milliseconds(500);
  c.plugin_dir = kPluginDir;
  for (const std::string& name : plugins)
    c.plugins.push_back(host::PluginSpec{name, std::nullopt, "{}"});
  return c;
}

// Polls `cond` every 20 ms for up to 20 s.
bool wait_for(const std::function<bool()>& cond) {
  for (int i = 0; i < 1000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

std::unique_ptr<host::Node> start_node(host::Config config) {
  auto node = std::make_unique<host::Node>(std::move(config));
  Status s = node->start();
  EXPECT_TRUE(s.ok()) << s.to_string();
  return s.ok() ? std::move(node) : nullptr;
}

TEST(PluginTest, EchoPluginAnswersOverTheNetwork) {
  auto server = start_node(plugin_config({"echo"}));
  auto client = start_node(plugin_config({}));
  ASSERT_TRUE(server && client);

  auto reply = client->transport().call(server->address(),
                                        Message{test_plugins::kEchoRequest, "hello"}, kCallTimeout);
  ASSERT_TRUE(reply.ok()) << reply.status().to_string();
  EXPECT_TRUE(error_of(*reply).ok()) << error_of(*reply).to_string();
  EXPECT_EQ(reply->type, test_plugins::kEchoReply);
  EXPECT_EQ(reply->payload, "echo: hello");

  // The plugin is reached the same way through the host services, locally.
  auto local = server->host_services().request(
      server->address(), Message{test_plugins::kEchoRequest, "self"}, kCallTimeout);
  ASSERT_TRUE(local.ok()) << local.status().to_string();
  EXPECT_EQ(local->payload, "echo: self");

  // A handler that throws gets the caller an Err reply; the node keeps serving.
  auto thrown = client->transport().call(
      server->address(), Message{test_plugins::kEchoRequest, test_plugins::kEchoThrow},
      kCallTimeout);
  ASSERT_TRUE(thrown.ok()) << thrown.status().to_string();
  EXPECT_EQ(thrown->type, msg::kErr);
  // A type nobody claimed is an Err too.
  auto unclaimed = client->transport().call(server->address(), Message{0x44, ""}, kCallTimeout);
  ASSERT_TRUE(unclaimed.ok()) << unclaimed.status().to_string();
  EXPECT_EQ(unclaimed->type, msg::kErr);

  auto again = client->transport().call(server->address(),
                                        Message{test_plugins::kEchoRequest, "again"}, kCallTimeout);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->payload, "echo: again");

  client->stop(false);
  server->stop(false);
}

// True when `events` has one of `type` whose `which` predecessor is on `host`.
bool has_event(const std::vector<RingEvent>& events, RingEventType type, const std::string& host,
               std::optional<Vnode> RingEvent::*which) {
  for (const RingEvent& e : events) {
    if (e.type == type && (e.*which).has_value() && (e.*which)->host == host) return true;
  }
  return false;
}

TEST(PluginTest, EventsPluginSeesPredecessorJoinAndLeave) {
  auto first = start_node(plugin_config({"events"}));
  ASSERT_TRUE(first);
  auto found =
      first->host_services().get_service<EventRecorder>(test_plugins::kEventRecorderService);
  ASSERT_TRUE(found.ok()) << found.status().to_string();
  std::shared_ptr<EventRecorder> recorder = std::move(found).value();

  auto second = start_node(plugin_config({}, {first->address()}));
  ASSERT_TRUE(second);
  const std::string second_address = second->address();
  EXPECT_TRUE(wait_for([&] {
    return has_event(recorder->events(), RingEventType::kPredecessorJoined, second_address,
                     &RingEvent::new_predecessor);
  })) << "no PredecessorJoined naming "
      << second_address;

  second->stop(/*graceful=*/true);
  EXPECT_TRUE(wait_for([&] {
    return has_event(recorder->events(), RingEventType::kPredecessorLeft, second_address,
                     &RingEvent::old_predecessor);
  })) << "no PredecessorLeft naming "
      << second_address;
  for (const RingEvent& e : recorder->events()) {
    EXPECT_EQ(e.target.host, first->address());  // events are about local vnodes only
  }

  recorder.reset();  // drop the plugin's service before the node stops
  first->stop(false);
}

TEST(PluginTest, CounterConsumerUsesTheProvidersService) {
  auto server = start_node(plugin_config({"counter_provider", "counter_consumer"}));
  auto client = start_node(plugin_config({}));
  ASSERT_TRUE(server && client);
  for (int i = 1; i <= 3; ++i) {
    auto reply = client->transport().call(server->address(),
                                          Message{test_plugins::kCounterRequest, ""}, kCallTimeout);
    ASSERT_TRUE(reply.ok()) << reply.status().to_string();
    ASSERT_EQ(reply->type, test_plugins::kCounterReply) << error_of(*reply).to_string();
    EXPECT_EQ(reply->payload, std::to_string(i));
  }
  {
    auto counter =
        server->host_services().get_service<CounterService>(test_plugins::kCounterService);
    ASSERT_TRUE(counter.ok()) << counter.status().to_string();
    EXPECT_EQ((*counter)->value(), 3);
  }
  client->stop(false);
  server->stop(false);
}

struct BrokenCase {
  std::vector<std::string> plugins;
  std::string expected;  // the whole error line
};

void PrintTo(const BrokenCase& c, std::ostream* os) {
  for (const std::string& p : c.plugins) *os << p << " ";
}

class BrokenPluginTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenPluginTest, NodeStartFailsWithOneLine) {
  host::Node node(plugin_config(GetParam().plugins));
  Status s = node.start();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(node.failure(), host::StartFailure::kPlugin);
  EXPECT_EQ(s.message(), GetParam().expected);
  node.stop(false);
}

std::string line(const std::string& plugin, const std::string& cause) {
  return "plugin '" + plugin + "' (" + file_of(plugin) + "): " + cause;
}

INSTANTIATE_TEST_SUITE_P(
    Broken, BrokenPluginTest,
    ::testing::Values(
        BrokenCase{{"missing"}, line("missing", "file not found (looked in " + kPluginDir + ")")},
        BrokenCase{
            {"not_a_plugin"},
            line("not_a_plugin", "not a Dendrite plugin (missing symbol dendrite_plugin_create)")},
        BrokenCase{{"abi_mismatch"},
                   line("abi_mismatch", "ABI version mismatch: plugin has 999, host has " +
                                            std::to_string(kSdkAbiVersion))},
        BrokenCase{{"null_factory"}, line("null_factory", "factory failed")},
        BrokenCase{
            {"unresolved"},
            line("unresolved", "cannot load: " + file_of("unresolved") +
                                   ": undefined symbol: dendrite_test_symbol_nobody_defines")},
        BrokenCase{{"echo", "collides"},
                   line("collides", "message type 0x40 is claimed by both 'echo' and 'collides'")},
        BrokenCase{{"reserved_type"},
                   line("reserved_type", "claims message type 0x05 reserved for the host")},
        BrokenCase{{"events", "init_fails"}, line("init_fails", "init failed: bad setting 'x'")},
        BrokenCase{{"throws_in_init"},
                   line("throws_in_init",
                        "init failed: uncaught exception: throws_in_init always throws")},
        BrokenCase{{"echo", "start_fails"},
                   line("start_fails", "start failed: port 1 is not available")},
        BrokenCase{{"counter_consumer"},
                   line("counter_consumer",
                        "start failed: needs counter_provider: no service 'counter' is "
                        "published")}),
    [](const ::testing::TestParamInfo<BrokenCase>& info) {
      return info.param.plugins.back();  // the broken one
    });

}  // namespace
}  // namespace dendrite::test
