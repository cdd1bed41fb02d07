// Run report: one self-contained HTML page of a training run (inline SVG curves, embedded PNGs, config, final metrics).
#pragma once
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vae/core/error.hpp"
#include "vae/io/atomic_file.hpp"

namespace vae {

// A picture of the run: its file name, a caption and the PNG file's bytes (embedded as a data: URI).
struct report_picture {
  std::string name;
  std::string caption;
  std::string png;
};

// What the page shows. `metrics` holds one JSON object per epoch (metrics.jsonl's lines).
struct run_report_data {
  std::string title;
  std::string source;  // where it came from (the run directory), shown under the title
  nlohmann::json config = nlohmann::json::object();
  std::vector<nlohmann::json> metrics;
  std::vector<report_picture> pictures;
};

// One chart: a title and the metric keys drawn in it (one line each, on one shared y axis).
struct report_chart {
  std::string title;
  std::vector<std::string> keys;
};

namespace report_detail {

inline std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

inline std::string base64(std::string_view bytes) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto a = static_cast<unsigned char>(bytes[i]), b = static_cast<unsigned char>(bytes[i + 1]),
               c = static_cast<unsigned char>(bytes[i + 2]);
    out += table[a >> 2];
    out += table[((a & 3) << 4) | (b >> 4)];
    out += table[((b & 15) << 2) | (c >> 6)];
    out += table[c & 63];
  }
  if (i < bytes.size()) {
    const auto a = static_cast<unsigned char>(bytes[i]);
    const unsigned b = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0u;
    out += table[a >> 2];
    out += table[((a & 3) << 4) | (b >> 4)];
    out += i + 1 < bytes.size() ? table[(b & 15) << 2] : '=';
    out += '=';
  }
  return out;
}

// "%.*g" of v: metric values and axis labels.
inline std::string format_number(double v, int digits = 6) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

// SVG coordinates: two decimals are finer than a screen pixel.
inline std::string coord(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Width and height from a PNG's IHDR chunk; throws naming `name` when the bytes are not a PNG.
inline std::pair<std::uint32_t, std::uint32_t> png_size(std::string_view png, const std::string& name) {
  static constexpr unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const bool ok = png.size() >= 24 && std::equal(signature, signature + 8, png.begin(), [](unsigned char a, char b) {
                    return a == static_cast<unsigned char>(b);
                  }) && png.substr(12, 4) == "IHDR";
  check(ok, [&] {
    return cat("run report: picture '", name, "' is not a PNG file (expected the PNG signature and an IHDR chunk, got ",
               png.size(), " bytes that do not start so)");
  });
  auto be32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) v = (v << 8) | static_cast<unsigned char>(png[at + k]);
    return v;
  };
  return {be32(16), be32(20)};
}

