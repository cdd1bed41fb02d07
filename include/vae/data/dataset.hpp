// Image datasets: load_dataset("fashion-mnist" | "mnist-idx:…" | "npy:…" | "folder:…" | captioned sources), held-out splits, batches.
//
// Spec strings accepted by load_dataset:
//   fashion-mnist          Debian's dataset-fashion-mnist package: /usr/share/datasets/fashion-mnist/
//                          {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (60000 train + 10000 test, 28×28 grey).
//   fashion-mnist:DIR      the same four files from DIR.
//   mnist-idx:DIR          a directory with train-images-idx3-ubyte[.gz] (required), train-labels-idx1-ubyte[.gz],
//                          t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] (optional). Without the
//                          t10k images the test split is held out of train.
//   mnist-idx:PREFIX       PREFIX-images-idx3-ubyte[.gz] (required) and PREFIX-labels-idx1-ubyte[.gz] (optional),
//                          e.g. mnist-idx:data/train reads data/train-images-idx3-ubyte.gz; the test split is held out.
//   npy:IMAGES[,LABELS]    an .npy of [N, H, W] or [N, C, H, W]: uint8 is divided by 255, float32/float64 taken as
//                          is once their values fit load_options::values (value_checks.hpp); LABELS an optional
//                          integer .npy of [N]. The test split is held out.
//   folder:DIR             PNG/JPEG/BMP files directly in DIR (no labels), or in DIR's sub-folders (label = the
//                          sub-folder's index in sorted order, like torchvision's ImageFolder); files sorted by name.
//                          With image_size = 0 all images must share one size. The test split is held out.
// Captioned sources (dataset::train_captions / test_captions hold one caption per image; see data/captions.hpp):
//   fashion-mnist-captions[:DIR]  fashion-mnist with captions from the labels ("a photo of a sneaker", ...);
//                          the template of each image is drawn from load_options::seed.
//   folder-captions:DIR    images in DIR with NAME.txt beside each NAME.png, or DIR/captions.jsonl of
//                          {"file", "caption"}; missing captions are refused, naming the images. Test split held out.
//   shapes[:KEY=VALUE,...] procedural captioned shapes (data/shapes.hpp), generated as they are loaded: size=32|64|128
//                          (default: image_size when it is one of these, else 64), n=10000 training scenes, test=1000
//                          test scenes (scenes n .. n + test − 1 of the same stream), seed=load_options::seed,
//                          two=0.5 (share of two-object scenes), exclude=COLOUR-SHAPE+... ((shape, colour) pairs never
//                          drawn, in either split; held_out_only() draws the evaluation side). E.g.
//                          shapes:size=32,n=2000,seed=3,exclude=red-triangle+blue-circle.
// Every source is returned as float [N, C, H, W] in [0, 1]. Options: channels 1|3 converts (grey → RGB replicates,
// RGB → grey uses 0.299 R + 0.587 G + 0.114 B); image_size > 0 centre-crops to a square and resizes (area
// averaging when shrinking, bilinear when enlarging). A held-out split takes round(N × test_fraction) examples
// chosen by a seeded shuffle (the same seed gives the same split); both splits keep the source's order.
// limit > 0 keeps the first `limit` examples of each split (after the split, so the split does not depend on it).
#pragma once
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/data/captions.hpp"
#include "vae/data/idx.hpp"
#include "vae/data/shapes.hpp"
#include "vae/data/value_checks.hpp"
#include "vae/io/npy.hpp"
#include "vae/io/png.hpp"

