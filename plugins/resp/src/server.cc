#include "server.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

#include "dendrite/metrics.h"
#include "request_parser.h"
#include "tls.h"

namespace dendrite::resp {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Input read ahead while a command runs on a worker: a pipelining client can
// keep this much queued; more waits in the kernel's socket buffer.
constexpr std::size_t kReadAheadBytes = 64u << 10;
// The size of one read; also the shared buffer reads land in.
constexpr std::size_t kReadChunkBytes = 64u << 10;
// Redis's bounds on what a client sends before AUTH: 10 arguments of 16 KiB.
const ParserLimits kUnauthenticatedLimits{
    .max_bulk_bytes = 16u << 10, .max_args = 10, .max_inline_bytes = 16u << 10};
// The most commands, and argument bytes, run as one batch.
constexpr std::size_t kMaxBatchCommands = 512;
constexpr std::size_t kMaxBatchBytes = 1u << 20;
// A connection's buffers larger than this are released once drained.
constexpr std::size_t kKeepBufferBytes = 64u << 10;

std::string endpoint_text(const tcp::endpoint& e) {
  const std::string host = e.address().to_string();
  return (e.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(e.port());
}

constexpr std::string_view kProtectedModeReply =
    "-DENIED the resp front end is in protected mode: it listens on a non-loopback address "
    "and has no users. Configure \"users\" (clients then AUTH), or set \"protected_mode\": "
    "false to let any host in, or listen on 127.0.0.1.\r\n";

// The metrics of one command.
struct CommandMetrics {
  Counter* calls = nullptr;
  Counter* errors = nullptr;
  Histogram* latency = nullptr;
};

}  // namespace

class Connection;

struct Server::Impl final : Clients {
  explicit Impl(CommandContext& c) : ctx(c) {}

  // Clients
  std::vector<ClientInfo> list() const override;
  std::size_t kill(const std::function<bool(const ClientInfo&)>& which) override;
  void update(const Session& session) override;

  void accept();
  // Replies that start_here() will hand over later from a dtable thread:
  // stop() waits for them, since their callbacks post to `io`.
  void later_started();
  void later_posted();
  void wait_for_later();
  // Writes `reply` (best effort, without waiting) and closes `socket`.
  static void refuse(tcp::socket socket, std::string_view reply);
  void close_all();
  void record(const CommandSpec& spec, Clock::duration took, bool failed);
  // Queues `c`'s replies to be written once the connections ready now have
  // run their commands: one write per connection per turn of the I/O loop,
  // after all of them, so a client woken by its first reply finds the others
  // already there (I/O thread).
  void write_later(std::shared_ptr<Connection> c);
  // Writes the queued connections' replies (I/O thread).
  void write_queued();

  CommandContext& ctx;
  ParserLimits limits;
  std::vector<CommandMetrics> metrics;  // parallel to command_table()
  Gauge* connected = nullptr;

  // Declared before the io_context: connections that its destructor frees
  // still find the registry.
  mutable std::mutex mu;
  struct Entry {
    std::weak_ptr<Connection> connection;
    ClientInfo info;
    Clock::time_point created, active;
  };
  std::map<std::uint64_t, Entry> entries;  // GUARDED_BY(mu)
  std::uint64_t next_id = 1;               // GUARDED_BY(mu)
  std::atomic<std::size_t> later_pending{0};
  std::string bound;

  asio::io_context io{1};
  // Connections whose replies write_queued() writes next (I/O thread only).
  // Declared after the io_context: their sockets go before it.
  std::vector<std::shared_ptr<Connection>> to_write;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  std::unique_ptr<asio::thread_pool> workers;
  std::shared_ptr<TlsContext> tls;  // nullptr: plaintext
  std::thread io_thread;
  bool started = false, stopped = false;
  // Where every read lands before it is appended to its connection's input
  // (I/O thread only): an idle connection holds no buffer of its own.
  std::unique_ptr<char[]> read_chunk = std::make_unique<char[]>(kReadChunkBytes);
};

// One client. Lives on the I/O thread; a command on keys borrows its session
// on a worker thread while `busy_` (the I/O thread leaves it alone then).
class Connection : public std::enable_shared_from_this<Connection> {
  friend struct Server::Impl;  // write_now()

