// Commands about the connection itself: PING, ECHO, HELLO, AUTH, SELECT,
// QUIT, RESET, CLIENT.
#include <algorithm>

#include "handlers.h"

namespace dendrite::resp {
namespace {

// The Redis version whose command semantics the front end follows (HELLO,
// INFO redis_version); docs/resp.md says which commands exist.
constexpr std::string_view kRedisVersion = "7.0.0";

// Redis refuses client names with spaces, newlines or other special bytes.
bool valid_client_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char ch) { return ch > ' ' && ch <= '~'; });
}

void reply_no_password(ReplyWriter& reply) {
  reply.error(
      "ERR AUTH <password> called without any password configured for the default user. Are "
      "you sure your configuration is correct?");
}

// Checks `user` (name, password) against the config's users: on success the
// session is authenticated as it; else writes the error and returns false.
// Without users every connection is the passwordless "default" user: AUTH
// with that name succeeds (as with Redis's nopass default user), a bare
// password is an error, any other name WRONGPASS.
bool authenticate(Call& c, std::optional<std::string_view> name, std::string_view password) {
  if (c.ctx.settings.users.empty()) {
    if (!name) {
      reply_no_password(c.reply);
      return false;
    }
    if (*name == "default") return true;
    c.reply.error("WRONGPASS invalid username-password pair or user is disabled.");
    return false;
  }
  const User* user = find_user(c.ctx.settings, name.value_or("default"), password);
  if (user == nullptr) {
    c.reply.error("WRONGPASS invalid username-password pair or user is disabled.");
    return false;
  }
  c.session.authenticated = true;
  c.session.user = user->name;
  c.ctx.clients->update(c.session);
  return true;
}

std::string client_line(const ClientInfo& c) {
  return "id=" + std::to_string(c.id) + " addr=" + c.addr + " laddr=" + c.laddr +
         " fd=-1 name=" + c.name + " age=" + std::to_string(c.age_s) +
         " idle=" + std::to_string(c.idle_s) + " flags=N db=0 sub=0 psub=0 ssub=0 multi=-1" +
         " qbuf=" + std::to_string(c.query_buffer) + " qbuf-free=0 argv-mem=0 multi-mem=0" +
         " obl=0 oll=0 omem=" + std::to_string(c.output_buffer) +
         " tot-mem=0 events=r cmd=" + (c.last_command.empty() ? "NULL" : c.last_command) +
         " user=" + c.user + " redir=-1 resp=" + (c.resp3 ? "3" : "2") +
         " consistency=" + std::to_string(c.consistency) + "\n";
}

void client_list(Call& c, bool only_self) {
  std::string text;
  for (const ClientInfo& info : c.ctx.clients->list()) {
    if (only_self && info.id != c.session.id) continue;
    text += client_line(info);
  }
  c.reply.verbatim(text);
}

// CLIENT KILL addr | CLIENT KILL [ID id] [ADDR addr] [LADDR addr] [USER name]
// [SKIPME yes|no].
void client_kill(Call& c) {
  const auto& a = c.args;
  if (a.size() == 3) {
    const std::string addr = a[2];
    const std::size_t n =
        c.ctx.clients->kill([&](const ClientInfo& info) { return info.addr == addr; });
    if (n == 0) {
      c.reply.error("ERR No such client");
    } else {
      c.reply.simple("OK");
    }
    return;
  }
  if (a.size() % 2 != 0) return reply_syntax_error(c.reply);
  std::optional<std::uint64_t> id;
  std::optional<std::string> addr, laddr, user;
  bool skip_me = true;
  for (std::size_t i = 2; i + 1 < a.size(); i += 2) {
    if (iequals(a[i], "id")) {
      auto v = parse_int(a[i + 1]);
      if (!v || *v <= 0) {
        c.reply.error("ERR client-id should be greater than 0");
        return;
      }
      id = static_cast<std::uint64_t>(*v);
    } else if (iequals(a[i], "addr")) {
      addr = a[i + 1];
    } else if (iequals(a[i], "laddr")) {
      laddr = a[i + 1];
    } else if (iequals(a[i], "user")) {
      user = a[i + 1];
    } else if (iequals(a[i], "skipme")) {
      if (iequals(a[i + 1], "yes")) {
        skip_me = true;
      } else if (iequals(a[i + 1], "no")) {
        skip_me = false;
      } else {
        return reply_syntax_error(c.reply);
      }
    } else {
      return reply_syntax_error(c.reply);
    }
  }
  const std::uint64_t self = c.session.id;
  const std::size_t n = c.ctx.clients->kill([&](const ClientInfo& info) {
    return (!id || info.id == *id) && (!addr || info.addr == *addr) &&
           (!laddr || info.laddr == *laddr) && (!user || info.user == *user) &&
           !(skip_me && info.id == self);
  });
  c.reply.integer(static_cast<std::int64_t>(n));
}

void client_consistency(Call& c) {
  if (c.args.size() == 2) {
    c.reply.integer(c.session.consistency);
    return;
  }
  if (c.args.size() != 3) return reply_syntax_error(c.reply);
  const int max = c.ctx.table ? c.ctx.table->max_consistency() : 1;
  auto v = parse_int(c.args[2]);
  if (!v || *v < 1 || *v > max) {
    c.reply.error("ERR consistency must be an integer from 1 to " + std::to_string(max) +
                  " (replicas + 1)");
    return;
  }
  c.session.consistency = static_cast<int>(*v);
  c.ctx.clients->update(c.session);
  c.reply.simple("OK");
}

