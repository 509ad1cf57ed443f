#include "dendrite/wire/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "dendrite/address.h"
#include "dendrite/private_file.h"

namespace dendrite::wire {
namespace {

// Key files and allow-lists are small; a larger file is not one of them.
constexpr std::size_t kMaxKeyFileBytes = 1 << 20;

std::string errno_text(int err) {
  return std::strerror(err);
}

// Drops spaces, tabs and a carriage return at either end.
std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

Result<std::string> read_small_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::InvalidArgument("cannot read key file " + path + ": " + errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument("key file " + path + " is not a regular file");
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxKeyFileBytes) {
    return Status::InvalidArgument("key file " + path + " is larger than " +
                                   std::to_string(kMaxKeyFileBytes) + " bytes: not a key file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument("cannot read key file " + path + ": " + errno_text(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// One line of an allow-list: a key, optionally followed by blanks and the
// host:port it serves. Nullopt when the line is no key at all (`why` says
// why); an error when it is a key followed by something that is no address.
Result<std::optional<ListedKey>> parse_key_line(std::string_view line, std::string& why) {
  std::string_view key = line;
  std::string_view rest;
  if (const std::size_t blank = line.find_first_of(" \t"); blank != std::string_view::npos) {
    key = line.substr(0, blank);
    rest = trim(line.substr(blank));
  }
  if (Status s = check_z85_key(key); !s.ok()) {
    why = s.message();
    return std::optional<ListedKey>();
  }
  if (rest.empty()) return std::optional<ListedKey>(ListedKey{std::string(key), {}});
  if (Status s = check_peer_address(rest); !s.ok()) {
    return Status::InvalidArgument("'" + std::string(rest) +
                                   "' after the key is no host:port address: " + s.message());
  }
  return std::optional<ListedKey>(ListedKey{std::string(key), std::string(rest)});
}

// The keys of a key file's text, in order; `path` names it in errors. Lines
// may name an address only when `addresses` allows it.
Result<std::vector<ListedKey>> parse_keys(const std::string& path, std::string_view text,
                                          bool addresses) {
  std::vector<ListedKey> keys;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t end = text.find('\n');
    const std::string_view line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    std::string why;
    auto parsed = parse_key_line(line, why);
    if (!parsed.ok()) return Status::InvalidArgument(where + parsed.status().message());
    if (!parsed->has_value()) {
      if (line.front() == '#') continue;
      return Status::InvalidArgument(where + why);
    }
    if (!(*parsed)->address.empty() && !addresses) {
      return Status::InvalidArgument(where + "a key file holds only a key, no address");
    }
    keys.push_back(std::move(**parsed));
  }
  return keys;
}

// The one key of the key file `path` whose content is `text`.
Result<std::string> one_key(const std::string& path, std::string_view text) {
  auto keys = parse_keys(path, text, /*addresses=*/false);
  if (!keys.ok()) return keys.status();
  if (keys->size() != 1) {
    return Status::InvalidArgument("key file " + path + " holds " + std::to_string(keys->size()) +
                                   " keys; expected exactly one");
  }
  return std::move(keys->front().key);
}

// The one key of the key file at `path`.
Result<std::string> read_one_key(const std::string& path) {
  auto text = read_small_file(path);
  if (!text.ok()) return text.status();
  return one_key(path, *text);
}

// Creates `path` (which must not exist) with `mode` (less the umask; with
// `exact`, `mode` itself), writes `text` and syncs it. Removes it on failure.
Status write_new_file(const std::string& path, const std::string& text, mode_t mode, bool exact) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) return Status::AlreadyExists(path + " exists; not overwriting a key");
    return Status::InvalidArgument("cannot create " + path + ": " + errno_text(err));
  }
  Status result = Status::Ok();
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      result = Status::InvalidArgument("cannot write " + path + ": " + errno_text(errno));
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (result.ok() && exact && ::fchmod(fd, mode) != 0) {
    result = Status::InvalidArgument("cannot set the mode of " + path + ": " + errno_text(errno));
  }
  if (result.ok() && ::fsync(fd) != 0) {
    result = Status::InvalidArgument("cannot sync " + path + ": " + errno_text(errno));
  }
  ::close(fd);
  if (!result.ok()) ::unlink(path.c_str());
  return result;
}

}  // namespace

bool curve_available() {
  return zmq_has("curve") != 0;
}

