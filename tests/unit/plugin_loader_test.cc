// The plugin loader against the in-tree test plugins (tests/plugins), with a
// FakeHost; also the service registry and the FakeHost itself.
#include "host/plugin_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dendrite/plugin.h"
#include "dendrite/service_registry.h"
#include "dendrite/testing/fake_host.h"
#include "plugins/include/test_plugins/counter_service.h"
#include "plugins/include/test_plugins/event_recorder.h"
#include "plugins/include/test_plugins/test_plugins.h"
#include "support/programs.h"

namespace dendrite::host {
namespace {

using test_plugins::CounterService;
using test_plugins::EventRecorder;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

const std::string kDir = test::test_plugin_dir();

std::string file_of(const std::string& name) {
  return kDir + "/lib" + name + ".so";
}

PluginSpec spec(const std::string& name, std::string config = "{}") {
  return PluginSpec{name, std::nullopt, std::move(config)};
}

// A second instance of a plugin library under another name.
PluginSpec spec_as(const std::string& name, const std::string& library) {
  return PluginSpec{name, file_of(library), "{}"};
}

class PluginLoaderTest : public ::testing::Test {
 protected:
  // Every plugin's log lines, "<plugin>: <line>", in order.
  std::vector<std::string> log() {
    std::lock_guard lock(log_mu_);
    return log_;
  }

  // Loads `specs`, expecting failure; returns the error line.
  std::string load_error(const std::vector<PluginSpec>& specs) {
    Status s = loader_.load(specs);
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(loader_.names().empty());
    EXPECT_TRUE(host_.services().names().empty());
    return s.message();
  }

  Result<Message> call(MessageType type, const std::string& payload) {
    TransportHook* hook = loader_.hook_for(type);
    if (hook == nullptr) return Status::NotFound("no hook");
    return hook->handle(Message{type, payload});
  }

  testing::FakeHost host_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
  PluginLoader loader_{kDir, host_,
                       [this](const std::string& name) {
                         return std::make_shared<testing::RecordingLogger>(
                             [this](const std::string& line) {
                               std::lock_guard lock(log_mu_);
                               log_.push_back(line);
                             },
                             name + ": ");
                       },
                       &host_.services()};
};

// --- Good plugins ---

TEST_F(PluginLoaderTest, EchoLoadsStartsAnswersAndStops) {
  ASSERT_TRUE(loader_.load({spec("echo")}).ok());
  EXPECT_THAT(loader_.names(), ElementsAre("echo"));
  EXPECT_NE(loader_.hook_for(test_plugins::kEchoRequest), nullptr);
  EXPECT_EQ(loader_.owner_of(test_plugins::kEchoRequest), "echo");
  EXPECT_EQ(loader_.hook_for(test_plugins::kEchoReply), nullptr);
  EXPECT_EQ(loader_.owner_of(test_plugins::kEchoReply), "");
  EXPECT_EQ(loader_.hook_for(msg::kPing), nullptr);
  EXPECT_TRUE(loader_.delegates().empty());
  ASSERT_TRUE(loader_.start().ok());

  auto reply = call(test_plugins::kEchoRequest, "hello");
  ASSERT_TRUE(reply.ok()) << reply.status().to_string();
  EXPECT_EQ(reply->type, test_plugins::kEchoReply);
  EXPECT_EQ(reply->payload, "echo: hello");

  loader_.stop();
  loader_.unload();
  EXPECT_TRUE(loader_.names().empty());
  EXPECT_EQ(loader_.hook_for(test_plugins::kEchoRequest), nullptr);
  EXPECT_EQ(loader_.owner_of(test_plugins::kEchoRequest), "");
}

TEST_F(PluginLoaderTest, ConfigJsonReachesThePlugin) {
  ASSERT_TRUE(loader_.load({spec("echo", R"({"prefix": "P> "})")}).ok());
  ASSERT_TRUE(loader_.start().ok());
  auto reply = call(test_plugins::kEchoRequest, "x");
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->payload, "P> x");
}

TEST_F(PluginLoaderTest, ConfigErrorOfThePluginIsAnInitFailure) {
  EXPECT_EQ(load_error({spec("echo", R"({"prefix": 3})")}),
            "plugin 'echo' (" + file_of("echo") + "): init failed: 'prefix' must be a string");
}

TEST_F(PluginLoaderTest, EventsPluginRecordsRingEventsAndPublishesTheRecorder) {
  ASSERT_TRUE(loader_.load({spec("events")}).ok());
  ASSERT_EQ(loader_.delegates().size(), 1u);
  EXPECT_EQ(loader_.hook_for(test_plugins::kEchoRequest), nullptr);
  ASSERT_TRUE(loader_.start().ok());

  RingEvent event;
  event.type = RingEventType::kPredecessorJoined;
  event.target = host_.local_vnodes()[0];
  event.new_predecessor = host_.local_vnodes()[1];
  loader_.delegates()[0]->on_ring_event(event);
  {
    auto recorder = host_.get_service<EventRecorder>(test_plugins::kEventRecorderService);
    ASSERT_TRUE(recorder.ok()) << recorder.status().to_string();
    std::vector<RingEvent> events = (*recorder)->events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, RingEventType::kPredecessorJoined);
    EXPECT_EQ(events[0].target, event.target);
    EXPECT_EQ(events[0].new_predecessor, event.new_predecessor);
  }  // drop the service before the plugins go
  loader_.unload();
  EXPECT_TRUE(loader_.delegates().empty());
  EXPECT_FALSE(host_.find_service(test_plugins::kEventRecorderService).ok());
}

