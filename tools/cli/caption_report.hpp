// caption_report: a caption_accuracy (metrics/caption_accuracy.hpp) as `vae eval` reports it, in JSON and on stderr.
#pragma once
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "vae/data/shapes.hpp"
#include "vae/metrics/caption_accuracy.hpp"

namespace vae::cli {

// The accuracies and the shape confusion ({"small square": {"circle": 3, "square": 97, "triangle": 0, "missing": 0},
// ...}, rows no caption asked for left out) of images described as `what`; prints the summary and the wrong parses.
inline nlohmann::json caption_report(const metrics::caption_accuracy& acc, const std::string& what) {
  std::cerr << "caption accuracy of " << acc.images << " " << what << ": " << acc.summary() << "\n";
  if (const auto wrong = acc.shape_confusion_summary(); !wrong.empty())
    std::cerr << "  shapes parsed wrong (asked (count): parsed as): " << wrong << "\n";
  nlohmann::json confusion = nlohmann::json::object();
  for (std::size_t row = 0; row < acc.shape_confusion.size(); ++row) {
    const auto& r = acc.shape_confusion[row];
    if (r[0] + r[1] + r[2] + r[3] == 0) continue;
    auto& j = confusion[metrics::caption_accuracy::confusion_row_name(row)];
    for (std::size_t got = 0; got < 3; ++got) j[data::name(data::all_shape_kinds[got])] = r[got];
    j["missing"] = r[3];
  }
  return {{"images", acc.images},       {"whole", acc.whole()}, {"colour", acc.colour()},
          {"shape", acc.shape()},       {"size", acc.size()},   {"relation", acc.relation()},
          {"count", acc.count()},       {"shape_confusion", confusion}};
}

}  // namespace vae::cli
