// Output of the command-line client (see format.h).
#include "cli/format.h"

#include <ctime>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace weft::control::cli {

namespace {

using nlohmann::json;

std::string str(const json& j, const char* key, const std::string& fallback = {}) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

uint64_t num(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  double d = it->get<double>();
  return d > 0 ? static_cast<uint64_t>(d) : 0;
}

double real(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string percent(double share) {
  char buf[32];
  double p = share * 100.0;
  if (std::fabs(p - std::round(p)) < 0.05) {
    std::snprintf(buf, sizeof(buf), "%.0f%%", p);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f%%", p);
  }
  return buf;
}

std::string labelsText(const json& labels) {
  if (!labels.is_object() || labels.empty()) return {};
  std::string out;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (!out.empty()) out += ",";
    out += it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
  }
  return out;
}

std::string hostsOf(const json& item) {
  const json* obj = item.contains("object") ? &item["object"] : nullptr;
  if (!obj || !obj->is_object() || !obj->contains("spec") || !(*obj)["spec"].is_object()) {
    return "";
  }
  const json& spec = (*obj)["spec"];
  if (spec.contains("hosts") && spec["hosts"].is_array()) {
    std::string out;
    for (const auto& h : spec["hosts"]) {
      if (!h.is_string()) continue;
      if (!out.empty()) out += ",";
      out += h.get<std::string>();
    }
    return out;
  }
  if (spec.contains("host") && spec["host"].is_string()) return spec["host"].get<std::string>();
  if (spec.contains("address") && spec["address"].is_string()) {
    return spec["address"].get<std::string>();
  }
  return "";
}

std::string headerOpsText(const json& ops) {
  std::string out;
  for (const char* what : {"set", "add", "remove"}) {
    if (!ops.contains(what) || ops[what].empty()) continue;
    if (!out.empty()) out += "; ";
    out += std::string(what) + " ";
    const json& v = ops[what];
    if (v.is_object()) {
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out += (first ? "" : ", ") + it.key() + ": " +
               (it->is_string() ? it->get<std::string>() : it->dump());
        first = false;
      }
    } else if (v.is_array()) {
      bool first = true;
      for (const auto& e : v) {
        out += first ? "" : ", ";
        if (e.is_string()) {
          out += e.get<std::string>();
        } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
          out += e[0].get<std::string>() + ": " + e[1].get<std::string>();
        } else {
          out += e.dump();
        }
        first = false;
      }
    } else {
      out += v.dump();
    }
  }
  return out;
}

}  // namespace

std::string formatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string formatChanges(const json& items, const std::string& action) {
  std::string out;
  if (!items.is_array()) return out;
  for (const auto& i : items) {
    const std::string a = action.empty() ? str(i, "action", "applied") : action;
    out += a + " " + str(i, "kind") + " " + str(i, "namespace", "default") + "/" + str(i, "name") +
           "\n";
  }
  return out;
}

std::string formatResources(const json& list, bool with_kind) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head;
  if (with_kind) head.push_back("KIND");
  for (const char* h : {"NAMESPACE", "NAME", "HOSTS", "SOURCE", "REVISION"}) head.push_back(h);
  rows.push_back(head);
  const json items = list.is_array() ? list : json::array({list});
  for (const auto& item : items) {
    std::vector<std::string> row;
    if (with_kind) row.push_back(str(item, "kind"));
    std::string hosts = hostsOf(item);
    row.push_back(str(item, "namespace"));
    row.push_back(str(item, "name"));
    row.push_back(hosts.empty() ? "-" : hosts);
    row.push_back(str(item, "source", "-"));
    row.push_back(std::to_string(num(item, "revision")));
    rows.push_back(std::move(row));
  }
  return formatTable(rows);
}