namespace vae::data {

struct dataset {
  std::string name;
  tensor<float> train_images, test_images;               // [N, C, H, W], values in [0, 1]
  std::vector<std::int32_t> train_labels, test_labels;  // empty when unknown
  std::vector<std::string> train_captions, test_captions;  // empty for sources without captions, else one per image
};

struct load_options {
  int image_size = 0;  // 0 = keep the source's size; > 0 = centre-crop to a square and resize to image_size²
  int channels = 0;    // 0 = keep; 1 or 3 = convert
  double test_fraction = 1.0 / 7.0;  // held-out share, used only when the source has no test split; [0, 1)
  std::uint64_t seed = 0;            // seeds the held-out split, fashion-mnist-captions' templates, shapes (default)
  std::int64_t limit = 0;            // 0 = all; > 0 = at most this many examples in each split
  // Float arrays (npy) are refused, naming the file, element and fix, when a value is outside this domain
  // (see value_checks.hpp); `values_for` says who needs it in that message. uint8 sources are always in [0, 1].
  value_domain values = value_domain::finite;
  std::string values_for = "the model";
};

inline constexpr const char* fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

namespace detail {

// Per-axis resampling weights: output o reads sum_k w[o][k] * in[first[o] + k].
struct axis_weights {
  std::vector<std::int64_t> first;
  std::vector<std::vector<float>> w;
};

// Maps `len` input samples starting at `offset` (the centre crop) to `out` samples: box (area) weights when
// shrinking or keeping the size, bilinear (half-pixel centres, edge clamped) when enlarging.
inline axis_weights make_axis(std::int64_t offset, std::int64_t len, std::int64_t out) {
  axis_weights a;
  a.first.resize(static_cast<std::size_t>(out));
  a.w.resize(static_cast<std::size_t>(out));
  const double scale = static_cast<double>(len) / static_cast<double>(out);
  for (std::int64_t o = 0; o < out; ++o) {
    auto& w = a.w[static_cast<std::size_t>(o)];
    if (len >= out) {
      const double lo = o * scale, hi = (o + 1) * scale;
      const auto i0 = static_cast<std::int64_t>(std::floor(lo));
      const auto i1 = std::min<std::int64_t>(len, static_cast<std::int64_t>(std::ceil(hi)));
      a.first[static_cast<std::size_t>(o)] = offset + i0;
      for (std::int64_t i = i0; i < i1; ++i) {
        const double cover = std::min<double>(hi, static_cast<double>(i + 1)) - std::max<double>(lo, static_cast<double>(i));
        w.push_back(static_cast<float>(cover / scale));
      }
    } else {
      const double src = std::clamp((o + 0.5) * scale - 0.5, 0.0, static_cast<double>(len - 1));
      const auto i0 = static_cast<std::int64_t>(std::floor(src));
      const double f = src - static_cast<double>(i0);
      a.first[static_cast<std::size_t>(o)] = offset + i0;
      w.push_back(static_cast<float>(1.0 - f));
      if (i0 + 1 < len) w.push_back(static_cast<float>(f));
    }
  }
  return a;
}

// Resamples one h × w plane into an s × s plane (centre crop to min(h, w), then area/bilinear), separably.
inline void resample_plane(const float* in, std::int64_t h, std::int64_t w, float* out, std::int64_t s,
                           const axis_weights& ay, const axis_weights& ax, std::vector<float>& tmp) {
  (void)h;
  tmp.assign(static_cast<std::size_t>(ay.first.size() * w), 0.f);  // rows resampled first: s × w
  for (std::int64_t oy = 0; oy < s; ++oy) {
    const auto& wy = ay.w[static_cast<std::size_t>(oy)];
    const std::int64_t y0 = ay.first[static_cast<std::size_t>(oy)];
    float* t = tmp.data() + oy * w;
    for (std::size_t k = 0; k < wy.size(); ++k) {
      const float* row = in + (y0 + static_cast<std::int64_t>(k)) * w;
      for (std::int64_t x = 0; x < w; ++x) t[x] += wy[k] * row[x];
    }
  }
  for (std::int64_t oy = 0; oy < s; ++oy)
    for (std::int64_t ox = 0; ox < s; ++ox) {
      const auto& wx = ax.w[static_cast<std::size_t>(ox)];
      const float* t = tmp.data() + oy * w + ax.first[static_cast<std::size_t>(ox)];
      float acc = 0.f;
      for (std::size_t k = 0; k < wx.size(); ++k) acc += wx[k] * t[k];
      out[oy * s + ox] = acc;
    }
}

// Builds float [idx.size(), C', S, S] from a C × H × W source whose image i is read by load(i, plane_buffer)
// (which writes C·H·W floats in [0, 1]): converts channels to C' and resizes, one image per parallel iteration.
inline tensor<float> materialize(std::span<const std::int64_t> idx, std::int64_t c, std::int64_t h, std::int64_t w,
                                 const load_options& opt, const std::string& origin,
                                 const std::function<void(std::int64_t, float*)>& load) {
  const std::int64_t oc = opt.channels ? opt.channels : c;
  check(oc == c || ((c == 1 || c == 3) && (oc == 1 || oc == 3)), [&] {
    return cat("load_dataset '", origin, "': cannot convert ", c, " channels to ", oc, " (only 1 <-> 3)");
  });
  const bool resize = opt.image_size > 0 && (h != opt.image_size || w != opt.image_size);
  const std::int64_t oh = opt.image_size > 0 ? opt.image_size : h, ow = opt.image_size > 0 ? opt.image_size : w;
  const auto k = static_cast<std::int64_t>(idx.size());
  tensor<float> out(shape{k, oc, oh, ow});
  if (k == 0) return out;
  axis_weights ay, ax;
  if (resize) {
    const std::int64_t m = std::min(h, w);
    ay = make_axis((h - m) / 2, m, opt.image_size);
    ax = make_axis((w - m) / 2, m, opt.image_size);
  }
  const std::int64_t plane = h * w, oplane = oh * ow;
  std::vector<std::string> errors(static_cast<std::size_t>(k));
  parallel_for(k, k * oc * oplane * 8 + (1 << 20), [&](std::int64_t j) {
    std::vector<float> src(static_cast<std::size_t>(c * plane)), conv, tmp;
    try {
      load(idx[static_cast<std::size_t>(j)], src.data());
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(j)] = e.what();
      return;
    }
    const float* planes = src.data();
    if (oc != c) {
      conv.resize(static_cast<std::size_t>(oc * plane));
      if (oc == 3) {
        for (int ch = 0; ch < 3; ++ch) std::copy(src.begin(), src.begin() + plane, conv.begin() + ch * plane);
      } else {
        for (std::int64_t p = 0; p < plane; ++p)
          conv[static_cast<std::size_t>(p)] = 0.299f * src[static_cast<std::size_t>(p)] +
                                              0.587f * src[static_cast<std::size_t>(plane + p)] +
                                              0.114f * src[static_cast<std::size_t>(2 * plane + p)];
      }
      planes = conv.data();
    }
    float* dst = out.data() + j * oc * oplane;
    for (std::int64_t ch = 0; ch < oc; ++ch) {
      if (resize) resample_plane(planes + ch * plane, h, w, dst + ch * oplane, opt.image_size, ay, ax, tmp);
      else std::copy(planes + ch * plane, planes + (ch + 1) * plane, dst + ch * oplane);
    }
  });
  for (const auto& e : errors) check(e.empty(), e);
  return out;
}

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

}  // namespace detail