 public:
  Connection(Server::Impl& server, tcp::socket socket, std::uint64_t id,
             std::unique_ptr<TlsSession> tls)
      : server_(server), socket_(std::move(socket)), tls_(std::move(tls)) {
    session_.id = id;
    session_.consistency = server.ctx.settings.consistency;
    session_.authenticated = server.ctx.settings.users.empty();
  }
  ~Connection() {
    std::lock_guard lock(server_.mu);
    server_.entries.erase(session_.id);
    if (server_.connected != nullptr) server_.connected->dec();
  }

  void start() {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    socket_.set_option(tcp::no_delay(true), ec);
    arm_read();
  }

  // Closes the socket; pending handlers finish with operation_aborted.
  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  std::size_t unparsed() const { return in_.size() - in_start_; }
  std::size_t unsent() const { return out_.size() + sending_.size(); }
  bool output_full() const { return unsent() > server_.ctx.settings.output_buffer_bytes; }

  void arm_read() {
    if (closed_ || closing_ || eof_ || reading_ || output_full()) return;
    if ((busy_ || !need_more_) && unparsed() >= kReadAheadBytes) return;
    reading_ = true;
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         self->on_readable(ec);
                       });
  }

  void on_readable(const boost::system::error_code& ec) {
    reading_ = false;
    if (closed_) return;
    if (ec) {
      close();
      return;
    }
    // Read what is there now, a chunk at a time, up to the read-ahead bound.
    while (true) {
      boost::system::error_code rec;
      const std::size_t n =
          socket_.read_some(asio::buffer(server_.read_chunk.get(), kReadChunkBytes), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) break;
      if (rec == asio::error::eof) {
        eof_ = true;
        break;
      }
      if (rec) {
        close();
        return;
      }
      if (!take_input(std::string_view(server_.read_chunk.get(), n))) break;
      if (n < kReadChunkBytes || unparsed() >= kReadAheadBytes) break;
    }
    if (unparsed() > server_.ctx.settings.max_query_buffer_bytes) {
      close();  // Redis closes such a client too ("max query buffer length")
      return;
    }
    process();
  }

  // Appends what was read to the input (decrypted first under TLS). False
  // when TLS broke: the connection sends the alert and closes.
  bool take_input(std::string_view bytes) {
    if (!tls_) {
      in_.append(bytes);
      need_more_ = false;  // the new bytes may complete a command
      return true;
    }
    const std::size_t before = in_.size();
    const Status s = tls_->receive(bytes, in_);
    if (in_.size() != before) need_more_ = false;
    if (tls_->peer_closed()) eof_ = true;
    if (!s.ok()) {
      server_.ctx.stats->tls_failures.fetch_add(1, std::memory_order_relaxed);
      closing_ = true;
      return false;
    }
    return true;
  }

  // Runs the commands received so far, in batches: the commands ready at once
  // (a pipeline) run one after another in one go, on the I/O thread when none
  // calls the Table, else on one worker (one thread hop per batch, not per
  // command). A batch stops early once its replies would overfill the output
  // bound; the rest waits in batch_ until the client reads. Stops when a batch
  // is on a worker, the input runs dry or the output is full; then writes and
  // reads on.
  void process() {
    while (!closed_ && !busy_ && !closing_ && !output_full()) {
      if (batch_.done == batch_.commands.size() && batch_.protocol_error.empty()) parse_batch();
      if (batch_.done == batch_.commands.size() && batch_.protocol_error.empty()) break;
      note_activity();
      const std::size_t budget = server_.ctx.settings.output_buffer_bytes - unsent();
      if (!batch_.needs_worker()) {
        run_batch(batch_, out_, budget);
        finish_batch();
        continue;
      }
      if (run_here(budget) > 0) {
        if (!busy_) finish_batch();
        continue;
      }
      busy_ = true;
      asio::post(*server_.workers,
                 [self = shared_from_this(), batch = std::move(batch_), budget]() mutable {
                   std::string reply;
                   self->run_batch(batch, reply, budget);
                   asio::post(self->server_.io,
                              [self, batch = std::move(batch), reply = std::move(reply)]() mutable {
                                self->busy_ = false;
                                self->batch_ = std::move(batch);
                                if (self->closed_) return;
                                self->out_.append(reply);
                                self->finish_batch();
                                self->process();
                              });
                 });
    }
    if (in_start_ == in_.size()) {
      in_.clear();
      in_start_ = 0;
      if (in_.capacity() > kKeepBufferBytes) std::string().swap(in_);
    } else if (in_start_ > kKeepBufferBytes) {
      in_.erase(0, in_start_);
      in_start_ = 0;
    }
    if (eof_ && !busy_ && batch_.done == batch_.commands.size() &&
        (need_more_ || unparsed() == 0)) {
      closing_ = true;
    }
    // flush() has work: replies, TLS records (a handshake's too), or a close.
    const bool to_flush = !out_.empty() || tls_ != nullptr || closing_;
    if (to_flush && !write_queued_) {
      write_queued_ = true;
      server_.write_later(shared_from_this());
    }
    arm_read();
  }

  // Writes the replies process() left, then reads on if the output bound
  // held reading back (Server::Impl::write_queued(), I/O thread).
  void write_now() {
    write_queued_ = false;
    flush();
    arm_read();
  }

  // Commands ready at once, how many have run, and the protocol error that
  // ended them, if any.
  struct Batch {
    std::vector<std::vector<std::string>> commands;
    std::vector<const CommandSpec*> specs;  // of each command; nullptr: unknown
    std::size_t done = 0;
    std::string protocol_error;  // written after their replies; then close
    // True when a command not yet run calls the Table.
    bool needs_worker() const {
      for (std::size_t i = done; i < commands.size(); ++i) {
        if (specs[i] != nullptr && (specs[i]->flags & kTouchesKeys) != 0) return true;
      }
      return false;
    }
  };

  // Parses the commands ready now into batch_ (I/O thread).
  void parse_batch() {
    batch_ = Batch{};
    // Before AUTH, commands run one at a time (the next is parsed once AUTH
    // ran) under Redis's small limits for unauthenticated clients.
    const bool authenticated = session_.authenticated;
    const ParserLimits& limits = authenticated ? server_.limits : kUnauthenticatedLimits;
    const std::size_t most = authenticated ? kMaxBatchCommands : 1;
    std::size_t bytes = 0;
    while (batch_.commands.size() < most && bytes < kMaxBatchBytes) {
      Parsed p = parse_request(std::string_view(in_).substr(in_start_), limits, &progress_);
      if (p.kind == Parsed::Kind::kNeedMore) {
        need_more_ = true;
        return;
      }
      need_more_ = false;
      if (p.kind == Parsed::Kind::kError) {
        server_.ctx.stats->protocol_errors.fetch_add(1, std::memory_order_relaxed);
        batch_.protocol_error = "ERR " + p.error;
        return;
      }
      in_start_ += p.consumed;
      if (p.args.empty()) continue;
      bytes += p.consumed;
      batch_.specs.push_back(find_command(p.args[0]));
      batch_.commands.push_back(std::move(p.args));
    }
  }

  // What CLIENT LIST shows of this connection (I/O thread).
  void note_activity() {
    std::lock_guard lock(server_.mu);
    auto it = server_.entries.find(session_.id);
    if (it == server_.entries.end()) return;
    it->second.active = Clock::now();
    if (batch_.done < batch_.commands.size()) {
      it->second.info.last_command = batch_.commands[batch_.done][0];
    }
    it->second.info.query_buffer = unparsed();
    it->second.info.output_buffer = unsent();
  }

  // Runs the commands of `batch` not run yet, in order, replies appended to
  // `out`, until one is QUIT or the replies exceed `budget` bytes. On the I/O
  // thread, or on a worker while busy_ (then nothing else touches the session).
  void run_batch(Batch& batch, std::string& out, std::size_t budget) {
    const std::size_t start_size = out.size();
    while (batch.done < batch.commands.size() && out.size() - start_size <= budget) {
      const auto start = Clock::now();
      const auto rest = std::span(batch.commands).subspan(batch.done);
      if (const Coalesced c = run_coalesced(rest, session_, out, server_.ctx); c.ran > 0) {
        server_.ctx.stats->commands_processed.fetch_add(c.ran, std::memory_order_relaxed);
        const auto each = (Clock::now() - start) / c.ran;
        const CommandSpec& spec = *batch.specs[batch.done];
        for (std::size_t i = 0; i < c.ran; ++i) {
          server_.record(spec, each, (c.failed >> i & 1u) != 0);
        }
        batch.done += c.ran;
        continue;
      }
      const std::size_t at = batch.done++;
      const auto& args = batch.commands[at];
      server_.ctx.stats->commands_processed.fetch_add(1, std::memory_order_relaxed);
      ReplyWriter writer(out, session_.resp3);
      const CommandSpec* spec = admit(batch.specs[at], args, session_, writer);
      if (spec == nullptr) continue;
      run_admitted(*spec, args, out, writer, start);
      if (session_.quit) break;
    }
  }

  // Runs an admitted command whose reply `writer` appends to `out`, and
  // records it. Returns when it ended.
  Clock::time_point run_admitted(const CommandSpec& spec, std::span<const std::string> args,
                                 std::string& out, ReplyWriter& writer, Clock::time_point start) {
    const std::size_t before = out.size();
    Call call{args, session_, writer, server_.ctx};
    run_command(spec, call);
    const auto end = Clock::now();
    server_.record(spec, end - start, before < out.size() && out[before] == '-');
    return end;
  }

  // Runs batch_'s next commands on the I/O thread while none needs a worker:
  // commands that do not call the Table, and the GETs and plain SETs that
  // start_here() serves (their key's primary copy is on this host). Stops at
  // a command for a worker, at one whose reply comes later (then busy_ until
  // finish_later()), at QUIT, or once the replies exceed `budget` bytes.
  // Returns how many commands it ran or started (I/O thread).
  std::size_t run_here(std::size_t budget) {
    const std::size_t start_size = out_.size();
    std::size_t ran = 0;
    // One clock read per command: each one starts when the one before ended.
    Clock::time_point start = Clock::now();
    while (batch_.done < batch_.commands.size() && out_.size() - start_size <= budget &&
           !session_.quit) {
      const auto& args = batch_.commands[batch_.done];
      ReplyWriter writer(out_, session_.resp3);
      const CommandSpec* spec = admit(batch_.specs[batch_.done], args, session_, writer);
      if (spec != nullptr && (spec->flags & kTouchesKeys) != 0) {
        const std::size_t before = out_.size();
        server_.later_started();
        // The callback may run, and its copies die, on a dtable thread: it
        // holds the connection weakly (hold_ keeps it alive meanwhile), so
        // that a connection is only ever destroyed on the I/O thread.
        // Only the batch's last command is sent to its primary from here: a
        // pipeline's worker batch coalesces many keys into one request each.
        const bool last = batch_.done + 1 == batch_.commands.size();
        const HereStart how = start_here(
            *spec, args, session_, out_, server_.ctx,
            [weak = weak_from_this(), server = &server_, spec, start](LaterReply reply) {
              asio::post(server->io, [weak, spec, start, reply = std::move(reply)]() mutable {
                auto self = weak.lock();
                if (!self) return;
                if (reply.blocking) {
                  self->finish_on_worker(*spec, start, std::move(reply.make));
                } else {
                  self->finish_later(*spec, start, reply.make());
                }
              });
              server->later_posted();
            },
            last);
        if (how != HereStart::kLater) server_.later_posted();  // no reply to hand over
        if (how == HereStart::kElsewhere) return ran;          // nothing written: a worker runs it
        ++batch_.done;
        ++ran;
        server_.ctx.stats->commands_processed.fetch_add(1, std::memory_order_relaxed);
        if (how == HereStart::kLater) {
          busy_ = true;
          hold_ = shared_from_this();
          return ran;
        }
        const auto end = Clock::now();
        server_.record(*spec, end - start, before < out_.size() && out_[before] == '-');
        start = end;
        continue;
      }
      ++batch_.done;
      ++ran;
      server_.ctx.stats->commands_processed.fetch_add(1, std::memory_order_relaxed);
      // A refused command (its error written by admit()) ends now too.
      start = spec != nullptr ? run_admitted(*spec, args, out_, writer, start) : Clock::now();
    }
    return ran;
  }

  // The reply of a command start_here() began, made on a worker by `make`,
  // which may block (a Table call going on after its attempt failed); the
  // connection stays busy until finish_later() (I/O thread).
  void finish_on_worker(const CommandSpec& spec, Clock::time_point start,
                        std::function<std::string()> make) {
    if (closed_) return finish_later(spec, start, {});
    asio::post(*server_.workers, [self = shared_from_this(), &spec, start,
                                  make = std::move(make)]() mutable {
      std::string reply = make();
      asio::io_context& io = self->server_.io;
      // `self` moves on: the connection is only ever destroyed on the I/O thread.
      asio::post(io, [self = std::move(self), &spec, start, reply = std::move(reply)]() mutable {
        self->finish_later(spec, start, std::move(reply));
      });
    });
  }

  // The reply of a command start_here() answered later (I/O thread).
  void finish_later(const CommandSpec& spec, Clock::time_point start, std::string reply) {
    const std::shared_ptr<Connection> keep = std::move(hold_);
    busy_ = false;
    if (closed_) return;
    server_.record(spec, Clock::now() - start, !reply.empty() && reply[0] == '-');
    out_.append(reply);
    finish_batch();
    process();
  }

  // After a batch ran (its replies in out_; I/O thread): QUIT or a protocol
  // error that ended it close the connection once the replies are written.
  void finish_batch() {
    if (session_.quit) {
      closing_ = true;
    } else if (batch_.done == batch_.commands.size() && !batch_.protocol_error.empty()) {
      ReplyWriter(out_, session_.resp3).error(batch_.protocol_error);
      batch_.protocol_error.clear();
      closing_ = true;
    }
  }

  // Writes the replies (write_now()): at once when the socket takes them all
  // (the common case: no asynchronous operation), else what remains
  // asynchronously (on_sent()).
  void flush() {
    if (closed_ || sending_active_) return;
    const bool was_full = output_full();
    if (tls_) {
      if (!take_tls_output()) return;
    } else if (out_.empty()) {
      if (closing_ && !busy_) close();
      return;
    } else {
      sending_.swap(out_);
    }
    boost::system::error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(sending_), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
      close();
      return;
    }
    if (!ec && n == sending_.size()) {
      sending_.clear();
      if (sending_.capacity() > kKeepBufferBytes) std::string().swap(sending_);
      // Commands that waited for the output to drain, or the close after the
      // last reply, go on from the I/O queue.
      if (was_full || closing_) {
        asio::post(server_.io, [self = shared_from_this()] {
          if (!self->closed_) self->process();
        });
      }
      return;
    }
    if (!ec) sending_.erase(0, n);
    sending_active_ = true;
    asio::async_write(socket_, asio::buffer(sending_),
                      [self = shared_from_this()](const boost::system::error_code& e, std::size_t) {
                        self->on_sent(e);
                      });
  }

  // Under TLS: encrypts out_ into sending_ (with the handshake's and the
  // close's records). False when there is nothing to send (then closes if
  // closing_).
  bool take_tls_output() {
    if (!out_.empty()) {
      if (!tls_->send(out_).ok()) {
        close();
        return false;
      }
      out_.clear();
      if (out_.capacity() > kKeepBufferBytes) std::string().swap(out_);
    }
    if (closing_ && !busy_ && !tls_->has_output()) tls_->shut_down();  // close_notify
    if (!tls_->has_output()) {
      if (closing_ && !busy_) close();
      return false;
    }
    tls_->take_output(sending_);
    return true;
  }

  void on_sent(const boost::system::error_code& ec) {
    sending_active_ = false;
    if (closed_) return;
    if (ec) {
      close();
      return;
    }
    sending_.clear();
    if (sending_.capacity() > kKeepBufferBytes) std::string().swap(sending_);
    process();  // may start commands that waited for the output to drain
  }

  Server::Impl& server_;
  tcp::socket socket_;
  std::unique_ptr<TlsSession> tls_;  // nullptr: plaintext
  Session session_;
  Batch batch_;             // parsed commands; those from batch_.done on wait to run
  ParseProgress progress_;  // how far the unfinished command at in_start_ was read
  std::string in_;          // received bytes; in_[in_start_..] not parsed yet
  std::size_t in_start_ = 0;
  std::string out_;      // replies not handed to a write yet
  std::string sending_;  // the replies being written
  bool sending_active_ = false;
  bool write_queued_ = false;  // in server_.to_write
  bool reading_ = false;
  bool need_more_ = true;  // the unparsed input holds no whole command
  bool busy_ = false;      // batch_ runs on a worker (moved out meanwhile), or a reply comes later
  std::shared_ptr<Connection> hold_;  // this, while a start_here() reply is to come
  bool eof_ = false;                  // the client closed its side
  bool closing_ = false;              // close once the replies are written
  bool closed_ = false;
};

