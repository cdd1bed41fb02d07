// caption_report: a caption_accuracy (metrics/caption_accuracy.hpp) as `vae eval` reports it, in JSON and on stderr.
#pragma once
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vae/core/tensor.hpp"
#include "vae/data/shapes.hpp"
#include "vae/io/atomic_file.hpp"
#include "vae/io/png.hpp"
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

// What the parser read from an image, one entry per object: {"object": "small red circle", "x": 12.5, "y": 40.1,
// "width": 13, "height": 13, "fill": 0.78} (x, y the centroid in pixels; fill of the bounding box).
inline nlohmann::json parsed_objects_json(const metrics::parsed_scene& scene) {
  nlohmann::json objects = nlohmann::json::array();
  for (const auto& o : scene.objects)
    objects.push_back({{"object", cat(data::name(o.size), " ", data::name(o.colour), " ", data::name(o.kind))},
                       {"x", o.cx},
                       {"y", o.cy},
                       {"width", o.width},
                       {"height", o.height},
                       {"fill", o.fill}});
  return objects;
}

// The images whose caption the parser does not read back in full (`vae eval --failures DIR`): every one in
// DIR/NAME.jsonl ({"index", "caption", "parsed"}), the first `max_images` in DIR/NAME.png, each beside the image it
// was made from where there is one (a reconstruction after its original), so that a low caption accuracy can be
// looked at rather than guessed at.
class caption_failures {
 public:
  static constexpr std::int64_t max_images = 64;

  // Image i of `images` was scored against `caption` and got `score`; `originals` (or nullptr) holds its source at i.
  void add(std::int64_t index, const std::string& caption, const metrics::caption_score& score,
           const metrics::parsed_scene& got, const tensor<float>& images, std::int64_t i,
           const tensor<float>* originals) {
    if (score.whole_right) return;
    lines_ += nlohmann::json{{"index", index}, {"caption", caption}, {"parsed", parsed_objects_json(got)}}.dump() + "\n";
    ++count_;
    if (count_ > max_images) return;
    const std::int64_t per = images.numel() / images.dim(0);
    if (originals != nullptr) pixels_.insert(pixels_.end(), originals->data() + i * per, originals->data() + (i + 1) * per);
    pixels_.insert(pixels_.end(), images.data() + i * per, images.data() + (i + 1) * per);
    image_shape_ = images.shape();
    pairs_ = originals != nullptr;
  }

  // Writes DIR/NAME.jsonl (always, empty when nothing failed) and DIR/NAME.png (when something failed); one line on
  // stderr saying what was written.
  void write(const std::filesystem::path& dir, const std::string& name) const {
    std::filesystem::create_directories(dir);
    io::write_text_atomically(dir / (name + ".jsonl"), lines_);
    if (count_ == 0) {
      std::cerr << "no caption failures: wrote an empty " << (dir / (name + ".jsonl")).string() << "\n";
      return;
    }
    shape s = image_shape_;
    s[0] = static_cast<std::int64_t>(pixels_.size()) / (image_shape_.numel() / image_shape_[0]);
    tensor<float> grid(s);
    std::copy(pixels_.begin(), pixels_.end(), grid.data());
    io::write_png_grid((dir / (name + ".png")).string(), grid, pairs_ ? 16 : 8);  // 8 entries a row
    std::cerr << count_ << " caption failures in " << (dir / (name + ".jsonl")).string() << "; the first "
              << std::min(count_, max_images) << " in " << (dir / (name + ".png")).string()
              << (pairs_ ? " (each original, then its reconstruction)" : "") << "\n";
  }

 private:
  std::string lines_;
  std::int64_t count_ = 0;
  std::vector<float> pixels_;
  shape image_shape_;
  bool pairs_ = false;
};

}  // namespace vae::cli