TEST_F(PluginLoaderTest, ServicePublishedByOnePluginIsUsedByAnother) {
  ASSERT_TRUE(loader_.load({spec("counter_provider"), spec("counter_consumer")}).ok());
  EXPECT_THAT(loader_.names(), ElementsAre("counter_provider", "counter_consumer"));
  EXPECT_EQ(loader_.owner_of(test_plugins::kCounterRequest), "counter_consumer");
  ASSERT_TRUE(loader_.start().ok());
  for (int i = 1; i <= 3; ++i) {
    auto reply = call(test_plugins::kCounterRequest, "");
    ASSERT_TRUE(reply.ok()) << reply.status().to_string();
    EXPECT_EQ(reply->type, test_plugins::kCounterReply);
    EXPECT_EQ(reply->payload, std::to_string(i));
  }
  {
    auto counter = host_.get_service<CounterService>(test_plugins::kCounterService);
    ASSERT_TRUE(counter.ok());
    EXPECT_EQ((*counter)->value(), 3);
  }
  loader_.stop();
  // After stop the consumer dropped its reference and answers with an error.
  EXPECT_FALSE(call(test_plugins::kCounterRequest, "").ok());
  loader_.unload();
  EXPECT_TRUE(host_.services().names().empty());
}

TEST_F(PluginLoaderTest, ConsumerWithoutProviderFailsToStart) {
  ASSERT_TRUE(loader_.load({spec("counter_consumer")}).ok());
  Status s = loader_.start();
  EXPECT_EQ(s.message(), "plugin 'counter_consumer' (" + file_of("counter_consumer") +
                             "): start failed: needs counter_provider: no service 'counter' is "
                             "published");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
}

TEST_F(PluginLoaderTest, LoggerAndNameReachThePlugin) {
  ASSERT_TRUE(loader_.load({spec_as("alpha", "lifecycle")}).ok());
  EXPECT_THAT(log(), ElementsAre("alpha: init"));
  // The plugin publishes "lifecycle.<its name>".
  EXPECT_THAT(host_.services().names(), ElementsAre("lifecycle.alpha"));
}