std::vector<ClientInfo> Server::Impl::list() const {
  const auto now = Clock::now();
  std::lock_guard lock(mu);
  std::vector<ClientInfo> out;
  out.reserve(entries.size());
  for (const auto& [id, e] : entries) {
    ClientInfo info = e.info;
    info.age_s = std::chrono::duration_cast<std::chrono::seconds>(now - e.created).count();
    info.idle_s = std::chrono::duration_cast<std::chrono::seconds>(now - e.active).count();
    out.push_back(std::move(info));
  }
  return out;
}

std::size_t Server::Impl::kill(const std::function<bool(const ClientInfo&)>& which) {
  std::vector<std::shared_ptr<Connection>> victims;
  for (const ClientInfo& info : list()) {
    if (!which(info)) continue;
    std::lock_guard lock(mu);
    auto it = entries.find(info.id);
    if (it == entries.end()) continue;
    if (auto c = it->second.connection.lock()) victims.push_back(std::move(c));
  }
  const std::size_t n = victims.size();
  if (n > 0) {
    asio::post(io, [victims = std::move(victims)] {
      for (const auto& c : victims) c->close();
    });
  }
  return n;
}

void Server::Impl::update(const Session& session) {
  std::lock_guard lock(mu);
  auto it = entries.find(session.id);
  if (it == entries.end()) return;
  it->second.info.name = session.name;
  it->second.info.user = session.user;
  it->second.info.resp3 = session.resp3;
  it->second.info.consistency = session.consistency;
}

