#include "faults/workload.h"

#include <random>

namespace dendrite::faults {

Workload::Workload(client::DtableClient& client, WorkloadOptions options)
    : client_(client), options_(options), next_seq_(static_cast<std::size_t>(options.writers)) {
  for (int w = 0; w < options_.writers; ++w) {
    for (int k = 0; k < options_.keys_per_writer; ++k) {
      histories_.push_back(
          KeyHistory{"faults/w" + std::to_string(w) + "/k" + std::to_string(k), {}});
    }
  }
}

Workload::~Workload() {
  stop();
}

std::string Workload::value_for(const std::string& key, std::uint64_t seq) {
  return key + "/" + std::to_string(seq);
}

void Workload::start() {
  stop_ = false;
  for (int w = 0; w < options_.writers; ++w) threads_.emplace_back([this, w] { writer(w); });
  for (int r = 0; r < options_.readers; ++r) threads_.emplace_back([this, r] { reader(r); });
}

void Workload::stop() {
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void Workload::writer(int w) {
  std::mt19937_64 rng(options_.seed * 1000003 + static_cast<std::uint64_t>(w));
  const int max_c = client_.max_consistency();
  const std::size_t first = static_cast<std::size_t>(w) * options_.keys_per_writer;
  std::uniform_int_distribution<int> pick_key(0, options_.keys_per_writer - 1);
  std::uniform_int_distribution<int> pick_c(1, max_c);
  std::bernoulli_distribution pick_del(options_.delete_fraction);
  while (!stop_) {
    KeyHistory& h = histories_[first + static_cast<std::size_t>(pick_key(rng))];
    WriteOp op;
    op.seq = ++next_seq_[static_cast<std::size_t>(w)];
    op.consistency = pick_c(rng);
    // The first write of a key is a set, so deletes delete something.
    op.deleted = !h.ops.empty() && pick_del(rng);
    Status s;
    ++counts_.attempted;
    op.start = Clock::now();
    if (op.deleted) {
      s = client_.del(h.key, op.consistency);
    } else {
      op.value = value_for(h.key, op.seq);
      s = client_.set(h.key, op.value, op.consistency);
    }
    op.done = Clock::now();
    op.acked = s.ok();
    if (op.acked) ++counts_.acked;
    h.ops.push_back(std::move(op));
    std::this_thread::sleep_for(options_.pause_between_ops);
  }
}

void Workload::reader(int r) {
  std::mt19937_64 rng(options_.seed * 2000003 + static_cast<std::uint64_t>(r));
  std::uniform_int_distribution<std::size_t> pick(0, histories_.size() - 1);
  while (!stop_) {
    const std::size_t i = pick(rng);
    const std::string& key = histories_[i].key;  // never changes: no race
    const auto writer = i / static_cast<std::size_t>(options_.keys_per_writer);
    auto v = client_.get(key, 1);
    ++counts_.reads;
    if (v.ok()) {
      // A value of this key's writer, with a seq it has issued already.
      const std::string prefix = key + "/";
      bool good = v->compare(0, prefix.size(), prefix) == 0;
      if (good) {
        const std::string rest = v->substr(prefix.size());
        good = !rest.empty() && rest.find_first_not_of("0123456789") == std::string::npos &&
               rest.size() < 19 && std::stoull(rest) <= next_seq_[writer].load();
      }
      if (!good) ++counts_.wrong_reads;
    }
    std::this_thread::sleep_for(options_.pause_between_ops);
  }
}

}  // namespace dendrite::faults