TEST_F(PluginLoaderTest, LifecycleOrderAcrossPlugins) {
  ASSERT_TRUE(loader_
                  .load({spec_as("first", "lifecycle"), spec_as("second", "lifecycle"),
                         spec_as("third", "lifecycle")})
                  .ok());
  ASSERT_TRUE(loader_.start().ok());
  loader_.stop();
  loader_.stop();  // idempotent
  loader_.unload();
  loader_.unload();  // idempotent
  std::vector<std::string> lines = log();
  ASSERT_EQ(lines.size(), 15u) << ::testing::PrintToString(lines);
  EXPECT_THAT(
      std::vector<std::string>(lines.begin(), lines.begin() + 9),
      ElementsAre("first: init", "second: init", "third: init", "first: start", "second: start",
                  "third: start", "third: stop", "second: stop", "first: stop"));
  // The registry is cleared after every stop and before any plugin object goes.
  EXPECT_THAT(std::vector<std::string>(lines.begin() + 9, lines.begin() + 12),
              UnorderedElementsAre("first: service destroyed", "second: service destroyed",
                                   "third: service destroyed"));
  EXPECT_THAT(std::vector<std::string>(lines.begin() + 12, lines.end()),
              ElementsAre("third: destroy", "second: destroy", "first: destroy"));
}

TEST_F(PluginLoaderTest, DestructorStopsAndUnloads) {
  {
    PluginLoader loader(
        kDir, host_,
        [this](const std::string& name) {
          return std::make_shared<testing::RecordingLogger>(
              [this](const std::string& line) {
                std::lock_guard lock(log_mu_);
                log_.push_back(line);
              },
              name + ": ");
        },
        &host_.services());
    ASSERT_TRUE(loader.load({spec("lifecycle")}).ok());
    ASSERT_TRUE(loader.start().ok());
  }
  EXPECT_THAT(log(), ElementsAre("lifecycle: init", "lifecycle: start", "lifecycle: stop",
                                 "lifecycle: service destroyed", "lifecycle: destroy"));
}

TEST_F(PluginLoaderTest, StartFailureStopsTheStartedPlugins) {
  ASSERT_TRUE(loader_.load({spec("lifecycle"), spec("start_fails")}).ok());
  Status s = loader_.start();
  EXPECT_EQ(s.message(), "plugin 'start_fails' (" + file_of("start_fails") +
                             "): start failed: port 1 is not "
                             "available");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(log(), ElementsAre("lifecycle: init", "lifecycle: start", "lifecycle: stop"));
  loader_.stop();  // nothing is started: no second stop
  loader_.unload();
  EXPECT_THAT(log(), ElementsAre("lifecycle: init", "lifecycle: start", "lifecycle: stop",
                                 "lifecycle: service destroyed", "lifecycle: destroy"));
}

TEST_F(PluginLoaderTest, WorksWithoutLoggerFactoryOrRegistry) {
  PluginLoader loader(kDir, host_, nullptr);
  ASSERT_TRUE(loader.load({spec("echo")}).ok());
  ASSERT_TRUE(loader.start().ok());
  loader.unload();
}

