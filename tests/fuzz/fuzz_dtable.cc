// Fuzz target: dtable's message handlers, through the TransportHook of the
// real plugin (libdtable.so, loaded by the host's PluginLoader) on a fake host
// (dendrite/testing/fake_host.h) whose ring has two local vnodes and four on
// two peer hosts. A fresh plugin instance serves every input.
//
// Input: records (records.h). A record with tag bit 0 clear is a request frame
// (type byte + protobuf) handed to the hook (handle_async, as the host's
// workers do, or handle() with tag bit 2; the next request goes in once it is
// answered). Tag bit 7 of the first record: the plugin's vnodes are settling
// (misses read through to the previous holders). A record with tag
// bit 0 set queues the answer to the next request the plugin sends to another
// node: its bytes as a reply frame, or a Timeout when tag bit 1 is set too.
// Requests with no queued answer fail with Unavailable.
#include <dlfcn.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dendrite/message.h"
#include "dendrite/testing/fake_host.h"
#include "host/logging.h"
#include "host/plugin_loader.h"
#include "records.h"
#include "table_setup.h"

namespace {

using dendrite::Message;
using dendrite::Result;
using dendrite::Status;
namespace fuzz = dendrite::fuzz;

constexpr int kMaxRequests = 32;
// A request the plugin never answers is a bug (the host would wait for it at
// shutdown); this is far above any timeout the plugin uses here.
constexpr auto kAnswerLimit = std::chrono::seconds(20);

// Answers to the plugin's outgoing requests, in order.
class Answers {
 public:
  void push(Result<Message> answer) {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(answer));
  }
  Result<Message> pop() {
    std::lock_guard lock(mu_);
    if (queue_.empty()) return Status::Unavailable("fuzz: no answer queued");
    Result<Message> out = std::move(queue_.front());
    queue_.pop_front();
    return out;
  }

 private:
  std::mutex mu_;
  std::deque<Result<Message>> queue_;  // guarded by mu_
};

// One request's answer, waited for.
struct Reply {
  std::mutex mu;
  std::condition_variable cv;
  int answers = 0;  // guarded by mu
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dendrite::host::set_log_level(dendrite::LogLevel::kOff);
  // Map the plugin before fuzzing starts, so libFuzzer registers its coverage
  // counters with the other modules' (it stays mapped: linked -z nodelete).
  const std::string path = fuzz::dtable_plugin_path();
  if (::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) == nullptr) {
    std::fprintf(stderr, "fuzz_dtable: cannot load %s: %s\n", path.c_str(), ::dlerror());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dendrite::testing::FakeHost host(fuzz::kTableHost, fuzz::kTableVnodes);
  fuzz::configure_table_host(host);
  Answers answers;
  host.set_responder([&answers](const std::string&, const Message&) { return answers.pop(); });
  dendrite::host::PluginLoader loader(".", host, fuzz::null_loggers());
  const bool settling = size > 0 && (data[0] & 0x80) != 0;
  if (Status s = fuzz::start_dtable(loader, settling); !s.ok()) {
    std::fprintf(stderr, "fuzz_dtable: cannot start the plugin: %s\n", s.to_string().c_str());
    std::abort();
  }
  dendrite::TransportHook* hook = loader.hook_for(0x20);
  if (hook == nullptr) std::abort();

  dendrite::fuzz::RecordReader in(data, size);
  dendrite::fuzz::Record r;
  std::vector<std::shared_ptr<Reply>> replies;
  for (int n = 0; n < kMaxRequests && in.next(r);) {
    if (r.tag & 1) {
      if (r.tag & 2) {
        answers.push(Status::Timeout("fuzz: timed out"));
      } else {
        answers.push(Message::from_frame(r.bytes));
      }
      continue;
    }
    ++n;
    auto request = Message::from_frame(r.bytes);
    if (!request.ok() || request->type < 0x20) continue;
    if (loader.hook_for(request->type) == nullptr) continue;  // the host answers Err
    auto reply = std::make_shared<Reply>();
    replies.push_back(reply);
    auto answered = [reply](const Result<Message>&) {
      std::lock_guard lock(reply->mu);
      ++reply->answers;
      reply->cv.notify_all();
    };
    try {
      if (r.tag & 4) {
        answered(hook->handle(*request));  // the blocking form
      } else {
        hook->handle_async(*request, answered);
      }
    } catch (const std::exception& e) {
      // The host would answer Err, but no exception may cross the plugin
      // boundary (docs/plugin-guide.md "7. Errors are values").
      std::fprintf(stderr, "fuzz_dtable: type 0x%02x threw: %s\n", request->type, e.what());
      std::abort();
    }
    std::unique_lock lock(reply->mu);
    if (!reply->cv.wait_for(lock, kAnswerLimit, [&] { return reply->answers > 0; })) {
      std::fprintf(stderr, "fuzz_dtable: request type 0x%02x never answered\n", request->type);
      std::abort();
    }
  }
  loader.stop();
  loader.unload();
  for (const auto& reply : replies) {
    std::lock_guard lock(reply->mu);
    if (reply->answers != 1) {
      std::fprintf(stderr, "fuzz_dtable: a request was answered %d times\n", reply->answers);
      std::abort();
    }
  }
  return 0;
}