inline std::vector<std::string> key_words(const std::string& key) {
  std::vector<std::string> words;
  std::string w;
  for (const char c : key) {
    if (c == '_' || c == '-' || c == '.') {
      if (!w.empty()) words.push_back(std::move(w));
      w.clear();
    } else {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (!w.empty()) words.push_back(std::move(w));
  return words;
}

inline bool has_word(const std::vector<std::string>& words, std::string_view w) {
  return std::find(words.begin(), words.end(), w) != words.end();
}

// Bookkeeping keys that are not curves: the x axis (epoch, step), counts that are fixed for a run (n, the codebook
// size) and codes_used (codebook_usage times the size, drawn as the usage).
inline bool is_bookkeeping(const std::string& key, const std::vector<std::string>& w) {
  return key == "epoch" || key == "step" || key == "n" || (has_word(w, "codebook") && has_word(w, "size")) ||
         (has_word(w, "codes") && has_word(w, "used"));
}

// The chart a metric key belongs to. Keys are grouped by the words of their names, so metrics that later models add
// (a GAN's g_loss / d_loss / logits_real / disc_weight, an fid) find their chart without a change here; a key that
// matches no group gets a chart of its own.
inline std::string chart_title_of(const std::string& key) {
  const auto w = key_words(key);
  const bool loss = has_word(w, "loss");
  if (has_word(w, "logits")) return "Discriminator logits";
  if ((loss && (has_word(w, "g") || has_word(w, "d") || has_word(w, "gan") || has_word(w, "disc") ||
                has_word(w, "generator") || has_word(w, "discriminator"))) ||
      has_word(w, "hinge"))
    return "GAN losses";
  if (has_word(w, "weight") && (has_word(w, "disc") || has_word(w, "gan") || has_word(w, "adaptive")))
    return "Adaptive GAN weight";
  if (has_word(w, "fid")) return "FID";
  if (key == "loss" || key == "train_loss" || key == "test_loss") return "Loss (train, test)";
  if (has_word(w, "elbo")) return "ELBO (nats per image, higher is better)";
  if (has_word(w, "mse")) return "Reconstruction MSE (per pixel)";
  if (has_word(w, "kl") || has_word(w, "divergence") || has_word(w, "reconstruction") || has_word(w, "rec") ||
      has_word(w, "commitment") || has_word(w, "perceptual") || has_word(w, "quantizer") ||
      (loss && has_word(w, "codebook")))
    return "Loss parts";
  if (has_word(w, "codebook") && has_word(w, "usage")) return "Codebook usage (fraction of codes used)";
  if (has_word(w, "perplexity")) return "Codebook perplexity";
  if (has_word(w, "restarts")) return "Dead-code restarts";
  if (has_word(w, "per") && has_word(w, "s")) return "Throughput (samples per second)";
  if (has_word(w, "seconds")) return "Seconds per epoch";
  return key;
}

inline bool numeric(const nlohmann::json& v) { return v.is_number(); }  // booleans are not numbers in nlohmann::json

// The x value of record i: its "epoch" when every record has a numeric one, else i + 1.
inline std::vector<double> x_values(const std::vector<nlohmann::json>& metrics) {
  const bool epochs = std::all_of(metrics.begin(), metrics.end(),
                                  [](const nlohmann::json& r) { return r.contains("epoch") && numeric(r["epoch"]); });
  std::vector<double> x;
  for (std::size_t i = 0; i < metrics.size(); ++i)
    x.push_back(epochs ? metrics[i]["epoch"].get<double>() : static_cast<double>(i + 1));
  return x;
}

// About `target` round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi].
inline std::vector<double> ticks(double lo, double hi, int target = 5) {
  const double raw = (hi - lo) / std::max(1, target - 1);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double m = raw / p;
  const double step = (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

inline constexpr const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                          "#9467bd", "#8c564b", "#e377c2", "#17becf"};

}  // namespace report_detail

// The charts for `metrics`: every key with a number in some record, except the bookkeeping ones (epoch, step, n,
// codebook size, codes used), grouped by report_detail::chart_title_of. The known groups come first in a fixed order (loss,
// ELBO, MSE, ...), the others in the order their first key appears; keys in a chart in order of appearance.
inline std::vector<report_chart> report_charts(const std::vector<nlohmann::json>& metrics) {
  std::vector<report_chart> charts;
  std::set<std::string> seen;
  for (const auto& r : metrics) {
    if (!r.is_object()) continue;
    for (const auto& [key, value] : r.items()) {
      if (!report_detail::numeric(value) || seen.count(key) || report_detail::is_bookkeeping(key, report_detail::key_words(key))) continue;
      seen.insert(key);
      const auto title = report_detail::chart_title_of(key);
      auto it = std::find_if(charts.begin(), charts.end(), [&](const report_chart& c) { return c.title == title; });
      if (it == charts.end()) charts.push_back({title, {key}});
      else it->keys.push_back(key);
    }
  }
  // Fixed order of the known groups (loss first), then the rest as they came.
  static const std::vector<std::string> order = {
      "Loss (train, test)", "ELBO (nats per image, higher is better)", "Reconstruction MSE (per pixel)", "Loss parts",
      "Codebook usage (fraction of codes used)", "Codebook perplexity", "Dead-code restarts", "GAN losses",
      "Discriminator logits", "Adaptive GAN weight", "FID"};
  auto rank = [&](const report_chart& c) {
    const auto it = std::find(order.begin(), order.end(), c.title);
    return it == order.end() ? order.size() : static_cast<std::size_t>(it - order.begin());
  };
  std::stable_sort(charts.begin(), charts.end(), [&](const report_chart& a, const report_chart& b) {
    return rank(a) < rank(b);
  });
  return charts;
}

// One chart as an inline <svg>: a polyline per key through its finite values (a null or missing value breaks the
// line), a circle per point whose <title> names key, x and value (the browser shows it on hover, without script),
// axes with round ticks. Each polyline carries data-key="KEY" so that tests and tools can find a curve.
inline std::string report_svg_chart(const report_chart& chart, const std::vector<nlohmann::json>& metrics) {
  constexpr double width = 376, height = 260, left = 62, right = 14, top = 32, bottom = 40;
  const auto xs = report_detail::x_values(metrics);
  double ylo = std::numeric_limits<double>::infinity(), yhi = -ylo, xlo = ylo, xhi = -ylo;
  for (std::size_t i = 0; i < metrics.size(); ++i)
    for (const auto& key : chart.keys)
      if (metrics[i].is_object() && metrics[i].contains(key) && report_detail::numeric(metrics[i][key])) {
        const double v = metrics[i][key].get<double>();
        if (!std::isfinite(v)) continue;
        ylo = std::min(ylo, v), yhi = std::max(yhi, v), xlo = std::min(xlo, xs[i]), xhi = std::max(xhi, xs[i]);
      }
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << ' ' << height << "\" role=\"img\" aria-label=\""
    << report_detail::html_escape(chart.title) << "\">\n<text class=\"title\" x=\"" << left << "\" y=\"20\">"
    << report_detail::html_escape(chart.title) << "</text>\n";
  if (!std::isfinite(ylo)) {
    s << "<text x=\"" << left << "\" y=\"" << height / 2 << "\">no finite values</text>\n</svg>";
    return s.str();
  }
  // A flat line or a single point: open the range around it so the point sits mid-chart.
  if (yhi - ylo <= 1e-12 * std::max(1.0, std::abs(yhi))) {
    const double pad = ylo != 0 ? std::abs(ylo) * 0.05 : 1.0;
    ylo -= pad, yhi += pad;
  } else {
    const double pad = (yhi - ylo) * 0.05;
    ylo -= pad, yhi += pad;
  }
  if (xhi - xlo < 1) xlo -= 0.5, xhi += 0.5;
  const double pw = width - left - right, ph = height - top - bottom;
  auto px = [&](double x) { return left + (x - xlo) / (xhi - xlo) * pw; };
  auto py = [&](double y) { return top + (yhi - y) / (yhi - ylo) * ph; };
  s << "<rect class=\"plot\" x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\"/>\n";
  for (const double t : report_detail::ticks(ylo, yhi)) {
    const auto y = report_detail::coord(py(t));
    s << "<line class=\"grid\" x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << y << "\" y2=\"" << y
      << "\"/><text class=\"ytick\" x=\"" << left - 6 << "\" y=\"" << y << "\">" << report_detail::format_number(t, 4)
      << "</text>\n";
  }
  for (const double t : report_detail::ticks(xlo, xhi, std::min(8, static_cast<int>(xhi - xlo) + 2))) {
    if (std::abs(t - std::round(t)) > 1e-9) continue;  // epochs are whole numbers
    const auto x = report_detail::coord(px(t));
    s << "<line class=\"grid\" x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << top << "\" y2=\"" << top + ph
      << "\"/><text class=\"xtick\" x=\"" << x << "\" y=\"" << top + ph + 16 << "\">" << report_detail::format_number(t, 4)
      << "</text>\n";
  }
  s << "<text class=\"xlabel\" x=\"" << left + pw / 2 << "\" y=\"" << height - 6 << "\">epoch</text>\n";
  for (std::size_t k = 0; k < chart.keys.size(); ++k) {
    const auto& key = chart.keys[k];
    const char* colour = report_detail::palette[k % std::size(report_detail::palette)];
    std::vector<std::vector<std::pair<double, double>>> runs(1);  // runs of consecutive finite points
    for (std::size_t i = 0; i < metrics.size(); ++i) {
      const bool has = metrics[i].is_object() && metrics[i].contains(key) && report_detail::numeric(metrics[i][key]) &&
                       std::isfinite(metrics[i][key].get<double>());
      if (has) runs.back().emplace_back(xs[i], metrics[i][key].get<double>());
      else if (!runs.back().empty()) runs.emplace_back();
    }
    for (const auto& run : runs) {
      if (run.empty()) continue;
      s << "<polyline data-key=\"" << report_detail::html_escape(key) << "\" stroke=\"" << colour << "\" points=\"";
      for (std::size_t i = 0; i < run.size(); ++i)
        s << (i ? " " : "") << report_detail::coord(px(run[i].first)) << ',' << report_detail::coord(py(run[i].second));
      s << "\"/>\n";
      for (const auto& [x, y] : run)
        s << "<circle cx=\"" << report_detail::coord(px(x)) << "\" cy=\"" << report_detail::coord(py(y)) << "\" r=\"3\" fill=\""
          << colour << "\"><title>" << report_detail::html_escape(key) << ", epoch " << report_detail::format_number(x) << ": "
          << report_detail::format_number(y) << "</title></circle>\n";
    }
  }
  s << "</svg>";
  return s.str();
}

namespace report_detail {

inline std::string json_cell(const nlohmann::json& v) {
  if (v.is_string()) return html_escape(v.get<std::string>());
  if (v.is_number_float()) return format_number(v.get<double>());
  return html_escape(v.dump());
}

inline constexpr const char* report_style = R"(
body { font: 14px/1.45 system-ui, -apple-system, "DejaVu Sans", sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin: 0 0 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 14px; }
figure { margin: 0; background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
figcaption { font-size: 12.5px; color: #444; max-width: 484px; }
.legend span { margin-right: 14px; white-space: nowrap; }
.legend i { display: inline-block; width: 12px; height: 3px; margin: 0 5px 3px 0; vertical-align: middle; }
svg.chart text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #333; }
svg.chart text.title { font-size: 13px; font-weight: 600; }
svg.chart text.ytick { text-anchor: end; dominant-baseline: middle; }
svg.chart text.xtick, svg.chart text.xlabel { text-anchor: middle; }
svg.chart rect.plot { fill: none; stroke: #999; }
svg.chart line.grid { stroke: #e6e6e6; }
svg.chart polyline { fill: none; stroke-width: 2; }
.pictures img { image-rendering: pixelated; display: block; }
table { border-collapse: collapse; background: #fff; }
td, th { border: 1px solid #ddd; padding: 3px 10px; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #f0f0f0; }
.tables { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
)";

}  // namespace report_detail

// The whole page. Valid HTML5 that is also well-formed XML (every element closed, attributes quoted, text escaped),
// with no script and no external resource: it opens the same from a file, a mail or an archive.
inline std::string render_run_report(const run_report_data& d) {
  using report_detail::html_escape;
  std::ostringstream s;
  s << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>" << html_escape(d.title)
    << "</title>\n<style>" << report_detail::report_style << "</style>\n</head>\n<body>\n<h1>" << html_escape(d.title)
    << "</h1>\n<p class=\"sub\">";
  if (!d.source.empty()) s << html_escape(d.source) << " &#183; ";
  s << d.metrics.size() << (d.metrics.size() == 1 ? " epoch" : " epochs") << " recorded";
  if (d.config.is_object() && d.config.contains("epochs")) s << " of " << report_detail::json_cell(d.config["epochs"]);
  std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  s << " &#183; written " << when << "</p>\n";

  s << "<h2>Training curves</h2>\n";
  const auto charts = report_charts(d.metrics);
  if (charts.empty()) s << "<p>No epoch has been recorded yet (metrics.jsonl has no numeric values).</p>\n";
  s << "<div class=\"charts\">\n";
  for (const auto& c : charts) {
    s << "<figure>" << report_svg_chart(c, d.metrics) << "\n<figcaption class=\"legend\">";
    for (std::size_t k = 0; k < c.keys.size(); ++k)
      s << "<span><i style=\"background:" << report_detail::palette[k % std::size(report_detail::palette)] << "\"></i>"
        << html_escape(c.keys[k]) << "</span>";
    s << "</figcaption></figure>\n";
  }
  s << "</div>\n";

  if (!d.pictures.empty()) {
    s << "<h2>Pictures</h2>\n<div class=\"charts pictures\">\n";
    for (const auto& p : d.pictures) {
      const auto [w, h] = report_detail::png_size(p.png, p.name);
      // Small grids (28-pixel images) are scaled up by a whole factor, drawn as crisp pixels.
      const std::uint32_t scale = std::clamp<std::uint32_t>(w ? 640 / w : 1, 1, 3);
      s << "<figure><img alt=\"" << html_escape(p.name) << "\" width=\"" << w * scale << "\" height=\"" << h * scale
        << "\" src=\"data:image/png;base64," << report_detail::base64(p.png) << "\"/>\n<figcaption><b>"
        << html_escape(p.name) << "</b>: " << html_escape(p.caption) << " (" << w << "&#215;" << h
        << " pixels)</figcaption></figure>\n";
    }
    s << "</div>\n";
  }

  s << "<div class=\"tables\">\n<div>\n<h2>Final metrics</h2>\n";
  if (d.metrics.empty() || !d.metrics.back().is_object()) {
    s << "<p>none yet</p>\n";
  } else {
    s << "<table>\n<tr><th>metric</th><th>last</th><th>min</th><th>max</th></tr>\n";
    for (const auto& [key, value] : d.metrics.back().items()) {
      s << "<tr><td>" << html_escape(key) << "</td><td>" << report_detail::json_cell(value) << "</td>";
      double lo = std::numeric_limits<double>::infinity(), hi = -lo;
      for (const auto& r : d.metrics)
        if (r.is_object() && r.contains(key) && report_detail::numeric(r[key]) && std::isfinite(r[key].get<double>()))
          lo = std::min(lo, r[key].get<double>()), hi = std::max(hi, r[key].get<double>());
      if (std::isfinite(lo)) s << "<td>" << report_detail::format_number(lo) << "</td><td>" << report_detail::format_number(hi) << "</td>";
      else s << "<td></td><td></td>";
      s << "</tr>\n";
    }
    s << "</table>\n";
  }
  s << "</div>\n<div>\n<h2>Config</h2>\n";
  if (d.config.is_object() && !d.config.empty()) {
    s << "<table>\n";
    for (const auto& [key, value] : d.config.items())
      s << "<tr><td>" << html_escape(key) << "</td><td>" << report_detail::json_cell(value) << "</td></tr>\n";
    s << "</table>\n";
  } else {
    s << "<p>none</p>\n";
  }
  s << "</div>\n</div>\n</body>\n</html>\n";
  return s.str();
}

namespace report_detail {

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  check(static_cast<bool>(in), [&] { return cat("run report: cannot read '", p.string(), "'"); });
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace report_detail

// Reads a run directory as `vae train` leaves it: config.json, metrics.jsonl (one object per line; blank lines are
// skipped) and every *.png (the known pictures first, with captions, then the others by name).
inline run_report_data read_run_report(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  for (const char* f : {"config.json", "metrics.jsonl"})
    check(fs::exists(dir / f), [&] {
      return cat("run report: '", dir.string(), "' is not a training run: it has no ", f,
                 " (both config.json and metrics.jsonl are written by `vae train --out DIR`)");
    });
  run_report_data d;
  d.source = dir.string();
  try {
    d.config = nlohmann::json::parse(report_detail::read_bytes(dir / "config.json"));
  } catch (const nlohmann::json::exception& e) {
    vae::detail::throw_error(cat("run report: '", (dir / "config.json").string(), "' is not valid JSON: ", e.what()));
  }
  check(d.config.is_object(), [&] {
    return cat("run report: '", (dir / "config.json").string(), "' must hold a JSON object, got ", d.config.type_name());
  });
  std::istringstream lines(report_detail::read_bytes(dir / "metrics.jsonl"));
  std::size_t line_no = 0;
  for (std::string line; std::getline(lines, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      vae::detail::throw_error(cat("run report: '", (dir / "metrics.jsonl").string(), "' line ", line_no,
                                   " is not valid JSON: ", e.what()));
    }
    check(j.is_object(), [&] {
      return cat("run report: '", (dir / "metrics.jsonl").string(), "' line ", line_no,
                 ": expected a JSON object per line, got ", j.type_name());
    });
    d.metrics.push_back(std::move(j));
  }
  d.title = cat("vae run: ", d.config.value("model", std::string("model")), " on ",
                d.config.value("data", std::string("data")));

  static const std::vector<std::pair<std::string, std::string>> known = {
      {"reconstructions.png", "test images (odd rows) over their reconstructions (the row below)"},
      {"samples.png", "decoded samples from the prior"},
      {"interpolation.png", "decodings along straight lines in latent space between pairs of test images, one pair per row"}};
  std::vector<std::string> others;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".png") {
      const auto name = e.path().filename().string();
      if (std::none_of(known.begin(), known.end(), [&](const auto& k) { return k.first == name; }))
        others.push_back(name);
    }
  std::sort(others.begin(), others.end());
  for (const auto& [name, caption] : known)
    if (fs::exists(dir / name)) d.pictures.push_back({name, caption, report_detail::read_bytes(dir / name)});
  for (const auto& name : others) d.pictures.push_back({name, "picture in the run directory", report_detail::read_bytes(dir / name)});
  for (const auto& p : d.pictures) report_detail::png_size(p.png, (dir / p.name).string());  // a non-PNG is named by its path
  return d;
}

// Writes DIR/report.html (or `out`) for the run in `dir`, atomically: a reader never sees half a page. Returns the
// file written.
inline std::filesystem::path write_run_report(const std::filesystem::path& dir, std::filesystem::path out = {}) {
  if (out.empty()) out = dir / "report.html";
  const auto html = render_run_report(read_run_report(dir));
  io::write_text_atomically(out, html);
  return out;
}

}  // namespace vae