TEST_F(PluginLoaderTest, LoadTwiceIsRefused) {
  ASSERT_TRUE(loader_.load({spec("echo")}).ok());
  EXPECT_EQ(loader_.load({spec("events")}).code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(loader_.names(), ElementsAre("echo"));
}

TEST_F(PluginLoaderTest, HookLookupIsSafeFromManyThreads) {
  ASSERT_TRUE(
      loader_.load({spec("echo"), spec("counter_provider"), spec("counter_consumer")}).ok());
  ASSERT_TRUE(loader_.start().ok());
  std::atomic<int> found{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto type = static_cast<MessageType>(i % 256);
        if (loader_.hook_for(type) != nullptr) {
          ++found;
          EXPECT_FALSE(loader_.owner_of(type).empty());
        }
        if (type == test_plugins::kEchoRequest) {
          auto r = loader_.hook_for(type)->handle(Message{type, "t"});
          EXPECT_TRUE(r.ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  // Types 0x40 and 0x42 appear 8 times each in 0..1999, per thread.
  EXPECT_EQ(found.load(), 4 * 2 * 8);
}

// --- Broken plugins: exactly one line each ---

TEST_F(PluginLoaderTest, MissingFileInPluginDir) {
  EXPECT_EQ(load_error({spec("nope")}),
            "plugin 'nope' (" + file_of("nope") + "): file not found (looked in " + kDir + ")");
}

TEST_F(PluginLoaderTest, MissingFileAtExplicitPath) {
  PluginSpec s{"x", std::string("/nonexistent/dir/libx.so"), "{}"};
  EXPECT_EQ(load_error({s}),
            "plugin 'x' (/nonexistent/dir/libx.so): file not found (looked in "
            "/nonexistent/dir/libx.so)");
}

TEST_F(PluginLoaderTest, NotAPlugin) {
  EXPECT_EQ(load_error({spec("not_a_plugin")}),
            "plugin 'not_a_plugin' (" + file_of("not_a_plugin") +
                "): not a Dendrite plugin (missing symbol dendrite_plugin_create)");
}

TEST_F(PluginLoaderTest, AbiMismatch) {
  EXPECT_EQ(load_error({spec("abi_mismatch")}),
            "plugin 'abi_mismatch' (" + file_of("abi_mismatch") +
                "): ABI version mismatch: plugin has 999, host has " +
                std::to_string(kSdkAbiVersion));
}

TEST_F(PluginLoaderTest, NullFactory) {
  EXPECT_EQ(load_error({spec("null_factory")}),
            "plugin 'null_factory' (" + file_of("null_factory") + "): factory failed");
}

TEST_F(PluginLoaderTest, UnresolvedSymbolCannotLoad) {
  EXPECT_EQ(load_error({spec("unresolved")}),
            "plugin 'unresolved' (" + file_of("unresolved") + "): cannot load: " +
                file_of("unresolved") + ": undefined symbol: dendrite_test_symbol_nobody_defines");
}

TEST_F(PluginLoaderTest, TwoPluginsClaimingOneType) {
  EXPECT_EQ(load_error({spec("echo"), spec("collides")}),
            "plugin 'collides' (" + file_of("collides") +
                "): message type 0x40 is claimed by both 'echo' and 'collides'");
  EXPECT_EQ(loader_.hook_for(test_plugins::kEchoRequest), nullptr);
}

TEST_F(PluginLoaderTest, ReservedType) {
  EXPECT_EQ(load_error({spec("reserved_type")}),
            "plugin 'reserved_type' (" + file_of("reserved_type") +
                "): claims message type 0x05 reserved for the host");
}

TEST_F(PluginLoaderTest, InitFails) {
  Status s = loader_.load({spec("init_fails")});
  EXPECT_EQ(s.message(),
            "plugin 'init_fails' (" + file_of("init_fails") + "): init failed: bad setting 'x'");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST_F(PluginLoaderTest, ExceptionInInitIsCaught) {
  EXPECT_EQ(load_error({spec("throws_in_init")}),
            "plugin 'throws_in_init' (" + file_of("throws_in_init") +
                "): init failed: uncaught exception: throws_in_init always throws");
}

TEST_F(PluginLoaderTest, DuplicateName) {
  EXPECT_EQ(load_error({spec("echo"), spec_as("echo", "events")}),
            "plugin 'echo' (" + file_of("events") + "): the name 'echo' is listed twice");
}

TEST_F(PluginLoaderTest, FailedLoadUnloadsTheEarlierPluginsAndAllowsARetry) {
  EXPECT_EQ(load_error({spec("lifecycle"), spec("init_fails")}),
            "plugin 'init_fails' (" + file_of("init_fails") + "): init failed: bad setting 'x'");
  // Inited but never started: destroyed without start/stop, its service first.
  EXPECT_THAT(log(),
              ElementsAre("lifecycle: init", "lifecycle: service destroyed", "lifecycle: destroy"));
  ASSERT_TRUE(loader_.load({spec("echo")}).ok());
  ASSERT_TRUE(loader_.start().ok());
  EXPECT_TRUE(call(test_plugins::kEchoRequest, "again").ok());
}

// --- Descriptors and requirements ---

TEST_F(PluginLoaderTest, RequirementsOrderInitStartAndStop) {
  // Listed first, needs_base still comes after base; echo keeps its place.
  ASSERT_TRUE(loader_.load({spec("needs_base"), spec("echo"), spec("base")}).ok());
  EXPECT_THAT(loader_.names(), ElementsAre("echo", "base", "needs_base"));
  ASSERT_TRUE(loader_.start().ok());
  loader_.stop();
  EXPECT_THAT(log(), ElementsAre("echo: echo prefix is 'echo: '", "base: init base",
                                 "needs_base: init needs_base", "base: start base",
                                 "needs_base: start needs_base", "needs_base: stop needs_base",
                                 "base: stop base"));
}

TEST_F(PluginLoaderTest, WithoutRequirementsTheConfigOrderStays) {
  ASSERT_TRUE(loader_.load({spec("lifecycle"), spec("base"), spec("echo")}).ok());
  EXPECT_THAT(loader_.names(), ElementsAre("lifecycle", "base", "echo"));
}

TEST_F(PluginLoaderTest, RequirementMatchesTheDescriptorNameNotTheEntryName) {
  // The library of `base` loaded under another entry name still satisfies "base>=1.1".
  ASSERT_TRUE(loader_.load({spec("needs_base"), spec_as("my_base", "base")}).ok());
  EXPECT_THAT(loader_.names(), ElementsAre("my_base", "needs_base"));
}

TEST_F(PluginLoaderTest, MissingRequirement) {
  EXPECT_EQ(load_error({spec("echo"), spec("needs_missing")}),
            "plugin 'needs_missing' (" + file_of("needs_missing") +
                "): requires 'nowhere', which is not in the plugin list");
  EXPECT_TRUE(log().empty());  // refused before any plugin was created
}

TEST_F(PluginLoaderTest, RequirementVersionMismatch) {
  EXPECT_EQ(load_error({spec("base"), spec("needs_newer_base")}),
            "plugin 'needs_newer_base' (" + file_of("needs_newer_base") +
                "): requires 'base>=2.0', but 'base' has version 1.2.0");
}

TEST_F(PluginLoaderTest, VersionRequirementOnAPluginWithoutDescriptor) {
  EXPECT_EQ(load_error({spec_as("base", "echo"), spec("needs_base")}),
            "plugin 'needs_base' (" + file_of("needs_base") +
                "): requires 'base>=1.1', but 'base' declares no version");
}

TEST_F(PluginLoaderTest, RequirementCycle) {
  EXPECT_EQ(load_error({spec("echo"), spec("cycle_b"), spec("cycle_c"), spec("cycle_a")}),
            "plugin 'cycle_b' (" + file_of("cycle_b") +
                "): requirement cycle: cycle_b -> cycle_c -> cycle_a -> cycle_b");
  EXPECT_TRUE(log().empty());
}

TEST_F(PluginLoaderTest, MalformedRequirement) {
  EXPECT_EQ(load_error({spec("base"), spec("bad_requirement")}),
            "plugin 'bad_requirement' (" + file_of("bad_requirement") +
                "): malformed requirement 'base>>1' (expected 'name' or 'name>=version')");
}

TEST_F(PluginLoaderTest, DescriptorTypesMustMatchTheHook) {
  EXPECT_EQ(load_error({spec("types_without_hook")}),
            "plugin 'types_without_hook' (" + file_of("types_without_hook") +
                "): the descriptor declares message types but there is no transport hook");
}

// --- ServiceRegistry ---

TEST(ServiceRegistryTest, PublishFindClear) {
  ServiceRegistry registry;
  auto value = std::make_shared<int>(7);
  ASSERT_TRUE(registry.publish("seven", value).ok());
  Status dup = registry.publish("seven", std::make_shared<int>(8));
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(dup.message(), "service 'seven' is already published");
  EXPECT_EQ(registry.publish("", value).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.publish("null", nullptr).code(), StatusCode::kInvalidArgument);

  auto found = registry.find("seven");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*std::static_pointer_cast<int>(*found), 7);
  auto missing = registry.find("eight");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "no service 'eight' is published");

  registry.clear();
  EXPECT_FALSE(registry.find("seven").ok());
  EXPECT_EQ(value.use_count(), 2);  // `value` and `found`
}

TEST(ServiceRegistryTest, ServiceDestructorMayUseTheRegistry) {
  ServiceRegistry registry;
  struct Reentrant {
    ServiceRegistry& r;
    bool* saw_empty;
    ~Reentrant() { *saw_empty = !r.find("self").ok(); }
  };
  bool saw_empty = false;
  ASSERT_TRUE(
      registry.publish("self", std::make_shared<Reentrant>(Reentrant{registry, &saw_empty})).ok());
  registry.clear();
  EXPECT_TRUE(saw_empty);
}

TEST(ServiceRegistryTest, ConcurrentPublishAndFind) {
  ServiceRegistry registry;
  std::vector<std::thread> threads;
  std::atomic<int> published{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        // Every thread tries every name: exactly one publish per name wins.
        if (registry.publish("s" + std::to_string(i), std::make_shared<int>(t)).ok()) ++published;
        EXPECT_TRUE(registry.find("s" + std::to_string(i)).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(published.load(), 200);
  EXPECT_EQ(registry.names().size(), 200u);
}

// --- FakeHost ---

TEST(FakeHostTest, RecordsRequestsAndAnswersFromCannedRepliesOrResponder) {
  testing::FakeHost host("127.0.0.1:7001", 2);
  EXPECT_EQ(host.local_vnodes().size(), 2u);
  EXPECT_EQ(host.request("127.0.0.1:9", Message{0x50, "a"}, Milliseconds(5)).status().code(),
            StatusCode::kUnavailable);
  host.set_reply(0x50, Message{0x51, "canned"});
  host.set_responder([](const std::string& to, const Message& m) -> Result<Message> {
    return Message{0x61, to + "/" + m.payload};
  });
  auto canned = host.request("127.0.0.1:9", Message{0x50, "b"}, Milliseconds(5));
  ASSERT_TRUE(canned.ok());
  EXPECT_EQ(canned->payload, "canned");
  auto answered = host.request("127.0.0.1:9", Message{0x60, "c"}, Milliseconds(5));
  ASSERT_TRUE(answered.ok());
  EXPECT_EQ(answered->payload, "127.0.0.1:9/c");

  std::promise<Result<Message>> done;
  host.request_async("127.0.0.1:8", Message{0x60, "d"}, Milliseconds(5),
                     [&](Result<Message> r) { done.set_value(std::move(r)); });
  auto async = done.get_future().get();
  ASSERT_TRUE(async.ok());
  EXPECT_EQ(async->payload, "127.0.0.1:8/d");

  auto requests = host.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[3].host, "127.0.0.1:8");
  EXPECT_TRUE(requests[3].async);
  EXPECT_EQ(requests[1].message.payload, "b");
}

TEST(FakeHostTest, RingQueriesFollowTheConfiguredRing) {
  testing::FakeHost host("127.0.0.1:7001", 1);
  Vnode self = host.local_vnodes()[0];
  EXPECT_THAT(host.successors(self.id), ElementsAre(self));
  EXPECT_EQ(host.predecessor(self.id), self);
  EXPECT_TRUE(host.remote_successors(self.id).empty());

  Vnode a{Id::for_vnode("127.0.0.1:7002", 0), "127.0.0.1:7002"};
  Vnode b{Id::for_vnode("127.0.0.1:7003", 0), "127.0.0.1:7003"};
  host.set_ring({self, a, b});
  EXPECT_EQ(host.successors(self.id).size(), 2u);
  EXPECT_EQ(host.remote_successors(self.id).size(), 2u);
  auto owners = host.lookup(1, self.id);
  ASSERT_TRUE(owners.ok());
  EXPECT_THAT(*owners, ElementsAre(self));  // a vnode owns its own id
  auto all = host.lookup(5, self.id);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  host.set_lookup_error(Status::Timeout("slow"));
  EXPECT_EQ(host.lookup(1, self.id).status().code(), StatusCode::kTimeout);
}

}  // namespace
}  // namespace dendrite::host
