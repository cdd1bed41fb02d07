// Tests for data/dataset.hpp: every spec form on small generated files, held-out splits, conversions, resizing,
// binarize, and clear errors. (batch_sampler and gather: tests/data/batches.cpp; the real Fashion-MNIST:
// tests/data/fashion_mnist.cpp.)
#include "vae/data/dataset.hpp"
#include "../temp_folder.hpp"

#include <doctest/doctest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

namespace {
namespace fs = std::filesystem;
using vae::data::load_dataset;
using vae::data::load_options;

fs::path temp_dir() {
  static const vae::test::temp_folder dir("vae_test_dataset_");
  return dir.path();
}
// IDX images where every pixel of image i is value(i), and labels label(i).
void write_idx(const std::string& path, std::vector<std::uint32_t> dims, const std::vector<std::uint8_t>& data, bool gz) {
  std::vector<unsigned char> b = {0, 0, 8, static_cast<unsigned char>(dims.size())};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, b.data(), static_cast<unsigned>(b.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
}
void write_set(const std::string& prefix, std::uint32_t n, std::uint32_t h, std::uint32_t w, int offset, bool gz) {
  std::vector<std::uint8_t> px, lab;
  for (std::uint32_t i = 0; i < n; ++i) {
    for (std::uint32_t p = 0; p < h * w; ++p) px.push_back(static_cast<std::uint8_t>(offset + static_cast<int>(i)));
    lab.push_back(static_cast<std::uint8_t>((offset + static_cast<int>(i)) % 10));
  }
  write_idx(prefix + "-images-idx3-ubyte" + (gz ? ".gz" : ""), {n, h, w}, px, gz);
  write_idx(prefix + "-labels-idx1-ubyte" + (gz ? ".gz" : ""), {n}, lab, gz);
}
std::string error_of(const std::string& spec, const load_options& o = {}) {
  try {
    load_dataset(spec, o);
  } catch (const vae::error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("mnist-idx:DIR with train and t10k files keeps the given split") {
  const auto dir = temp_dir() / "mnist";
  fs::create_directories(dir);
  write_set((dir / "train").string(), 12, 4, 3, 0, true);
  write_set((dir / "t10k").string(), 5, 4, 3, 100, false);  // plain files are found too
  const auto d = load_dataset("mnist-idx:" + dir.string());
  CHECK(d.name == "mnist-idx:" + dir.string());
  CHECK(d.train_images.shape() == vae::shape{12, 1, 4, 3});
  CHECK(d.test_images.shape() == vae::shape{5, 1, 4, 3});
  CHECK(d.train_images[7 * 12 + 5] == doctest::Approx(7 / 255.f));
  CHECK(d.test_images[2 * 12] == doctest::Approx(102 / 255.f));
  REQUIRE(d.train_labels.size() == 12);
  CHECK(d.train_labels[11] == 1);
  REQUIRE(d.test_labels.size() == 5);
  CHECK(d.test_labels[4] == 4);

  load_options o;
  o.limit = 3;
  const auto small = load_dataset("mnist-idx:" + dir.string(), o);
  CHECK(small.train_images.dim(0) == 3);
  CHECK(small.test_images.dim(0) == 3);
  CHECK(small.test_labels.size() == 3);
}

TEST_CASE("mnist-idx:PREFIX holds out a deterministic, seeded test split") {
  const auto prefix = (temp_dir() / "pre").string();
  write_set(prefix, 40, 2, 2, 0, true);
  load_options o;
  o.test_fraction = 0.25;
  o.seed = 3;
  const auto a = load_dataset("mnist-idx:" + prefix, o);
  const auto b = load_dataset("mnist-idx:" + prefix, o);
  CHECK(a.train_images.dim(0) == 30);
  CHECK(a.test_images.dim(0) == 10);
  std::set<int> seen, test_ids;
  auto id = [](const vae::tensor<float>& t, std::int64_t i) { return static_cast<int>(std::lround(t[i * 4] * 255.f)); };
  for (std::int64_t i = 0; i < 30; ++i) seen.insert(id(a.train_images, i));
  for (std::int64_t i = 0; i < 10; ++i) {
    test_ids.insert(id(a.test_images, i));
    seen.insert(id(a.test_images, i));
    CHECK(a.test_labels[static_cast<std::size_t>(i)] == id(a.test_images, i) % 10);  // labels follow their images
    CHECK(id(b.test_images, i) == id(a.test_images, i));                          // same seed, same split
    if (i) CHECK(id(a.test_images, i) > id(a.test_images, i - 1));                 // source order kept
  }
  CHECK(seen.size() == 40);  // disjoint and complete
  o.seed = 4;
  const auto c = load_dataset("mnist-idx:" + prefix, o);
  std::set<int> other;
  for (std::int64_t i = 0; i < 10; ++i) other.insert(id(c.test_images, i));
  CHECK(other != test_ids);
  // The split does not depend on limit: the limited test set is a prefix of the full one.
  o.seed = 3;
  o.limit = 4;
  const auto l = load_dataset("mnist-idx:" + prefix, o);
  REQUIRE(l.test_images.dim(0) == 4);
  for (std::int64_t i = 0; i < 4; ++i) CHECK(id(l.test_images, i) == id(a.test_images, i));
  o.limit = 0;
  o.test_fraction = 0.0;
  const auto all = load_dataset("mnist-idx:" + prefix, o);
  CHECK(all.train_images.dim(0) == 40);
  CHECK(all.test_images.shape() == vae::shape{0, 1, 2, 2});
  CHECK(all.test_labels.empty());
}

TEST_CASE("resizing: area averaging when shrinking, bilinear when enlarging, centre crop to square") {
  // npy float [1, 1, 4, 4] -> 2x2: each output is the mean of a 2x2 block.
  float px[16];
  for (int i = 0; i < 16; ++i) px[i] = static_cast<float>(i) / 16.f;
  const auto p = (temp_dir() / "four.npy").string();
  vae::io::write_npy(p, px, vae::shape{1, 1, 4, 4});
  load_options o;
  o.image_size = 2;
  o.test_fraction = 0;
  auto d = load_dataset("npy:" + p, o);
  REQUIRE(d.train_images.shape() == vae::shape{1, 1, 2, 2});
  CHECK(d.train_images[0] == doctest::Approx((0 + 1 + 4 + 5) / 64.f));
  CHECK(d.train_images[3] == doctest::Approx((10 + 11 + 14 + 15) / 64.f));
  // 3x3 -> 2x2 uses fractional box coverage: output (0,0) covers rows/cols [0, 1.5).
  float p3[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  p3[0] = 1.f;
  const auto q = (temp_dir() / "three.npy").string();
  vae::io::write_npy(q, p3, vae::shape{1, 3, 3});
  d = load_dataset("npy:" + q, o);
  CHECK(d.train_images[0] == doctest::Approx(1.f / 2.25f));
  CHECK(d.train_images[1] == doctest::Approx(0.f));
  // 2x2 -> 4x4 bilinear with half-pixel centres (as PyTorch's align_corners=False).
  float p2[4] = {0.f, 1.f, 0.f, 1.f};
  const auto r = (temp_dir() / "two.npy").string();
  vae::io::write_npy(r, p2, vae::shape{1, 2, 2});
  o.image_size = 4;
  d = load_dataset("npy:" + r, o);
  REQUIRE(d.train_images.shape() == vae::shape{1, 1, 4, 4});
  CHECK(d.train_images[4] == doctest::Approx(0.f));
  CHECK(d.train_images[5] == doctest::Approx(0.25f));
  CHECK(d.train_images[6] == doctest::Approx(0.75f));
  CHECK(d.train_images[7] == doctest::Approx(1.f));
  // A 2x4 image is centre-cropped to its middle 2x2 before resizing (here to the same 2x2).
  float p24[8] = {9, 1, 2, 9, 9, 3, 4, 9};
  const auto s = (temp_dir() / "wide.npy").string();
  vae::io::write_npy(s, p24, vae::shape{1, 1, 2, 4});
  o.image_size = 2;
  d = load_dataset("npy:" + s, o);
  CHECK(d.train_images[0] == 1.f);
  CHECK(d.train_images[1] == 2.f);
  CHECK(d.train_images[2] == 3.f);
  CHECK(d.train_images[3] == 4.f);
}

TEST_CASE("npy: uint8 scaled by 1/255, labels file, channel conversion") {
  std::vector<std::uint8_t> u(3 * 2 * 2);
  for (std::size_t i = 0; i < u.size(); ++i) u[i] = static_cast<std::uint8_t>(i * 20);
  const auto p = (temp_dir() / "u8.npy").string();
  vae::io::write_npy(p, u.data(), vae::shape{3, 2, 2});
  const std::int64_t labels[3] = {7, 8, 9};
  const auto lp = (temp_dir() / "labels.npy").string();
  vae::io::write_npy(lp, labels, vae::shape{3});
  load_options o;
  o.test_fraction = 0;
  o.channels = 3;
  const auto d = load_dataset("npy:" + p + "," + lp, o);
  REQUIRE(d.train_images.shape() == vae::shape{3, 3, 2, 2});
  CHECK(d.train_images[1 * 12 + 2 * 4 + 1] == doctest::Approx(100 / 255.f));  // image 1, channel 2 = grey
  CHECK(d.train_labels == std::vector<std::int32_t>{7, 8, 9});

  // RGB float -> grey by luminance.
  float rgb[12] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0};  // one 2x2 image: R = 1, G = B = 0
  const auto rp = (temp_dir() / "rgb.npy").string();
  vae::io::write_npy(rp, rgb, vae::shape{1, 3, 2, 2});
  o.channels = 1;
  const auto g = load_dataset("npy:" + rp, o);
  REQUIRE(g.train_images.shape() == vae::shape{1, 1, 2, 2});
  CHECK(g.train_images[0] == doctest::Approx(0.299f));

  const std::int32_t bad_int[4] = {1, 2, 3, 4};
  const auto ip = (temp_dir() / "int.npy").string();
  vae::io::write_npy(ip, bad_int, vae::shape{1, 2, 2});
  CHECK(error_of("npy:" + ip).find("must be uint8 or float32/float64") != std::string::npos);
  CHECK(error_of("npy:" + p + "," + rp).find("labels") != std::string::npos);
  const std::int64_t two[2] = {1, 2};
  vae::io::write_npy(lp, two, vae::shape{2});
  CHECK(error_of("npy:" + p + "," + lp).find("2 labels for 3 images") != std::string::npos);
  float five[5 * 4] = {};
  const auto fp = (temp_dir() / "five.npy").string();
  vae::io::write_npy(fp, five, vae::shape{1, 5, 2, 2});
  o.channels = 3;
  CHECK(error_of("npy:" + fp, o).find("cannot convert 5 channels to 3") != std::string::npos);
  vae::io::write_npy(fp, five, vae::shape{20});
  CHECK(error_of("npy:" + fp).find("expected images [N, H, W] or [N, C, H, W]") != std::string::npos);
}

TEST_CASE("folder: class sub-folders give labels; files are resized and converted") {
  const auto root = temp_dir() / "imgs";
  fs::create_directories(root / "b_cats");
  fs::create_directories(root / "a_dogs");
  std::vector<std::uint8_t> red(6 * 4 * 3, 0), grey(4 * 4, 200);
  for (std::size_t i = 0; i < red.size(); i += 3) red[i] = 255;
  vae::io::write_png((root / "b_cats" / "x.png").string(), red.data(), 6, 4, 3);  // 6 wide, 4 high
  vae::io::write_png((root / "a_dogs" / "2.png").string(), grey.data(), 4, 4, 1);
  vae::io::write_png((root / "a_dogs" / "1.PNG").string(), grey.data(), 4, 4, 1);
  std::ofstream(root / "a_dogs" / "notes.txt") << "ignored";
  load_options o;
  o.test_fraction = 0;
  o.image_size = 2;
  auto d = load_dataset("folder:" + root.string(), o);
  REQUIRE(d.train_images.shape() == vae::shape{3, 1, 2, 2});  // channels from the first file (grey)
  CHECK(d.train_labels == std::vector<std::int32_t>{0, 0, 1});
  CHECK(d.train_images[0] == doctest::Approx(200 / 255.f));
  CHECK(d.train_images[8] == doctest::Approx(std::round(0.299 * 255) / 255.f).epsilon(0.01));  // stb's luminance of red
  o.channels = 3;
  d = load_dataset("folder:" + root.string(), o);
  REQUIRE(d.train_images.shape() == vae::shape{3, 3, 2, 2});
  CHECK(d.train_images[2 * 12 + 0] == doctest::Approx(1.f));  // red channel
  CHECK(d.train_images[2 * 12 + 4] == doctest::Approx(0.f));  // green channel
  o.image_size = 0;
  CHECK(error_of("folder:" + root.string(), o).find("set image_size") != std::string::npos);

  const auto flat = temp_dir() / "flat";
  fs::create_directories(flat);
  for (int i = 0; i < 7; ++i) vae::io::write_png((flat / (std::to_string(i) + ".png")).string(), grey.data(), 4, 4, 1);
  o = {};
  o.test_fraction = 2.0 / 7.0;
  d = load_dataset("folder:" + flat.string(), o);
  CHECK(d.train_images.shape() == vae::shape{5, 1, 4, 4});
  CHECK(d.test_images.shape() == vae::shape{2, 1, 4, 4});
  CHECK(d.train_labels.empty());
  CHECK(d.test_labels.empty());

  const auto empty = temp_dir() / "empty";
  fs::create_directories(empty);
  CHECK(error_of("folder:" + empty.string()).find("no .png/.jpg/.jpeg/.bmp files") != std::string::npos);
  CHECK(error_of("folder:" + (temp_dir() / "nope").string()).find("not a directory") != std::string::npos);
  std::ofstream(flat / "broken.png") << "not a png";
  CHECK(error_of("folder:" + flat.string()).find("broken.png': cannot decode") != std::string::npos);
}

TEST_CASE("load_dataset: unknown specs, bad options and a missing Fashion-MNIST give clear errors") {
  CHECK(error_of("cifar").find("unknown dataset 'cifar'") != std::string::npos);
  const auto e = error_of("fashion-mnist:" + (temp_dir() / "no_fashion").string());
  CHECK(e.find("train-images-idx3-ubyte.gz' not found") != std::string::npos);
  CHECK(e.find("apt-get install dataset-fashion-mnist") != std::string::npos);
  CHECK(error_of("mnist-idx:" + (temp_dir() / "zzz").string()).find("neither a directory nor a prefix") != std::string::npos);
  load_options o;
  o.channels = 2;
  CHECK(error_of("fashion-mnist", o).find("channels must be 0 (keep), 1 or 3") != std::string::npos);
  o = {};
  o.test_fraction = 1.0;
  CHECK(error_of("fashion-mnist", o).find("test_fraction must be in [0, 1)") != std::string::npos);
  // train and t10k of different sizes
  const auto dir = temp_dir() / "mismatch";
  fs::create_directories(dir);
  write_set((dir / "train").string(), 2, 4, 4, 0, false);
  write_set((dir / "t10k").string(), 2, 3, 3, 0, false);
  CHECK(error_of("mnist-idx:" + dir.string()).find("train images are 1x4x4 but test images are 1x3x3") != std::string::npos);
}

TEST_CASE("binarize thresholds strictly above") {
  vae::tensor<float> x(vae::shape{4});
  x[0] = 0.2f;
  x[1] = 0.5f;
  x[2] = 0.51f;
  x[3] = 1.f;
  const auto b = vae::data::binarize(x);
  CHECK(b.shape() == x.shape());
  CHECK(b[0] == 0.f);
  CHECK(b[1] == 0.f);
  CHECK(b[2] == 1.f);
  CHECK(b[3] == 1.f);
  CHECK(vae::data::binarize(x, 0.1f)[0] == 1.f);
}

TEST_CASE("is_shapes_spec: the shapes source with or without options, nothing that only starts alike") {
  CHECK(vae::data::is_shapes_spec("shapes"));
  CHECK(vae::data::is_shapes_spec("shapes:size=32,n=8"));
  CHECK_FALSE(vae::data::is_shapes_spec("shapesx"));
  CHECK_FALSE(vae::data::is_shapes_spec("fashion-mnist-captions"));
  CHECK_FALSE(vae::data::is_shapes_spec("folder:shapes"));
}
