// The record format the fuzz targets read and tests/fuzz/make_seeds.cc
// writes: a sequence of [tag][length: 2 bytes, big-endian][length bytes]. A
// truncated last record is cut to what is there. Header-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dendrite::fuzz {

struct Record {
  std::uint8_t tag = 0;
  std::string_view bytes;
};

// Reads records off the front of the input.
class RecordReader {
 public:
  RecordReader(const std::uint8_t* data, std::size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}

  // The next record; false at the end of the input.
  bool next(Record& out) {
    if (rest_.size() < 3) return false;
    out.tag = static_cast<std::uint8_t>(rest_[0]);
    std::size_t n = (static_cast<std::size_t>(static_cast<unsigned char>(rest_[1])) << 8) |
                    static_cast<unsigned char>(rest_[2]);
    rest_.remove_prefix(3);
    if (n > rest_.size()) n = rest_.size();
    out.bytes = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }

 private:
  std::string_view rest_;
};

// Appends one record (bytes beyond 65535 are cut).
inline void append_record(std::string& out, std::uint8_t tag, std::string_view bytes) {
  if (bytes.size() > 0xFFFF) bytes = bytes.substr(0, 0xFFFF);
  out.push_back(static_cast<char>(tag));
  out.push_back(static_cast<char>((bytes.size() >> 8) & 0xFF));
  out.push_back(static_cast<char>(bytes.size() & 0xFF));
  out.append(bytes);
}

// Addresses and sizes shared by the targets and the seed generator, so that
// seeds name the vnodes the targets host.
inline constexpr const char* kRingHostA = "127.0.0.1:7001";  // the ring under test
inline constexpr const char* kRingHostB = "127.0.0.1:7002";  // its peer
inline constexpr int kRingVnodes = 2;
inline constexpr const char* kTableHost = "127.0.0.1:7100";  // the dtable node under test
inline constexpr const char* kTablePeer1 = "127.0.0.1:7101";
inline constexpr const char* kTablePeer2 = "127.0.0.1:7102";
inline constexpr int kTableVnodes = 2;

}  // namespace dendrite::fuzz
