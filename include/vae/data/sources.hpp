// The per-format sources load_dataset reads (arrays, IDX, npy, image folders, captioned folders, shapes).
#pragma once
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/data/captions.hpp"
#include "vae/data/idx.hpp"
#include "vae/data/load_options.hpp"
#include "vae/data/resample.hpp"
#include "vae/data/shapes.hpp"
#include "vae/data/value_checks.hpp"
#include "vae/io/npy.hpp"
#include "vae/io/png.hpp"

namespace vae::data::detail {

// A loaded-but-not-yet-converted source: n images of c × h × w, optional labels, and a per-image loader.
struct source {
  std::int64_t n = 0, c = 0, h = 0, w = 0;
  std::vector<std::int32_t> labels;
  std::vector<std::string> captions;  // empty or one per image
  std::function<void(std::int64_t, float*)> load;
  std::shared_ptr<void> keep;  // owns the storage `load` reads
};

// A source over an in-memory array [N, C, H, W] (uint8 scaled by 1/255, or float taken as is).
template <class U>
source array_source(tensor<U> data, float scale, std::vector<std::int32_t> labels, const std::string& origin) {
  check(data.rank() == 3 || data.rank() == 4, [&] {
    return cat("load_dataset '", origin, "': expected images [N, H, W] or [N, C, H, W], got shape ", data.shape());
  });
  if (data.rank() == 3) data.reshape(shape{data.dim(0), 1, data.dim(1), data.dim(2)});
  check(labels.empty() || static_cast<std::int64_t>(labels.size()) == data.dim(0), [&] {
    return cat("load_dataset '", origin, "': ", labels.size(), " labels for ", data.dim(0), " images");
  });
  source s;
  s.n = data.dim(0);
  s.c = data.dim(1);
  s.h = data.dim(2);
  s.w = data.dim(3);
  s.labels = std::move(labels);
  auto owned = std::make_shared<tensor<U>>(std::move(data));
  const std::int64_t per = s.c * s.h * s.w;
  s.load = [owned, per, scale](std::int64_t i, float* dst) {
    const U* p = owned->data() + i * per;
    for (std::int64_t k = 0; k < per; ++k) dst[k] = static_cast<float>(p[k]) * scale;
  };
  s.keep = owned;
  return s;
}

inline bool exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}
// "<base>.gz" if present, else "<base>" if present, else "".
inline std::string find_idx(const std::string& base) {
  if (exists(base + ".gz")) return base + ".gz";
  if (exists(base)) return base;
  return "";
}

inline source idx_source(const std::string& images, const std::string& labels) {
  auto img = read_idx_images(images);
  std::vector<std::int32_t> lab;
  if (!labels.empty()) lab = read_idx_labels(labels);
  check(lab.empty() || static_cast<std::int64_t>(lab.size()) == img.dim(0), [&] {
    return cat("load_dataset: '", labels, "' has ", lab.size(), " labels but '", images, "' has ", img.dim(0), " images");
  });
  return array_source(std::move(img), 1.f / 255.f, std::move(lab), images);
}

inline source npy_source(const std::string& images, const std::string& labels, const load_options& opt) {
  const auto a = io::read_npy(images);
  std::vector<std::int32_t> lab;
  if (!labels.empty()) {
    const auto l = io::read_npy(labels);
    check(l.dims.rank() == 1 && (l.type == io::dtype::i32 || l.type == io::dtype::i64 || l.type == io::dtype::u8),
          [&] { return cat("load_dataset: labels '", labels, "' must be a 1-d integer array, got shape ", l.dims); });
    const auto t = l.as<std::int32_t>();
    lab.assign(t.begin(), t.end());
  }
  if (a.type == io::dtype::u8) return array_source(a.as<std::uint8_t>(), 1.f / 255.f, std::move(lab), images);
  check(a.type == io::dtype::f32 || a.type == io::dtype::f64, [&] {
    return cat("load_dataset '", images, "': images must be uint8 or float32/float64, got ", io::dtype_name(a.type));
  });
  // Checked as stored (float64 before it is narrowed), over the whole file: indices are the file's own.
  if (a.type == io::dtype::f64) {
    const auto d = a.as<double>();
    check_values(d.data(), a.dims, opt.values, images, opt.values_for);
  }
  auto f = a.as<float>();
  check_values(f.data(), a.dims, opt.values, images, opt.values_for);  // float64 beyond float's range is inf now
  return array_source(std::move(f), 1.f, std::move(lab), images);
}