// Uniformly shuffles [0, n) with Fisher–Yates, drawing from generator `rng`.
inline std::vector<std::int64_t> random_permutation(std::int64_t n, generator& rng) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(i + 1)))]);
  return p;
}

// Loads a dataset from a spec string (see the top of this header for the forms and the options).
inline dataset load_dataset(const std::string& spec, const load_options& opt = {}) {
  check(opt.channels == 0 || opt.channels == 1 || opt.channels == 3,
        [&] { return cat("load_dataset: channels must be 0 (keep), 1 or 3, got ", opt.channels); });
  check(opt.image_size >= 0, [&] { return cat("load_dataset: image_size must be >= 0, got ", opt.image_size); });
  check(opt.test_fraction >= 0.0 && opt.test_fraction < 1.0,
        [&] { return cat("load_dataset: test_fraction must be in [0, 1), got ", opt.test_fraction); });
  check(opt.limit >= 0, [&] { return cat("load_dataset: limit must be >= 0, got ", opt.limit); });

  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon), arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  detail::source train, test;
  bool has_test = false;

  if (kind == "fashion-mnist" || kind == "fashion-mnist-captions") {
    const std::string dir = arg.empty() ? fashion_mnist_dir : arg;
    const char* names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                            "t10k-labels-idx1-ubyte"};
    std::string paths[4];
    for (int i = 0; i < 4; ++i) {
      paths[i] = detail::find_idx(dir + "/" + names[i]);
      check(!paths[i].empty(), [&] {
        return cat("load_dataset 'fashion-mnist': '", dir, "/", names[i],
                   ".gz' not found; install the data with: apt-get install dataset-fashion-mnist");
      });
    }
    train = detail::idx_source(paths[0], paths[1]);
    test = detail::idx_source(paths[2], paths[3]);
    has_test = true;
    if (kind == "fashion-mnist-captions") {
      train.captions = fashion_mnist_captions(train.labels, opt.seed, 0);
      test.captions = fashion_mnist_captions(test.labels, opt.seed, 1);
    }
  } else if (kind == "mnist-idx") {
    check(!arg.empty(), "load_dataset: 'mnist-idx:' needs a directory or a file prefix, e.g. mnist-idx:data/train");
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      const std::string ti = detail::find_idx(arg + "/train-images-idx3-ubyte");
      check(!ti.empty(), [&] {
        return cat("load_dataset 'mnist-idx:", arg, "': no train-images-idx3-ubyte[.gz] in that directory");
      });
      train = detail::idx_source(ti, detail::find_idx(arg + "/train-labels-idx1-ubyte"));
      const std::string vi = detail::find_idx(arg + "/t10k-images-idx3-ubyte");
      if (!vi.empty()) {
        test = detail::idx_source(vi, detail::find_idx(arg + "/t10k-labels-idx1-ubyte"));
        has_test = true;
      }
    } else {
      const std::string ti = detail::find_idx(arg + "-images-idx3-ubyte");
      check(!ti.empty(), [&] {
        return cat("load_dataset 'mnist-idx:", arg, "': neither a directory nor a prefix of '", arg,
                   "-images-idx3-ubyte[.gz]'");
      });
      train = detail::idx_source(ti, detail::find_idx(arg + "-labels-idx1-ubyte"));
    }
  } else if (kind == "npy") {
    check(!arg.empty(), "load_dataset: 'npy:' needs a file, e.g. npy:images.npy or npy:images.npy,labels.npy");
    const auto comma = arg.find(',');
    train = detail::npy_source(arg.substr(0, comma), comma == std::string::npos ? "" : arg.substr(comma + 1), opt);
  } else if (kind == "folder") {
    check(!arg.empty(), "load_dataset: 'folder:' needs a directory");
    train = detail::folder_source(arg, opt);
  } else if (kind == "folder-captions") {
    check(!arg.empty(), "load_dataset: 'folder-captions:' needs a directory");
    train = detail::folder_captions_source(arg, opt);
  } else if (kind == "shapes") {
    std::int64_t n = 0, n_test = 0;
    std::uint64_t seed = 0;
    const auto so = detail::parse_shapes_spec(arg, opt, n, n_test, seed);
    train = detail::shapes_source(n, 0, seed, so);
    test = detail::shapes_source(n_test, n, seed, so);
    has_test = true;
  } else {
    vae::detail::throw_error(cat("load_dataset: unknown dataset '", spec,
                                 "' (expected fashion-mnist, fashion-mnist:DIR, mnist-idx:DIR|PREFIX, npy:FILE[,LABELS], "
                                 "folder:DIR, fashion-mnist-captions[:DIR], folder-captions:DIR or shapes[:size=64,n=10000,...])"));
  }

  if (has_test)
    check(train.c == test.c && train.h == test.h && train.w == test.w, [&] {
      return cat("load_dataset '", spec, "': train images are ", train.c, "x", train.h, "x", train.w, " but test images are ",
                 test.c, "x", test.h, "x", test.w);
    });

  std::vector<std::int64_t> train_idx, test_idx;
  if (has_test) {
    train_idx = detail::first_n(train.n, opt.limit);
    test_idx = detail::first_n(test.n, opt.limit);
  } else {
    const auto n_test = std::min<std::int64_t>(
        train.n, static_cast<std::int64_t>(std::llround(static_cast<double>(train.n) * opt.test_fraction)));
    generator rng(opt.seed);
    auto perm = random_permutation(train.n, rng);
    test_idx.assign(perm.begin(), perm.begin() + n_test);
    train_idx.assign(perm.begin() + n_test, perm.end());
    std::sort(test_idx.begin(), test_idx.end());
    std::sort(train_idx.begin(), train_idx.end());
    if (opt.limit > 0) {
      if (static_cast<std::int64_t>(train_idx.size()) > opt.limit) train_idx.resize(static_cast<std::size_t>(opt.limit));
      if (static_cast<std::int64_t>(test_idx.size()) > opt.limit) test_idx.resize(static_cast<std::size_t>(opt.limit));
    }
  }
  const detail::source& tsrc = has_test ? test : train;

  dataset d;
  d.name = spec;
  d.train_images = detail::materialize(train_idx, train.c, train.h, train.w, opt, spec, train.load);
  d.test_images = detail::materialize(test_idx, tsrc.c, tsrc.h, tsrc.w, opt, spec, tsrc.load);
  d.train_labels = detail::pick(train.labels, train_idx);
  d.test_labels = detail::pick(tsrc.labels, test_idx);
  d.train_captions = detail::pick(train.captions, train_idx);
  d.test_captions = detail::pick(tsrc.captions, test_idx);
  return d;
}