Result<CurveKeyPair> generate_curve_key_pair() {
  if (!curve_available()) {
    return Status::Unavailable("this libzmq was built without CURVE (libsodium)");
  }
  std::array<char, kZ85KeyChars + 1> pub{}, sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
    return Status::Internal(std::string("zmq_curve_keypair: ") + zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{std::string(pub.data(), kZ85KeyChars), std::string(sec.data(), kZ85KeyChars)};
}

Status check_z85_key(std::string_view text) {
  if (text.size() != kZ85KeyChars) {
    return Status::InvalidArgument("not a CURVE key: expected " + std::to_string(kZ85KeyChars) +
                                   " Z85 characters, got " + std::to_string(text.size()));
  }
  const std::string z85(text);
  std::array<std::uint8_t, 32> bytes{};
  if (zmq_z85_decode(bytes.data(), z85.c_str()) == nullptr) {
    return Status::InvalidArgument("not a CURVE key: not valid Z85 text");
  }
  return Status::Ok();
}

Result<std::string> public_key_of(std::string_view secret_key) {
  if (Status s = check_z85_key(secret_key); !s.ok()) return s;
  if (!curve_available()) {
    return Status::Unavailable("this libzmq was built without CURVE (libsodium)");
  }
  const std::string sec(secret_key);
  std::array<char, kZ85KeyChars + 1> pub{};
  if (zmq_curve_public(pub.data(), sec.c_str()) != 0) {
    return Status::InvalidArgument(std::string("not a CURVE secret key: ") +
                                   zmq_strerror(zmq_errno()));
  }
  return std::string(pub.data(), kZ85KeyChars);
}

Status write_curve_key_pair(const std::string& dir, const CurveKeyPair& pair) {
  if (Status s = check_z85_key(pair.public_key); !s.ok()) return s;
  if (Status s = check_z85_key(pair.secret_key); !s.ok()) return s;
  if (dir.empty()) return Status::InvalidArgument("no directory given for the key pair");
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::InvalidArgument("cannot create directory " + dir + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(dir + " is not a directory");
  }
  const std::string secret_path = dir + "/" + kSecretKeyFileName;
  const std::string public_path = dir + "/" + kPublicKeyFileName;
  for (const std::string& path : {secret_path, public_path}) {
    if (::lstat(path.c_str(), &st) == 0) {
      return Status::AlreadyExists(path + " exists; not overwriting a key");
    }
  }
  Status s = write_new_file(
      secret_path,
      "# Dendrite CURVE secret key (Z85). Keep it private (mode 0600).\n" + pair.secret_key + "\n",
      0600, /*exact=*/true);
  if (!s.ok()) return s;
  s = write_new_file(public_path,
                     "# Dendrite CURVE public key (Z85): list it in the nodes' \"nodes\" or "
                     "\"clients\" allow-list.\n" +
                         pair.public_key + "\n",
                     0644, /*exact=*/false);
  if (!s.ok()) {
    ::unlink(secret_path.c_str());  // no half of a pair
    return s;
  }
  return Status::Ok();
}

Result<std::string> read_public_key_file(const std::string& path) {
  return read_one_key(path);
}

Result<std::string> read_secret_key_file(const std::string& path) {
  auto text = read_private_file(path, kMaxKeyFileBytes);
  if (!text.ok()) {
    return Status::InvalidArgument("secret key file: " + text.status().message() +
                                   " (a secret key that may have been read needs a new pair)");
  }
  return one_key(path, *text);
}

namespace {

// read_key_list() and read_node_key_list(): entries are key lines or files of
// them; a line with an address counts once per (key, address).
Result<std::vector<ListedKey>> read_listed_keys(const std::vector<std::string>& entries,
                                                bool addresses) {
  std::vector<ListedKey> keys;
  auto add = [&](ListedKey key) {
    for (const ListedKey& k : keys) {
      if (k.key == key.key && k.address == key.address) return;
    }
    keys.push_back(std::move(key));
  };
  for (const std::string& entry : entries) {
    std::string why;
    auto as_line = parse_key_line(trim(entry), why);
    if (!as_line.ok())
      return Status::InvalidArgument("'" + entry + "': " + as_line.status().message());
    if (as_line->has_value()) {
      if (!(*as_line)->address.empty() && !addresses) {
        return Status::InvalidArgument("'" + entry + "': this list takes keys only, no address");
      }
      add(std::move(**as_line));
      continue;
    }
    struct stat st {};
    if (::stat(entry.c_str(), &st) != 0) {
      const int err = errno;
      return Status::InvalidArgument("'" + entry + "' is neither a CURVE key (" + why +
                                     ") nor a readable file (" + errno_text(err) + ")");
    }
    auto text = read_small_file(entry);
    if (!text.ok()) return text.status();
    auto found = parse_keys(entry, *text, addresses);
    if (!found.ok()) return found.status();
    for (ListedKey& k : *found) add(std::move(k));
  }
  return keys;
}

}  // namespace

Result<std::vector<std::string>> read_key_list(const std::vector<std::string>& entries) {
  auto listed = read_listed_keys(entries, /*addresses=*/false);
  if (!listed.ok()) return listed.status();
  std::vector<std::string> keys;
  keys.reserve(listed->size());
  for (ListedKey& k : *listed) keys.push_back(std::move(k.key));
  return keys;
}

Result<std::vector<ListedKey>> read_node_key_list(const std::vector<std::string>& entries) {
  return read_listed_keys(entries, /*addresses=*/true);
}

Result<CurveKeyPair> read_curve_key_pair(const std::string& secret_key_file,
                                         const std::string& public_key_file) {
  auto secret = read_secret_key_file(secret_key_file);
  if (!secret.ok()) return secret.status();
  auto derived = public_key_of(*secret);
  if (!derived.ok()) return derived.status();
  if (!public_key_file.empty()) {
    auto listed = read_public_key_file(public_key_file);
    if (!listed.ok()) return listed.status();
    if (*listed != *derived) {
      return Status::InvalidArgument(public_key_file + " holds " + *listed +
                                     ", which is not the public key of " + secret_key_file + " (" +
                                     *derived + ")");
    }
  }
  return CurveKeyPair{std::move(derived).value(), std::move(secret).value()};
}

std::vector<std::string> CurveIdentity::server_keys_for(std::string_view address) const {
  std::vector<std::string> keys;
  for (const ListedKey& k : nodes) {
    if (k.address == address) keys.push_back(k.key);
  }
  return keys;
}

}  // namespace dendrite::wire