// A source over image files (PNG/JPEG/BMP), read one by one as they are converted.
inline source image_files_source(std::vector<std::string> files, std::vector<std::int32_t> labels, const load_options& opt) {
  // Channels and size come from the first image unless the options fix them.
  const auto first = io::read_image(files[0]);
  source s;
  s.n = static_cast<std::int64_t>(files.size());
  s.c = opt.channels ? opt.channels : (first.channels <= 2 ? 1 : 3);
  s.labels = std::move(labels);
  const int want = static_cast<int>(s.c);
  if (opt.image_size > 0) {
    s.h = s.w = opt.image_size;  // each file is cropped and resized as it is read
  } else {
    s.h = first.height;
    s.w = first.width;
  }
  auto names = std::make_shared<std::vector<std::string>>(std::move(files));
  const int size = opt.image_size;
  const std::int64_t H = s.h, W = s.w;
  s.load = [names, want, size, H, W](std::int64_t i, float* dst) {
    const auto& path = (*names)[static_cast<std::size_t>(i)];
    const auto im = io::read_image(path, want);
    if (size == 0) {
      check(im.height == H && im.width == W, [&] {
        return cat("load_dataset folder: '", path, "' is ", im.width, "x", im.height, " but the first image is ", W, "x",
                   H, " (set image_size to resize all images)");
      });
    }
    // interleaved HWC bytes -> planar CHW floats, then crop/resize to size × size if asked
    const std::int64_t h = im.height, w = im.width, plane = h * w;
    std::vector<float> planar(static_cast<std::size_t>(want * plane));
    for (std::int64_t p = 0; p < plane; ++p)
      for (int ch = 0; ch < want; ++ch)
        planar[static_cast<std::size_t>(ch * plane + p)] = im.pixels[static_cast<std::size_t>(p * want + ch)] / 255.f;
    if (size == 0 || (h == size && w == size)) {
      std::copy(planar.begin(), planar.end(), dst);
      return;
    }
    const std::int64_t m = std::min(h, w);
    const auto ay = make_axis((h - m) / 2, m, size), ax = make_axis((w - m) / 2, m, size);
    std::vector<float> tmp;
    for (int ch = 0; ch < want; ++ch)
      resample_plane(planar.data() + ch * plane, h, w, dst + static_cast<std::int64_t>(ch) * size * size, size, ay, ax, tmp);
  };
  s.keep = names;
  return s;
}

inline source folder_source(const std::string& dir, const load_options& opt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  check(fs::is_directory(dir, ec), [&] { return cat("load_dataset 'folder:", dir, "': not a directory"); });
  auto sorted_images = [](const fs::path& d) {
    std::vector<fs::path> v;
    for (const auto& e : fs::directory_iterator(d))
      if (e.is_regular_file() && is_image_file(e.path())) v.push_back(e.path());
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<std::string> files;
  std::vector<std::int32_t> labels;
  for (const auto& p : sorted_images(dir)) files.push_back(p.string());
  if (files.empty()) {  // ImageFolder layout: one sub-folder per class
    std::vector<fs::path> classes;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory()) classes.push_back(e.path());
    std::sort(classes.begin(), classes.end());
    for (std::size_t k = 0; k < classes.size(); ++k)
      for (const auto& p : sorted_images(classes[k])) {
        files.push_back(p.string());
        labels.push_back(static_cast<std::int32_t>(k));
      }
  }
  check(!files.empty(), [&] {
    return cat("load_dataset 'folder:", dir, "': no .png/.jpg/.jpeg/.bmp files in it or in its sub-folders");
  });
  return image_files_source(std::move(files), std::move(labels), opt);
}

// The entries idx of per-image values (labels, captions); empty stays empty (the source has none).
template <class T>
std::vector<T> pick(const std::vector<T>& values, std::span<const std::int64_t> idx) {
  std::vector<T> out;
  if (values.empty()) return out;
  out.reserve(idx.size());
  for (auto i : idx) out.push_back(values[static_cast<std::size_t>(i)]);
  return out;
}
inline std::vector<std::int32_t> pick_labels(const std::vector<std::int32_t>& labels, std::span<const std::int64_t> idx) {
  return pick(labels, idx);
}

// A captioned folder (data/captions.hpp): its images, captions one per image.
inline source folder_captions_source(const std::string& dir, const load_options& opt) {
  auto listed = list_captioned_folder(dir);
  std::vector<std::string> files, captions;
  for (auto& f : listed) {
    files.push_back(std::move(f.file));
    captions.push_back(std::move(f.caption));
  }
  auto s = image_files_source(std::move(files), {}, opt);
  s.captions = std::move(captions);
  return s;
}

