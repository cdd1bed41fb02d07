// The real Fashion-MNIST through load_dataset("fashion-mnist"): skipped (exit 77) when dataset-fashion-mnist is absent.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>

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
}
