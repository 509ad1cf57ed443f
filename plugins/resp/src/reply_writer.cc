#include "reply_writer.h"

#include <cmath>
#include <cstdio>

namespace dendrite::resp {

void ReplyWriter::header(char sigil, std::int64_t n) {
  out_->push_back(sigil);
  out_->append(std::to_string(n));
  out_->append("\r\n");
}

void ReplyWriter::line(char sigil, std::string_view text) {
  out_->push_back(sigil);
  const std::size_t start = out_->size();
  out_->append(text);
  for (std::size_t i = start; i < out_->size(); ++i) {
    if ((*out_)[i] == '\r' || (*out_)[i] == '\n') (*out_)[i] = ' ';
  }
  out_->append("\r\n");
}

void ReplyWriter::simple(std::string_view text) {
  line('+', text);
}

void ReplyWriter::error(std::string_view text) {
  line('-', text);
}

void ReplyWriter::integer(std::int64_t n) {
  header(':', n);
}

void ReplyWriter::bulk(std::string_view bytes) {
  header('$', static_cast<std::int64_t>(bytes.size()));
  out_->append(bytes);
  out_->append("\r\n");
}

void ReplyWriter::null() {
  out_->append(resp3_ ? "_\r\n" : "$-1\r\n");
}

void ReplyWriter::null_array() {
  out_->append(resp3_ ? "_\r\n" : "*-1\r\n");
}

void ReplyWriter::array(std::size_t n) {
  header('*', static_cast<std::int64_t>(n));
}

void ReplyWriter::map(std::size_t n) {
  if (resp3_) {
    header('%', static_cast<std::int64_t>(n));
  } else {
    header('*', static_cast<std::int64_t>(2 * n));
  }
}

void ReplyWriter::set(std::size_t n) {
  header(resp3_ ? '~' : '*', static_cast<std::int64_t>(n));
}

void ReplyWriter::real(long double value) {
  const std::string text = format_real(value);
  if (resp3_) {
    line(',', text);
  } else {
    bulk(text);
  }
}

void ReplyWriter::verbatim(std::string_view text) {
  if (!resp3_) {
    bulk(text);
    return;
  }
  header('=', static_cast<std::int64_t>(text.size() + 4));
  out_->append("txt:");
  out_->append(text);
  out_->append("\r\n");
}

std::string format_real(long double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[5 * 1024];
  const int n = std::snprintf(buf, sizeof buf, "%.17Lf", value);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) return "nan";
  std::string text(buf, static_cast<std::size_t>(n));
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
  }
  if (text == "-0") text = "0";
  return text;
}

}  // namespace dendrite::resp
