// The wire form of a Mutation (Mutate, 0x2F) and of its result, shared by
// the two senders of mutations (the dtable service and the client library)
// and the primary that reads them. Header-only and free of protobuf: the
// functions fill or read the generated messages they are given
// (PBDTableMutate, PBDTableMutationResult), as write_request.h does.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dendrite/dtable/mutation.h"

namespace dendrite::dtable {

// Fills `req` with `m` for `key` and the consistency level (minAcks, at
// least 1); `dest` is the caller's. Enums go as their numbers in
// declaration order from 0; fields at their defaults are left out.
template <typename MutatePb>
void fill_mutate_request(MutatePb& req, std::string_view key, const Mutation& m, int consistency) {
  req.set_key(std::string(key));
  req.set_op(static_cast<int>(m.op));
  if (m.condition != Mutation::If::kAlways) req.set_condition(static_cast<int>(m.condition));
  if (m.expiry != Mutation::Expiry::kNone) req.set_expiry(static_cast<int>(m.expiry));
  if (m.expiry_if != Mutation::ExpiryIf::kAlways) req.set_expiryif(static_cast<int>(m.expiry_if));
  if (!m.operand.empty()) req.set_operand(m.operand);
  if (m.delta != 0) req.set_delta(m.delta);
  if (m.expires_ms != 0) req.set_expiresat(m.expires_ms);
  if (m.want_previous) req.set_wantprevious(true);
  req.set_minacks(std::max(consistency, 1));
}

// The Mutation `req` carries; on a field out of range, nothing and `error`
// says which.
template <typename MutatePb>
std::optional<Mutation> mutation_of_request(const MutatePb& req, std::string& error) {
  auto in_range = [](std::int32_t v, auto last) {
    return v >= 0 && v <= static_cast<std::int32_t>(last);
  };
  if (!in_range(req.op(), Mutation::Op::kTouch)) {
    error = "unknown mutation op " + std::to_string(req.op());
    return std::nullopt;
  }
  if (!in_range(req.condition(), Mutation::If::kPresent)) {
    error = "unknown mutation condition " + std::to_string(req.condition());
    return std::nullopt;
  }
  if (!in_range(req.expiry(), Mutation::Expiry::kAt)) {
    error = "unknown mutation expiry " + std::to_string(req.expiry());
    return std::nullopt;
  }
  if (!in_range(req.expiryif(), Mutation::ExpiryIf::kSomeEarlier)) {
    error = "unknown mutation expiry condition " + std::to_string(req.expiryif());
    return std::nullopt;
  }
  if (req.expiry() == static_cast<int>(Mutation::Expiry::kAt) && req.expiresat() <= 0) {
    error = "a mutation with an expiry needs expiresAt > 0";
    return std::nullopt;
  }
  Mutation m;
  m.op = static_cast<Mutation::Op>(req.op());
  m.condition = static_cast<Mutation::If>(req.condition());
  m.expiry = static_cast<Mutation::Expiry>(req.expiry());
  m.expiry_if = static_cast<Mutation::ExpiryIf>(req.expiryif());
  m.operand = req.operand();
  m.delta = req.delta();
  m.expires_ms = req.expiresat();
  m.want_previous = req.wantprevious();
  return m;
}

// Fills `out` (a PBDTableMutationResult) with `r`.
template <typename ResultPb>
void fill_mutation_result(ResultPb& out, const MutationResult& r) {
  if (r.applied) out.set_applied(true);
  if (r.existed) out.set_existed(true);
  if (!r.previous.empty()) out.set_previous(r.previous);
  if (r.previous_expires_ms != 0) out.set_previousexpiresat(r.previous_expires_ms);
  if (r.exists) out.set_exists(true);
  if (!r.number.empty()) out.set_number(r.number);
  if (r.length != 0) out.set_length(static_cast<std::int64_t>(r.length));
  if (r.expires_ms != 0) out.set_expiresat(r.expires_ms);
}

// The MutationResult `pb` carries.
template <typename ResultPb>
MutationResult mutation_result_of(const ResultPb& pb) {
  MutationResult r;
  r.applied = pb.applied();
  r.existed = pb.existed();
  r.previous = pb.previous();
  r.previous_expires_ms = pb.previousexpiresat();
  r.exists = pb.exists();
  r.number = pb.number();
  r.length = pb.length() > 0 ? static_cast<std::size_t>(pb.length()) : 0;
  r.expires_ms = pb.expiresat();
  return r;
}

}  // namespace dendrite::dtable
