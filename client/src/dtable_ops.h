// The operations of DtableClient as asynchronous state machines over
// DtableCore: route to the primary, retry on "wrong owner" or silence, read
// replicas when a primary does not answer. Internal to libdendrite_client.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dendrite/client/dtable_client.h"
#include "dtable_core.h"

namespace dendrite::client::detail {

// InvalidArgument for an empty key or a consistency outside 1 .. replicas + 1.
Status check_key(std::string_view key);
Status check_consistency(const DtableCore& core, int consistency);

// get()'s result from get_entry()'s: the value without its expiry.
Result<std::string> value_only(Result<dtable::ValueWithExpiry> entry);

// Each runs `done` exactly once (see the callbacks in dtable_client.h). The
// inputs must already be checked.
void start_write(DtableCore& core, std::string key, std::string value, bool deleted,
                 int consistency, StatusCallback done);
void start_get(DtableCore& core, std::string key, int consistency, EntryCallback done);
void start_set_multi(DtableCore& core, std::vector<KeyValue> items, int consistency,
                     StatusesCallback done);
void start_get_multi(DtableCore& core, std::vector<std::string> keys, int consistency,
                     ValuesCallback done);
void start_mutate(DtableCore& core, std::string key, dtable::Mutation m, int consistency,
                  MutationCallback done);

// The primary keys held by `host` (every page of LocalKeys), in keyHash order.
// Blocking.
Result<std::vector<std::string>> list_host_keys(DtableCore& core, const std::string& host);

}  // namespace dendrite::client::detail
