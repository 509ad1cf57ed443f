#include "host/network.h"

#include <future>
#include <memory>

namespace dendrite::host {

Result<Message> Network::call(const std::string& host, const Message& request,
                              Milliseconds timeout) {
  auto promise = std::make_shared<std::promise<Result<Message>>>();
  auto future = promise->get_future();
  call_async(host, request, timeout,
             [promise](Result<Message> reply) { promise->set_value(std::move(reply)); });
  return future.get();
}

}  // namespace dendrite::host
