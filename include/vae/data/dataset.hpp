// Image datasets: load_dataset("fashion-mnist" | "mnist-idx:…" | "npy:…" | "folder:…" | captioned sources), held-out splits.
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
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/data/batches.hpp"
#include "vae/data/load_options.hpp"
#include "vae/data/resample.hpp"
#include "vae/data/sources.hpp"

namespace vae::data {

struct dataset {
  std::string name;
  tensor<float> train_images, test_images;               // [N, C, H, W], values in [0, 1]
  std::vector<std::int32_t> train_labels, test_labels;  // empty when unknown
  std::vector<std::string> train_captions, test_captions;  // empty for sources without captions, else one per image
};

// Whether a load_dataset spec names the procedural shapes ("shapes" or "shapes:KEY=VALUE,..."), whose captions the
// caption parser (metrics/caption_accuracy.hpp) can score.
inline bool is_shapes_spec(std::string_view spec) { return spec == "shapes" || spec.starts_with("shapes:"); }

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

}  // namespace vae::data
