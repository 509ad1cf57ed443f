// tally-cli: calls the tally plugin of a running node.
//   tally-cli [--node H:P] add NAME [DELTA]   prints the new value
//   tally-cli [--node H:P] get NAME           prints the value (0 if never added)
// Exit codes as dendrite-cli: 0 ok, 2 usage or bad input, 3 unreachable or
// timed out, 1 any other error (one line on stderr).
#include <charconv>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "dendrite/client/connection.h"
#include "tally.h"
#include "tally.pb.h"

namespace {

int usage() {
  std::cerr << "usage: tally-cli [--node H:P] add NAME [DELTA] | get NAME\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string node = "127.0.0.1:5000";
  if (args.size() >= 2 && args[0] == "--node") {
    node = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  dendrite::Message request;
  if (args.size() >= 2 && args.size() <= 3 && args[0] == "add") {
    dendrite_tally::AddRequest add;
    add.set_name(args[1]);
    std::int64_t delta = 1;
    if (args.size() == 3) {
      const std::string& d = args[2];
      auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), delta);
      if (ec != std::errc() || end != d.data() + d.size()) return usage();
    }
    add.set_delta(delta);
    request = dendrite::Message{tally::kAdd, add.SerializeAsString()};
  } else if (args.size() == 2 && args[0] == "get") {
    dendrite_tally::GetRequest get;
    get.set_name(args[1]);
    request = dendrite::Message{tally::kGet, get.SerializeAsString()};
  } else {
    return usage();
  }

  auto connection = dendrite::client::Connection::open(node);
  if (!connection.ok()) {
    std::cerr << "tally-cli: " << connection.status().message() << "\n";
    return 2;
  }
  auto reply = (*connection)->request(request, std::chrono::milliseconds(5000));
  if (!reply.ok()) {
    std::cerr << "tally-cli: " << node << ": " << reply.status().message() << "\n";
    return 3;
  }
  if (dendrite::Status err = dendrite::error_of(*reply); !err.ok()) {
    std::cerr << "tally-cli: " << err.message() << "\n";
    return 1;
  }
  dendrite_tally::Value value;
  if (reply->type != tally::kValue || !value.ParseFromString(reply->payload)) {
    std::cerr << "tally-cli: unexpected reply type " << dendrite::message_type_hex(reply->type)
              << "\n";
    return 1;
  }
  std::cout << value.value() << "\n";
  return 0;
}