constexpr std::string_view kClientHelp[] = {
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSISTENCY [<n>]",
    "    Copies each read and write of this connection must reach (1 .. replicas+1).",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options: ID, ADDR, LADDR, USER, SKIPME.",
    "LIST",
    "    Return information about client connections.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "    Accepted and ignored.",
    "HELP",
    "    Print this help.",
};

}  // namespace

void cmd_ping(Call& c) {
  if (c.args.size() > 2) {
    c.reply.error("ERR wrong number of arguments for 'ping' command");
  } else if (c.args.size() == 2) {
    c.reply.bulk(c.args[1]);
  } else {
    c.reply.simple("PONG");
  }
}

void cmd_echo(Call& c) {
  c.reply.bulk(c.args[1]);
}

void cmd_auth(Call& c) {
  if (c.args.size() > 3) return reply_syntax_error(c.reply);
  const std::optional<std::string_view> name =
      c.args.size() == 3 ? std::optional<std::string_view>(c.args[1]) : std::nullopt;
  if (authenticate(c, name, c.args.back())) {
    c.reply.simple("OK");
  }
}

void cmd_hello(Call& c) {
  const auto& a = c.args;
  bool resp3 = c.session.resp3;
  std::size_t i = 1;
  if (a.size() > 1) {
    auto v = parse_int(a[1]);
    if (!v) {
      c.reply.error("ERR Protocol version is not an integer or out of range");
      return;
    }
    if (*v != 2 && *v != 3) {
      c.reply.error("NOPROTO unsupported protocol version");
      return;
    }
    resp3 = *v == 3;
    i = 2;
  }
  std::optional<std::string> name;
  bool auth = false;
  std::string_view user, password;
  for (; i < a.size(); ++i) {
    if (iequals(a[i], "auth") && i + 2 < a.size()) {
      auth = true;
      user = a[i + 1];
      password = a[i + 2];
      i += 2;
      continue;
    }
    if (iequals(a[i], "setname") && i + 1 < a.size()) {
      if (!valid_client_name(a[i + 1])) {
        c.reply.error("ERR Client names cannot contain spaces, newlines or special characters.");
        return;
      }
      name = a[++i];
      continue;
    }
    c.reply.error("ERR Syntax error in HELLO option '" + a[i] + "'");
    return;
  }
  if (auth && !authenticate(c, user, password)) return;
  if (!c.session.authenticated) {
    c.reply.error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise "
        "the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the "
        "client and select the RESP protocol version at the same time");
    return;
  }
  c.session.resp3 = resp3;
  if (name) c.session.name = *name;
  c.ctx.clients->update(c.session);
  c.reply.set_resp3(resp3);
  c.reply.map(7);
  c.reply.bulk("server");
  c.reply.bulk("redis");
  c.reply.bulk("version");
  c.reply.bulk(kRedisVersion);
  c.reply.bulk("proto");
  c.reply.integer(resp3 ? 3 : 2);
  c.reply.bulk("id");
  c.reply.integer(static_cast<std::int64_t>(c.session.id));
  c.reply.bulk("mode");
  c.reply.bulk("standalone");
  c.reply.bulk("role");
  c.reply.bulk("master");
  c.reply.bulk("modules");
  c.reply.array(0);
}

void cmd_select(Call& c) {
  auto v = parse_int(c.args[1]);
  if (!v) return reply_not_integer(c.reply);
  if (*v != 0) {
    c.reply.error("ERR DB index is out of range");
    return;
  }
  c.reply.simple("OK");
}

void cmd_quit(Call& c) {
  c.session.quit = true;
  c.reply.simple("OK");
}

void cmd_reset(Call& c) {
  Session& s = c.session;
  s.resp3 = false;
  s.name.clear();
  s.user = "default";
  s.authenticated = c.ctx.settings.users.empty();
  s.consistency = c.ctx.settings.consistency;
  c.ctx.clients->update(s);
  c.reply.set_resp3(false);
  c.reply.simple("RESET");
}

void cmd_client(Call& c) {
  const std::string& sub = c.args[1];
  const std::size_t n = c.args.size();
  if (iequals(sub, "id") && n == 2) {
    c.reply.integer(static_cast<std::int64_t>(c.session.id));
  } else if (iequals(sub, "getname") && n == 2) {
    if (c.session.name.empty()) {
      c.reply.null();
    } else {
      c.reply.bulk(c.session.name);
    }
  } else if (iequals(sub, "setname") && n == 3) {
    if (!valid_client_name(c.args[2])) {
      c.reply.error("ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    c.session.name = c.args[2];
    c.ctx.clients->update(c.session);
    c.reply.simple("OK");
  } else if (iequals(sub, "list") && n == 2) {
    client_list(c, false);
  } else if (iequals(sub, "info") && n == 2) {
    client_list(c, true);
  } else if (iequals(sub, "kill") && n >= 3) {
    client_kill(c);
  } else if (iequals(sub, "consistency") && n <= 3) {
    client_consistency(c);
  } else if (iequals(sub, "setinfo") && n == 4) {
    c.reply.simple("OK");
  } else if (iequals(sub, "help") && n == 2) {
    c.reply.array(std::size(kClientHelp));
    for (std::string_view line : kClientHelp) c.reply.simple(line);
  } else {
    c.reply.error("ERR unknown subcommand or wrong number of arguments for '" + sub +
                  "'. Try CLIENT HELP.");
  }
}

}  // namespace dendrite::resp