// 1 where x > threshold, else 0 (the usual "dynamically binarised" MNIST is binarize(bernoulli draw) instead).
inline tensor<float> binarize(const tensor<float>& x, float threshold = 0.5f) {
  tensor<float> out(x.shape());
  const float* p = x.data();
  float* q = out.data();
  parallel_for(x.numel(), x.numel(), [&](std::int64_t i) { q[i] = p[i] > threshold ? 1.f : 0.f; });
  return out;
}

// Shuffled mini-batches of indices into [0, n). Each epoch is a fresh permutation drawn from a disjoint range
// of one counter-based stream, so epoch e's order depends only on (seed, e). The last batch of an epoch may be
// short (n % batch indices) unless drop_last is set.
//   batch_sampler s(n, 64, seed); std::vector<std::int64_t> idx;
//   for (int e = 0; e < epochs; ++e) { while (s.next(idx)) gather(x, idx, batch), ...; s.new_epoch(); }
class batch_sampler {
 public:
  batch_sampler(std::int64_t n, std::int64_t batch, std::uint64_t seed, bool drop_last = false)
      : n_(n), batch_(batch), seed_(seed), drop_last_(drop_last) {
    check(n >= 0 && batch > 0, [&] { return cat("batch_sampler: expected n >= 0 and batch > 0, got n = ", n, ", batch = ", batch); });
    shuffle();
  }