// The shapes options of a "shapes[:KEY=VALUE,...]" argument; n and test receive the split sizes.
inline shapes_options parse_shapes_spec(const std::string& arg, const load_options& opt, std::int64_t& n, std::int64_t& test,
                                        std::uint64_t& seed) {
  shapes_options so;
  so.image_size = opt.image_size == 32 || opt.image_size == 64 || opt.image_size == 128 ? opt.image_size : 64;
  n = 10000;
  test = 1000;
  seed = opt.seed;
  std::size_t pos = 0;
  while (pos < arg.size()) {
    const auto end = std::min(arg.find(',', pos), arg.size());
    const std::string item = arg.substr(pos, end - pos);
    pos = end + 1;
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    std::size_t used = 0;
    bool ok = !value.empty();
    double number = 0;
    try {
      number = ok ? std::stod(value, &used) : 0;
    } catch (const std::exception&) {
      ok = false;
    }
    ok = ok && used == value.size();
    const bool whole = ok && number >= 0 && number == std::floor(number) && number < 9.0e15;
    if (key == "exclude") {  // COLOUR-SHAPE pairs joined by '+', e.g. red-triangle+blue-circle
      std::size_t at = 0;
      while (at <= value.size()) {
        const auto stop = std::min(value.find('+', at), value.size());
        const std::string pair = value.substr(at, stop - at), colour = pair.substr(0, pair.find('-'));
        const std::string kind = pair.find('-') == std::string::npos ? "" : pair.substr(pair.find('-') + 1);
        const auto c = word_to(colour, all_shape_colours);
        const auto k = word_to(kind, all_shape_kinds);
        check(c.has_value() && k.has_value(), [&] {
          return cat("load_dataset 'shapes:", arg, "': exclude= takes COLOUR-SHAPE pairs joined by '+' (e.g. ",
                     "red-triangle+blue-circle), got '", pair, "'");
        });
        so.excluded.emplace_back(*k, *c);
        at = stop + 1;
      }
      continue;
    }
    check((key == "two" ? ok : whole) && (key == "size" || key == "n" || key == "test" || key == "seed" || key == "two"), [&] {
      return cat("load_dataset 'shapes:", arg, "': expected KEY=VALUE items with keys size (32|64|128), n, test, seed "
                 "(whole numbers >= 0), two (a probability) and exclude (COLOUR-SHAPE+...), got '", item, "'");
    });
    if (key == "size") so.image_size = static_cast<int>(number);
    else if (key == "n") n = static_cast<std::int64_t>(number);
    else if (key == "test") test = static_cast<std::int64_t>(number);
    else if (key == "seed") seed = static_cast<std::uint64_t>(number);
    else so.two_objects = number;
  }
  check(n > 0 && n < (std::int64_t{1} << 31) && test < (std::int64_t{1} << 31),
        [&] { return cat("load_dataset 'shapes:", arg, "': n must be in [1, 2^31) and test below 2^31"); });
  return so;
}

// Scenes first .. first + n − 1 of a shapes stream: the scenes (and captions) now, each image rendered as it is read.
inline source shapes_source(std::int64_t n, std::int64_t first, std::uint64_t seed, const shapes_options& so) {
  check_shapes_options(so);
  auto scenes = std::make_shared<std::vector<shapes_scene>>(static_cast<std::size_t>(n));
  std::vector<std::string> errors(static_cast<std::size_t>(n));
  parallel_for(n, n * 2000, [&](std::int64_t i) {
    try {
      (*scenes)[static_cast<std::size_t>(i)] = sample_shapes_scene(seed, static_cast<std::uint64_t>(first + i), so);
    } catch (const vae::error& e) {  // rethrown below with its message
      errors[static_cast<std::size_t>(i)] = e.message();
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(i)] = e.what();
    }
  });
  for (const auto& e : errors) check(e.empty(), e);
  source s;
  s.n = n;
  s.c = 3;
  s.h = s.w = so.image_size;
  for (const auto& sc : *scenes) s.captions.push_back(sc.caption());
  s.load = [scenes](std::int64_t i, float* dst) { render_shapes_scene((*scenes)[static_cast<std::size_t>(i)], dst); };
  s.keep = scenes;
  return s;
}

inline std::vector<std::int64_t> first_n(std::int64_t n, std::int64_t limit) {
  if (limit > 0) n = std::min(n, limit);
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

}  // namespace vae::data::detail
