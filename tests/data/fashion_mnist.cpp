// The real Fashion-MNIST through load_dataset("fashion-mnist"): skipped (exit 77) when dataset-fashion-mnist is absent.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "vae/data/dataset.hpp"

TEST_CASE("fashion-mnist: 60000 + 10000 grey 28x28 images in [0, 1] with labels 0..9") {
  if (!std::filesystem::exists(std::string(vae::data::fashion_mnist_dir) + "/train-images-idx3-ubyte.gz")) {
    std::printf("SKIP: %s not found (apt-get install dataset-fashion-mnist)\n", vae::data::fashion_mnist_dir);
    std::fflush(stdout);
    std::exit(77);
  }
  const auto d = vae::data::load_dataset("fashion-mnist");
  CHECK(d.train_images.shape() == vae::shape{60000, 1, 28, 28});
  CHECK(d.test_images.shape() == vae::shape{10000, 1, 28, 28});
  REQUIRE(d.train_labels.size() == 60000);
  REQUIRE(d.test_labels.size() == 10000);
  std::vector<int> counts(10, 0);
  int out_of_range = 0;
  for (auto l : d.train_labels) {
    if (l < 0 || l >= 10) ++out_of_range;
    else ++counts[static_cast<std::size_t>(l)];
  }
  CHECK(out_of_range == 0);
  for (int c : counts) CHECK(c == 6000);  // Fashion-MNIST is balanced
  CHECK(d.train_labels[0] == 9);  // the first training image is an ankle boot
  CHECK(d.test_labels[0] == 9);
  float lo = 1.f, hi = 0.f;
  double sum = 0;
  for (float v : d.train_images) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  CHECK(lo == 0.f);
  CHECK(hi == 1.f);
  const double mean = sum / static_cast<double>(d.train_images.numel());
  MESSAGE("Fashion-MNIST train pixel mean " << mean);
  CHECK(mean == doctest::Approx(0.2860).epsilon(0.001));  // the commonly quoted normalisation mean 0.2860

  vae::data::load_options o;
  o.limit = 100;
  o.image_size = 32;
  o.channels = 3;
  const auto small = vae::data::load_dataset("fashion-mnist", o);
  CHECK(small.train_images.shape() == vae::shape{100, 3, 32, 32});
  CHECK(small.test_images.shape() == vae::shape{100, 3, 32, 32});
  CHECK(small.train_labels.size() == 100);

  // fashion-mnist-captions: the same images, a caption from each label through the templates
  o = {};
  o.limit = 200;
  const auto cap = vae::data::load_dataset("fashion-mnist-captions", o);
  REQUIRE(cap.train_captions.size() == 200);
  REQUIRE(cap.test_captions.size() == 200);
  CHECK(cap.train_labels == std::vector<std::int32_t>(d.train_labels.begin(), d.train_labels.begin() + 200));
  std::set<std::string> distinct;
  for (std::size_t i = 0; i < 200; ++i) {
    CHECK(vae::data::fashion_mnist_label_of(cap.train_captions[i]) == cap.train_labels[i]);
    CHECK(vae::data::fashion_mnist_label_of(cap.test_captions[i]) == cap.test_labels[i]);
    distinct.insert(cap.train_captions[i]);
  }
  CHECK(distinct.size() > 30);  // ten classes through six templates
  MESSAGE("first captions: '" << cap.train_captions[0] << "', '" << cap.train_captions[1] << "'");
  CHECK(vae::data::load_dataset("fashion-mnist-captions", o).train_captions == cap.train_captions);  // same seed
  o.seed = 1;
  CHECK(vae::data::load_dataset("fashion-mnist-captions", o).train_captions != cap.train_captions);
  CHECK(vae::data::load_dataset("fashion-mnist", o).train_captions.empty());
}