std::string formatAge(double seconds) {
  if (seconds < 0) seconds = 0;
  char buf[32];
  if (seconds < 1) {
    std::snprintf(buf, sizeof(buf), "%.0fms", seconds * 1000);
  } else if (seconds < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", seconds);
  } else if (seconds < 3600) {
    std::snprintf(buf, sizeof(buf), "%.0fm%.0fs", std::floor(seconds / 60),
                  std::fmod(std::floor(seconds), 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%.0fh%.0fm", std::floor(seconds / 3600),
                  std::floor(std::fmod(seconds, 3600) / 60));
  }
  return buf;
}

std::string formatMs(uint64_t ms) {
  if (ms == 0) return "off";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string formatStatus(const json& nodes) {
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "WORKLOAD", "NAMESPACE", "VERSION", "ACKED", "STATUS", "LAST SEEN"}};
  std::vector<json> sorted;
  if (nodes.is_array()) sorted.assign(nodes.begin(), nodes.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const json& a, const json& b) { return str(a, "id") < str(b, "id"); });
  for (const auto& n : sorted) {
    std::string status = str(n, "status", "?");
    const std::string error = str(n, "error");
    if (status == "NACK" && !error.empty()) status += " (" + error + ")";
    const std::string build = str(n, "build_error");
    if (!build.empty()) status += " [not built: " + build + "]";
    std::string seen = formatAge(real(n, "last_seen_seconds")) + " ago";
    if (n.value("polling", false)) seen += " (polling)";
    rows.push_back({str(n, "id"), str(n, "workload"), str(n, "namespace"),
                    std::to_string(num(n, "version")), std::to_string(num(n, "version_acked")),
                    status, seen});
  }
  return formatTable(rows);
}

std::string formatExplain(const json& e) {
  std::string out;
  auto line = [&](const std::string& label, const std::string& value) {
    out += label + std::string(label.size() < 14 ? 14 - label.size() : 1, ' ') + value + "\n";
  };
  line("Node:",
       str(e, "node") + " (configuration version " + std::to_string(num(e, "version")) + ")");
  if (e.contains("request")) {
    const json& r = e["request"];
    line("Request:", str(r, "method", "GET") + " " + str(r, "authority") + str(r, "path"));
  }
  if (e.contains("virtual_host")) line("Virtual host:", str(e, "virtual_host"));
  if (e.contains("route")) {
    const json& r = e["route"];
    std::string route = str(r, "name");
    const std::string source = str(r, "local_source", str(r, "source"));
    if (!source.empty()) route += " (" + source + ")";
    if (r.contains("match_index")) {
      route += ", match " + std::to_string(num(r, "match_index"));
      const std::string mname = str(r, "match_name");
      if (!mname.empty()) route += " '" + mname + "'";
    } else {
      route += ", no match conditions";
    }
    line("Route:", route);
    // The route's name is "<VirtualService>.<namespace>[.<http rule>]".
    const std::string name = str(r, "name");
    const size_t dot = name.find('.');
    if (dot != std::string::npos && dot > 0) {
      const size_t dot2 = name.find('.', dot + 1);
      std::string from =
          "VirtualService " + name.substr(dot + 1, dot2 - dot - 1) + "/" + name.substr(0, dot);
      if (dot2 != std::string::npos) from += ", http rule '" + name.substr(dot2 + 1) + "'";
      line("", "from " + from);
    }
  }
  std::string result = str(e, "result");
  if (e.contains("status") && result != "routed") {
    result += " (status " + std::to_string(num(e, "status")) + ")";
  }
  line("Result:", result);
  if (e.contains("location")) line("Location:", str(e, "location"));
  if (e.contains("rewritten_path")) line("Path becomes:", str(e, "rewritten_path"));
  if (e.contains("rewritten_authority")) line("Host becomes:", str(e, "rewritten_authority"));
  if (e.contains("request_headers")) {
    line("Headers:", headerOpsText(e["request_headers"]));
  }
  if (e.contains("destinations") && e["destinations"].is_array()) {
    out += "Destinations:\n";
    for (const auto& d : e["destinations"]) {
      std::string head = "  " + str(d, "host") + ":" + std::to_string(num(d, "port"));
      const std::string subset = str(d, "subset");
      if (!subset.empty()) head += " subset " + subset;
      head +=
          ", weight " + std::to_string(num(d, "weight")) + " (" + percent(real(d, "share")) + ")";
      out += head + "\n";
      out +=
          "    cluster " + str(d, "cluster") + ", load balancer " + str(d, "load_balancer") + "\n";
      if (d.contains("request_headers")) {
        out += "    headers " + headerOpsText(d["request_headers"]) + "\n";
      }
      const json& eps = d.contains("endpoints") ? d["endpoints"] : json::array();
      if (!eps.is_array() || eps.empty()) {
        out += "    no endpoints: requests get 503 (response flag UH)\n";
      } else {
        std::vector<std::vector<std::string>> rows;
        for (const auto& ep : eps) {
          std::string labels = labelsText(ep.value("labels", json::object()));
          rows.push_back({"      " + str(ep, "address") + ":" + std::to_string(num(ep, "port")),
                          "weight " + std::to_string(num(ep, "weight")) + " (" +
                              percent(real(ep, "share")) + ")",
                          labels});
        }
        out += "    endpoints:\n" + formatTable(rows);
      }
      if (d.contains("connection_pool")) {
        const json& p = d["connection_pool"];
        std::string pool;
        if (num(p, "connect_timeout_ms") > 0) {
          pool += "connect timeout " + formatMs(num(p, "connect_timeout_ms"));
        }
        for (const auto& [key, label] :
             {std::pair{"max_connections", "max connections"},
              std::pair{"max_pending_requests", "max pending requests"},
              std::pair{"max_requests", "max requests"}, std::pair{"max_retries", "max retries"}}) {
          const uint64_t v = num(p, key);
          if (v == 0 || v >= 0xffffffffu) continue;  // unlimited
          pool += (pool.empty() ? "" : ", ") + std::string(label) + " " + std::to_string(v);
        }
        out += "    connection pool: " + (pool.empty() ? std::string("defaults") : pool) + "\n";
      }
      if (d.contains("outlier_detection")) {
        const json& o = d["outlier_detection"];
        if (o.value("enabled", false)) {
          out += "    outlier detection: " + std::to_string(num(o, "consecutive_5xx")) +
                 " consecutive 5xx, base ejection " + formatMs(num(o, "base_ejection_ms")) +
                 ", at most " + std::to_string(num(o, "max_ejection_percent")) + "% ejected\n";
        } else {
          out += "    outlier detection: off\n";
        }
      }
    }
  }
  if (e.contains("policies")) {
    const json& p = e["policies"];
    out += "Policies:\n";
    out += "  timeout " + formatMs(num(p, "timeout_ms")) + "\n";
    const json& r = p.value("retries", json::object());
    if (num(r, "attempts") > 0) {
      std::string retries = "  retries " + std::to_string(num(r, "attempts")) + " attempts";
      if (num(r, "per_try_timeout_ms") > 0) {
        retries += " (per try " + formatMs(num(r, "per_try_timeout_ms")) + ")";
      }
      out += retries + "\n";
    } else {
      out += "  retries off\n";
    }
    const json& f = p.value("fault", json::object());
    std::string fault;
    if (num(f, "delay_ms") > 0) {
      fault += "delay " + formatMs(num(f, "delay_ms")) + " for " +
               percent(real(f, "delay_percent") / 100.0);
    }
    if (num(f, "abort_status") > 0) {
      if (!fault.empty()) fault += ", ";
      fault += "abort " + std::to_string(num(f, "abort_status")) + " for " +
               percent(real(f, "abort_percent") / 100.0);
    }
    out += "  fault " + (fault.empty() ? std::string("none") : fault) + "\n";
    out += "  mirrors " + std::to_string(num(p, "mirrors")) + "\n";
    out += std::string("  CORS ") + (p.value("cors", false) ? "on" : "off") + "\n";
  }
  return out;
}

