#include "ring_view.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numbers>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "chord.pb.h"
#include "dendrite/vnode_json.h"
#include "metrics.pb.h"

namespace dendrite::metrics {
namespace {

using nlohmann::json;

json refs(const std::vector<Vnode>& list) {
  json out = json::array();
  for (const Vnode& v : list) out.push_back(vnode_to_json(v));
  return out;
}

std::string escape_xml(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// The position of `id` on the ring as a fraction of a turn, from its top 64 bits.
double turn_of(const Id& id) {
  std::uint64_t top = 0;
  for (int i = 0; i < 8; ++i) top = (top << 8) | id.bytes()[i];
  return static_cast<double>(top) / 18446744073709551616.0;  // 2^64
}

// A stable hue per host.
int hue_of(const std::string& host) {
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : host) h = (h ^ c) * 16777619u;
  return static_cast<int>(h % 360);
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string format_keys(double keys) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", keys);
  return buf;
}

}  // namespace

std::map<std::string, double> keys_by_vnode(const std::vector<MetricFamily>& snapshot) {
  std::map<std::string, double> out;
  for (const MetricFamily& f : snapshot) {
    if (f.name != "dendrite_dtable_items") continue;
    for (const MetricSample& s : f.samples) {
      std::string vnode, table;
      for (const auto& [k, v] : s.labels) {
        if (k == "vnode") vnode = v;
        if (k == "table") table = v;
      }
      if (table == "primary" && !vnode.empty()) out[vnode] += s.value;
    }
  }
  return out;
}

json local_view(Host& host, const std::map<std::string, double>& keys) {
  json doc;
  doc["address"] = host.address();
  doc["vnodes"] = json::array();
  for (const Vnode& v : host.local_vnodes()) {
    json j = vnode_to_json(v);
    auto pred = host.predecessor(v.id);
    j["predecessor"] = pred ? vnode_to_json(*pred) : json(nullptr);
    j["successors"] = refs(host.successors(v.id));
    j["fingers"] = refs(host.fingers(v.id));
    auto k = keys.find(v.id.hex());
    j["keys"] = k == keys.end() ? json(nullptr) : json(static_cast<std::int64_t>(k->second));
    doc["vnodes"].push_back(std::move(j));
  }
  return doc;
}

Result<std::vector<RingEntry>> walk_ring(Host& host, Milliseconds timeout, std::size_t max_steps) {
  std::unordered_map<Id, std::vector<Vnode>> successors;
  std::unordered_map<Id, double> keys;
  std::set<std::string> asked;

  // Loads the status and key counts of `node`; false when it does not answer.
  auto load = [&](const std::string& node) -> Result<bool> {
    asked.insert(node);
    auto reply = host.request(node, pack(msg::kHostStatus, PBHostStatusRequest()), timeout);
    if (!reply.ok()) return reply.status();
    if (Status e = error_of(*reply); !e.ok()) return e;
    auto decoded = unpack<PBHostStatusReply>(*reply, msg::kHostStatusReply);
    if (!decoded.ok()) return decoded.status();
    json doc = json::parse(decoded->json(), nullptr, /*allow_exceptions=*/false);
    auto vnodes = doc.is_object() ? doc.find("vnodes") : doc.end();
    if (!doc.is_object() || vnodes == doc.end() || !vnodes->is_array()) {
      return Status::Internal("bad status document from " + node);
    }
    for (const json& v : *vnodes) {
      auto self = vnode_from_json(v);
      auto succ = v.find("successors");
      if (!self || succ == v.end() || !succ->is_array()) continue;
      std::vector<Vnode> list;
      for (const json& s : *succ) {
        if (auto r = vnode_from_json(s)) list.push_back(*r);
      }
      successors[self->id] = std::move(list);
    }
    auto counts = host.request(
        node, pack(kVnodeKeys, dendrite_metrics::PBMetricsVnodeKeysRequest()), timeout);
    if (counts.ok() && error_of(*counts).ok()) {
      auto k = unpack<dendrite_metrics::PBMetricsVnodeKeysReply>(*counts, kVnodeKeysReply);
      if (k.ok()) {
        for (const auto& e : k->entries()) {
          if (auto id = Id::from_bytes(e.vnode())) keys[*id] = static_cast<double>(e.keys());
        }
      }
    }
    return true;
  };

  const std::vector<Vnode> local = host.local_vnodes();
  if (local.empty()) return Status::Internal("this host has no vnodes");
  if (auto first = load(host.address()); !first.ok()) return first.status();

  const Vnode start = local.front();
  std::vector<Vnode> ring{start};
  std::unordered_set<Id> visited{start.id};
  Vnode current = start;
  bool closed = false;
  for (std::size_t step = 0; step < max_steps && !closed; ++step) {
    const std::vector<Vnode> candidates = successors[current.id];  // copy: load() writes
    std::optional<Vnode> next;
    for (const Vnode& cand : candidates) {
      if (cand.id == start.id) {
        closed = true;
        break;
      }
      if (!successors.contains(cand.id)) {
        if (asked.contains(cand.host)) continue;
        if (!load(cand.host).ok() || !successors.contains(cand.id)) continue;
      }
      next = cand;
      break;
    }
    if (closed) break;
    if (!next) {
      return Status::Unavailable("no successor of vnode " + current.to_string() + " answers");
    }
    if (!visited.insert(next->id).second) {
      return Status::FailedPrecondition("successors loop back to " + next->to_string() +
                                        " without reaching the start (ring not settled)");
    }
    ring.push_back(*next);
    current = *next;
  }
  if (!closed) {
    return Status::FailedPrecondition("the ring walk did not return to the start within " +
                                      std::to_string(max_steps) + " steps");
  }
  std::rotate(ring.begin(),
              std::min_element(ring.begin(), ring.end(),
                               [](const Vnode& a, const Vnode& b) { return a.id < b.id; }),
              ring.end());
  std::vector<RingEntry> out;
  out.reserve(ring.size());
  for (const Vnode& v : ring) {
    auto k = keys.find(v.id);
    out.push_back(RingEntry{v, k == keys.end() ? std::nullopt : std::optional<double>(k->second)});
  }
  return out;
}

json walk_json(const std::vector<RingEntry>& ring) {
  json out = json::array();
  for (const RingEntry& e : ring) {
    json j = vnode_to_json(e.vnode);
    j["keys"] = e.keys ? json(static_cast<std::int64_t>(*e.keys)) : json(nullptr);
    out.push_back(std::move(j));
  }
  return out;
}

std::string render_svg(const std::vector<RingEntry>& ring, const std::string& self) {
  constexpr double kSize = 640, kCx = 320, kCy = 320, kR = 230;
  std::string svg;
  svg += R"(<svg xmlns="http://www.w3.org/2000/svg" id="ring" viewBox="0 0 )" + num(kSize + 260) +
         " " + num(kSize) + R"(" width=")" + num(kSize + 260) + R"(" height=")" + num(kSize) +
         R"(" data-vnodes=")" + std::to_string(ring.size()) + R"(">)";
  svg += R"(<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" )"
         R"(markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" )"
         R"(fill="#555"/></marker></defs>)";
  svg += R"(<circle cx=")" + num(kCx) + R"(" cy=")" + num(kCy) + R"(" r=")" + num(kR) +
         R"(" fill="none" stroke="#ccc" stroke-width="2"/>)";
  auto point = [&](const Id& id, double radius) {
    const double a = turn_of(id) * 2 * std::numbers::pi;
    return std::pair<double, double>(kCx + radius * std::sin(a), kCy - radius * std::cos(a));
  };
  // Arrows first, so the vnodes are drawn over them.
  if (ring.size() > 1) {
    for (std::size_t i = 0; i < ring.size(); ++i) {
      const Vnode& from = ring[i].vnode;
      const Vnode& to = ring[(i + 1) % ring.size()].vnode;
      auto [x1, y1] = point(from.id, kR);
      auto [x2, y2] = point(to.id, kR);
      // Bend the arrow towards the centre; stop short of the target's dot.
      const double mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
      const double qx = mx + (kCx - mx) * 0.25, qy = my + (kCy - my) * 0.25;
      const double dx = x2 - qx, dy = y2 - qy;
      const double len = std::max(1.0, std::hypot(dx, dy));
      const double ex = x2 - dx / len * 9, ey = y2 - dy / len * 9;
      svg += R"(<path class="succ" d="M)" + num(x1) + "," + num(y1) + " Q" + num(qx) + "," +
             num(qy) + " " + num(ex) + "," + num(ey) +
             R"~(" fill="none" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>)~";
    }
  }
  std::vector<std::string> hosts;
  for (const RingEntry& e : ring) {
    const Vnode& v = e.vnode;
    if (std::find(hosts.begin(), hosts.end(), v.host) == hosts.end()) hosts.push_back(v.host);
    auto [x, y] = point(v.id, kR);
    auto [lx, ly] = point(v.id, kR + 24);
    const std::string colour = "hsl(" + std::to_string(hue_of(v.host)) + ",65%,45%)";
    const std::string keys = e.keys ? format_keys(*e.keys) : "?";
    svg += R"(<g class="vnode" data-id=")" + v.id.hex() + R"(" data-host=")" + escape_xml(v.host) +
           R"(" data-keys=")" + (e.keys ? keys : "") + R"(">)";
    svg += "<title>" + v.id.hex() + " @ " + escape_xml(v.host) + ", " + keys + " keys</title>";
    svg += R"(<circle cx=")" + num(x) + R"(" cy=")" + num(y) + R"(" r="7" fill=")" + colour +
           R"(" stroke=")" + (v.host == self ? "#000" : "#fff") + R"(" stroke-width="2"/>)";
    svg += R"(<text x=")" + num(lx) + R"(" y=")" + num(ly) +
           R"(" font-size="11" text-anchor="middle" dominant-baseline="middle">)" + keys +
           "</text></g>";
  }
  std::sort(hosts.begin(), hosts.end());
  double y = 30;
  svg += R"(<text x=")" + num(kSize + 10) + R"(" y="14" font-size="12" font-weight="bold">)" +
         std::to_string(ring.size()) + " vnodes, " + std::to_string(hosts.size()) +
         " hosts (numbers: keys)</text>";
  for (const std::string& h : hosts) {
    svg += R"(<circle cx=")" + num(kSize + 16) + R"(" cy=")" + num(y) + R"(" r="6" fill="hsl()" +
           std::to_string(hue_of(h)) + R"~(,65%,45%)"/><text x=")~" + num(kSize + 28) + R"(" y=")" +
           num(y + 4) + R"(" font-size="12">)" + escape_xml(h) + (h == self ? " (this node)" : "") +
           "</text>";
    y += 18;
  }
  svg += "</svg>";
  return svg;
}

