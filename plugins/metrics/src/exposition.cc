#include "exposition.h"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace dendrite::metrics {
namespace {

// `name{k="v",...[,le="bound"]} value\n`
void append_series(std::string& out, std::string_view name, const Labels& labels,
                   const std::string* le, const std::string& value) {
  out.append(name);
  if (!labels.empty() || le != nullptr) {
    out.push_back('{');
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out.push_back(',');
      first = false;
      out.append(k).append("=\"").append(escape_label_value(v)).push_back('"');
    }
    if (le != nullptr) {
      if (!first) out.push_back(',');
      out.append("le=\"").append(*le).push_back('"');
    }
    out.push_back('}');
  }
  out.push_back(' ');
  out.append(value);
  out.push_back('\n');
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {  // 2^53: exact integers
    return std::to_string(static_cast<std::int64_t>(v));
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::string render_exposition(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const MetricFamily& f : families) {
    out.append("# HELP ").append(f.name).push_back(' ');
    out.append(escape_help(f.help.empty() ? f.name : f.help)).push_back('\n');
    out.append("# TYPE ").append(f.name).push_back(' ');
    out.append(metric_type_name(f.type)).push_back('\n');
    if (f.type != MetricType::kHistogram) {
      for (const MetricSample& s : f.samples) {
        append_series(out, f.name, s.labels, nullptr, format_value(s.value));
      }
      continue;
    }
    const std::string bucket = f.name + "_bucket";
    for (const MetricSample& s : f.samples) {
      for (std::size_t i = 0; i < s.buckets.size(); ++i) {
        const std::string le = i < f.bounds.size() ? format_value(f.bounds[i]) : "+Inf";
        append_series(out, bucket, s.labels, &le, format_value(static_cast<double>(s.buckets[i])));
      }
      const double count = s.buckets.empty() ? 0 : static_cast<double>(s.buckets.back());
      append_series(out, f.name + "_sum", s.labels, nullptr, format_value(s.sum));
      append_series(out, f.name + "_count", s.labels, nullptr, format_value(count));
    }
  }
  return out;
}

}  // namespace dendrite::metrics