  // Moves on to the next epoch: a new permutation, starting from its first batch.
  void new_epoch() {
    ++epoch_;
    shuffle();
  }
  // Fills idx with the next batch of this epoch; returns false (idx empty) when the epoch is exhausted.
  bool next(std::vector<std::int64_t>& idx) {
    idx.clear();
    const std::int64_t left = n_ - cursor_;
    if (left <= 0 || (drop_last_ && left < batch_)) return false;
    const std::int64_t take = std::min(left, batch_);
    idx.assign(order_.begin() + cursor_, order_.begin() + cursor_ + take);
    cursor_ += take;
    return true;
  }

  std::int64_t epoch() const { return epoch_; }
  std::int64_t size() const { return n_; }
  std::int64_t batch_size() const { return batch_; }
  std::int64_t batches_per_epoch() const { return drop_last_ ? n_ / batch_ : (n_ + batch_ - 1) / batch_; }

 private:
  void shuffle() {
    generator rng(seed_);
    rng.set_offset(static_cast<std::uint64_t>(epoch_) * static_cast<std::uint64_t>(n_));  // n - 1 draws per epoch
    order_ = random_permutation(n_, rng);
    cursor_ = 0;
  }
  std::int64_t n_, batch_;
  std::uint64_t seed_;
  bool drop_last_;
  std::int64_t epoch_ = 0, cursor_ = 0;
  std::vector<std::int64_t> order_;
};

// dst = src[idx] along the first axis: dst is resized to [idx.size(), src dims 1..] (reusing its capacity) and
// filled in parallel. Indices outside [0, src.dim(0)) are an error.
template <class T>
void gather(const tensor<T>& src, std::span<const std::int64_t> idx, tensor<T>& dst) {
  check(src.rank() >= 1, "gather: source tensor has rank 0");
  const std::int64_t n = src.dim(0), k = static_cast<std::int64_t>(idx.size());
  for (const auto i : idx)
    check(i >= 0 && i < n, [&] { return cat("gather: index ", i, " is outside [0, ", n, ") of source ", src.shape()); });
  std::vector<std::int64_t> dims = src.shape().to_vector();
  dims[0] = k;
  dst.resize(shape(dims));
  const std::int64_t per = n ? src.numel() / n : 0;
  const T* s = src.data();
  T* d = dst.data();
  parallel_for(k, k * per, [&](std::int64_t j) {
    std::copy(s + idx[static_cast<std::size_t>(j)] * per, s + (idx[static_cast<std::size_t>(j)] + 1) * per, d + j * per);
  });
}
template <class T>
void gather(const tensor<T>& src, const std::vector<std::int64_t>& idx, tensor<T>& dst) {
  gather(src, std::span<const std::int64_t>(idx), dst);
}

}  // namespace vae::data