std::string render_page(const std::string& svg, const std::string& self, int refresh_ms) {
  std::string page =
      R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Dendrite ring at )" +
      escape_xml(self) +
      R"(</title>
<style>body{font-family:sans-serif;margin:1em}#status{color:#777;font-size:12px}</style>
</head><body>
<h1 style="font-size:18px">Dendrite ring seen from )" +
      escape_xml(self) + R"(</h1>
<div id="view">)" +
      svg + R"(</div>
<p id="status">refreshes every )" +
      std::to_string(refresh_ms / 1000.0).substr(0, 3) +
      R"( s &middot; <a href="ring?walk=1">ring JSON</a> &middot; <a href="metrics">metrics</a></p>
<script>
(function () {
  var view = document.getElementById('view'), status = document.getElementById('status');
  function refresh() {
    fetch('ring.svg?walk=1', {cache: 'no-store'}).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.text();
    }).then(function (text) {
      view.innerHTML = text;
      status.firstChild.textContent = 'updated ' + new Date().toLocaleTimeString() + ' ';
    }).catch(function (e) {
      status.firstChild.textContent = 'refresh failed: ' + e.message + ' ';
    });
  }
  setInterval(refresh, )" +
      std::to_string(refresh_ms) +
      R"();
})();
</script>
</body></html>
)";
  return page;
}

}  // namespace dendrite::metrics