void Server::Impl::record(const CommandSpec& spec, Clock::duration took, bool failed) {
  const std::size_t i = static_cast<std::size_t>(&spec - command_table().data());
  if (i >= metrics.size()) return;
  metrics[i].calls->inc();
  if (failed) metrics[i].errors->inc();
  metrics[i].latency->observe(took);
}

void Server::Impl::write_later(std::shared_ptr<Connection> c) {
  if (to_write.empty()) asio::post(io, [this] { write_queued(); });
  to_write.push_back(std::move(c));
}

void Server::Impl::write_queued() {
  std::vector<std::shared_ptr<Connection>> now;
  now.swap(to_write);
  for (const auto& c : now) c->write_now();
  // Keep the list's buffer for the next turn.
  now.clear();
  if (to_write.empty()) to_write.swap(now);
}

void Server::Impl::accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors (EMFILE) and the like: a retry at once would fail
      // at once, spinning the I/O thread; wait a little.
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](const boost::system::error_code& wait) {
        if (!wait && acceptor.is_open()) accept();
      });
      return;
    }
    {
      ctx.stats->connections_received.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      const auto remote = socket.remote_endpoint(ignored);
      const auto local = socket.local_endpoint(ignored);
      // A TLS client could not read a plaintext refusal: it is closed.
      if (refused_by_protected_mode(ctx.settings, remote.address().to_string())) {
        ctx.stats->connections_rejected.fetch_add(1, std::memory_order_relaxed);
        refuse(std::move(socket), tls ? std::string_view() : kProtectedModeReply);
        accept();
        return;
      }
      std::unique_lock lock(mu);
      if (entries.size() >= ctx.settings.max_clients) {
        lock.unlock();
        ctx.stats->connections_rejected.fetch_add(1, std::memory_order_relaxed);
        refuse(std::move(socket), tls ? "" : "-ERR max number of clients reached\r\n");
      } else if (std::unique_ptr<TlsSession> session = tls ? tls->session() : nullptr;
                 tls && !session) {
        lock.unlock();
        ctx.stats->tls_failures.fetch_add(1, std::memory_order_relaxed);
        refuse(std::move(socket), "");  // out of memory for its TLS state
      } else {
        const std::uint64_t id = next_id++;
        auto c = std::make_shared<Connection>(*this, std::move(socket), id, std::move(session));
        Entry& e = entries[id];
        e.connection = c;
        e.info.id = id;
        e.info.addr = endpoint_text(remote);
        e.info.laddr = endpoint_text(local);
        e.info.user = "default";
        e.info.consistency = ctx.settings.consistency;
        e.created = e.active = Clock::now();
        lock.unlock();
        if (connected != nullptr) connected->inc();
        c->start();
      }
    }
    accept();
  });
}