namespace {

std::string utc(int64_t t) {
  if (t <= 0) return "-";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string formatCaStatus(const nlohmann::json& s) {
  auto num = [&](const char* k) { return s.contains(k) ? s[k].get<int64_t>() : int64_t{0}; };
  const std::string phase = s.value("phase", "none");
  std::string out = "phase: " + phase;
  if (phase == "distributing") {
    out +=
        " (the new root is trusted, not yet signing; it signs from " + utc(num("switch_at")) + ")";
  } else if (phase == "signing") {
    out += " (the new root signs; the old one is dropped once its " +
           std::to_string(num("outstanding_certificates")) +
           " certificate(s) are replaced or expired, by " + utc(num("drop_by")) + " at the latest)";
  }
  out += "\n";
  std::vector<std::vector<std::string>> rows = {{"ROOT", "STATE", "SIGNING", "EXPIRES", "SUBJECT"}};
  for (const auto& r : s.value("roots", nlohmann::json::array())) {
    rows.push_back({r.value("fingerprint", "").substr(0, 16), r.value("state", ""),
                    r.value("signing", false) ? "yes" : "no", utc(r.value("not_after", int64_t{0})),
                    r.value("subject", "")});
  }
  return out + formatTable(rows);
}

}  // namespace weft::control::cli