void Server::Impl::later_started() {
  later_pending.fetch_add(1, std::memory_order_relaxed);
}

void Server::Impl::later_posted() {
  later_pending.fetch_sub(1, std::memory_order_release);
}

void Server::Impl::wait_for_later() {
  // Polled: stop() is rare, and the callers stay free of any lock.
  while (later_pending.load(std::memory_order_acquire) != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Server::Impl::refuse(tcp::socket socket, std::string_view reply) {
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
  if (!reply.empty()) socket.write_some(asio::buffer(reply.data(), reply.size()), ignored);
  socket.close(ignored);
}

void Server::Impl::close_all() {
  boost::system::error_code ec;
  acceptor.close(ec);
  accept_retry.cancel();
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard lock(mu);
    for (auto& [id, e] : entries) {
      if (auto c = e.connection.lock()) all.push_back(std::move(c));
    }
  }
  for (const auto& c : all) c->close();
}

Server::Server(CommandContext& ctx) : impl_(std::make_unique<Impl>(ctx)) {}

Server::~Server() {
  stop();
}

Status Server::start() {
  Impl& s = *impl_;
  CommandContext& ctx = s.ctx;
  ctx.clients = &s;
  s.limits.max_bulk_bytes = ctx.settings.max_bulk_bytes;
  if (ctx.metrics != nullptr) {
    for (const CommandSpec& spec : command_table()) {
      const Labels labels{{"command", std::string(spec.name)}};
      s.metrics.push_back(CommandMetrics{
          &ctx.metrics->counter("dendrite_resp_commands_total",
                                "Commands the RESP front end ran, by command.", labels),
          &ctx.metrics->counter("dendrite_resp_command_errors_total",
                                "Commands that answered an error, by command.", labels),
          &ctx.metrics->histogram("dendrite_resp_command_duration_seconds",
                                  "Time from a command's start to its reply, by command.",
                                  Histogram::latency_bounds(), labels)});
    }
    s.connected = &ctx.metrics->gauge("dendrite_resp_connected_clients",
                                      "Open connections of the RESP front end.");
  }
  if (ctx.settings.tls) {
    auto loaded = TlsContext::load(*ctx.settings.tls);
    if (!loaded.ok()) return loaded.status();
    s.tls = std::move(loaded).value();
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(ctx.settings.host, ec);
  if (ec) {
    return Status::InvalidArgument("resp: listen address '" + ctx.settings.host +
                                   "' is not an IP address");
  }
  const tcp::endpoint at(address, static_cast<unsigned short>(ctx.settings.port));
  const std::string where = ctx.settings.host + ":" + std::to_string(ctx.settings.port);
  if (s.acceptor.open(at.protocol(), ec); ec) {
    return Status::Unavailable("resp: cannot listen on " + where + ": " + ec.message());
  }
  s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (s.acceptor.bind(at, ec); ec) {
    return Status::Unavailable("resp: cannot listen on " + where + ": " + ec.message());
  }
  if (s.acceptor.listen(SOMAXCONN, ec); ec) {
    return Status::Unavailable("resp: cannot listen on " + where + ": " + ec.message());
  }
  s.bound = endpoint_text(s.acceptor.local_endpoint(ec));
  ctx.node.listen = s.bound;  // before any thread reads it (INFO)
  s.workers = std::make_unique<asio::thread_pool>(static_cast<std::size_t>(ctx.settings.workers));
  s.guard.emplace(s.io.get_executor());
  s.accept();
  s.io_thread = std::thread([&s] { s.io.run(); });
  s.started = true;
  return Status::Ok();
}

void Server::stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  // Once close_all() ran on the I/O thread no connection starts a command.
  std::promise<void> closed;
  asio::post(s.io, [&s, &closed] {
    s.close_all();
    closed.set_value();
  });
  closed.get_future().wait();
  // Commands already on workers finish (dtable bounds each call) and post
  // their replies; the I/O thread then finds their connections closed.
  s.workers->join();
  // Replies that come later: writes waiting for the disk (within dtable's
  // sync) and requests sent to other nodes (within their timeout) answer;
  // their replies are posted to the I/O thread, which finds the connections
  // closed.
  s.wait_for_later();
  s.guard.reset();
  s.io_thread.join();
  s.ctx.clients = nullptr;
}

std::string Server::address() const {
  return impl_->bound;
}

std::size_t Server::connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->entries.size();
}

}  // namespace dendrite::resp
