// LPIPS: the VGG16 trunk's five taps against PyTorch (width/16, weights from a file with the converted names), the
// full-width default's parameter names and shapes (torchvision's and lpips's), the loader's refusals, input errors.
#include "vae/adversarial/lpips.hpp"

#include <filesystem>

#include "../test_support.hpp"

using namespace vae;

static_assert(WeightedFeatureNet<LPIPS<float>> && WeightedFeatureNet<LPIPS<double>>);

TEST_CASE("LPIPS taps relu1_2 ... relu5_3 match torchvision's VGG16 layer list with lpips's scaling (width/16)") {
  const auto f = test::golden("lpips");
  LPIPS<float> net({16});
  parameter_store<float> store;
  generator rng(1);
  attach_frozen(store, net, rng);
  load_lpips_weights(std::string(VAE_GOLDEN_DIR) + "/lpips_weights.safetensors", store);
  const auto& last = net.forward(f.at("xrec").to_tensor<float>());
  REQUIRE(net.tap_count() == 5);
  CHECK(&last == &net.tap(4));
  for (std::size_t k = 0; k < 5; ++k) test::require_parity(net.tap(k), f, cat("tap", k), cat("LPIPS tap ", k));
}

TEST_CASE("LPIPS at full width has torchvision's and lpips's names and shapes (what convert_lpips.py writes)") {
  LPIPS<float> net;
  std::vector<std::pair<std::string, shape>> seen;
  net.visit_parameters("", [&](const std::string& name, parameter<float>& p) { seen.emplace_back(name, p.shape); });
  REQUIRE(seen.size() == 13 * 2 + 5);
  CHECK(seen[0] == std::pair<std::string, shape>{"features.0.weight", shape{64, 3, 3, 3}});
  CHECK(seen[1] == std::pair<std::string, shape>{"features.0.bias", shape{64}});
  CHECK(seen[2].first == "features.2.weight");
  CHECK(seen[4] == std::pair<std::string, shape>{"features.5.weight", shape{128, 64, 3, 3}});
  CHECK(seen[25] == std::pair<std::string, shape>{"features.28.bias", shape{512}});
  CHECK(seen[26] == std::pair<std::string, shape>{"lin0.model.1.weight", shape{1, 64, 1, 1}});
  CHECK(seen[28] == std::pair<std::string, shape>{"lin2.model.1.weight", shape{1, 256, 1, 1}});
  CHECK(seen[30] == std::pair<std::string, shape>{"lin4.model.1.weight", shape{1, 512, 1, 1}});
  std::int64_t n = 0;
  for (const auto& s : seen) n += s.second.numel();
  CHECK(n == 14714688 + 1472);  // torchvision vgg16().features' parameters + lpips vgg.pth's lin weights
}

TEST_CASE("load_lpips_weights refuses a file of another net, a wrong width and negative lin weights, naming the tensor") {
  const std::string dir = std::string(VAE_GOLDEN_DIR);
  generator rng(2);
  {
    LPIPS<float> net({8});  // the fixture is width/16
    parameter_store<float> store;
    attach_frozen(store, net, rng);
    CHECK_THROWS_WITH_AS(load_lpips_weights(dir + "/lpips_weights.safetensors", store),
                         doctest::Contains("tensor 'features.0.weight' has shape [4, 3, 3, 3], the model expects [8, 3, 3, 3]"),
                         vae::error);
  }
  LPIPS<float> net({16});
  parameter_store<float> store;
  attach_frozen(store, net, rng);
  CHECK_THROWS_WITH_AS(load_lpips_weights(dir + "/classifier_run.safetensors", store),
                       doctest::Contains("tensor 'features.0.weight' has shape [4, 1, 3, 3], the model expects [4, 3, 3, 3]"),
                       vae::error);
  // The right file with one lin weight made negative.
  const auto good = io::safetensors_file::load(dir + "/lpips_weights.safetensors");
  io::safetensors_writer w;
  std::vector<std::vector<float>> keep;
  for (const auto& t : good.tensors()) {
    keep.push_back(t.values<float>());
    if (t.name == "lin3.model.1.weight") keep.back()[5] = -0.25f;
    w.add(t.name, t.dims, keep.back().data());
  }
  const auto path = std::filesystem::temp_directory_path() / "vae_lpips_negative_lin.safetensors";
  w.save(path);
  CHECK_THROWS_WITH_AS(load_lpips_weights(path, store),
                       doctest::Contains("tensor 'lin3.model.1.weight' has a negative weight at 5"), vae::error);
  std::filesystem::remove(path);
}

TEST_CASE("LPIPS refuses inputs that are not images of 1 or 3 channels of at least 16x16, and bad widths") {
  LPIPS<float> net({16});
  parameter_store<float> store;
  generator rng(3);
  store.attach(net, rng);
  CHECK_THROWS_WITH_AS(net.forward(tensor<float>({2, 4, 16, 16}, 0.f)), doctest::Contains("[N, 3 or 1, H ≥ 16, W ≥ 16]"),
                       vae::error);
  CHECK_THROWS_WITH_AS(net.forward(tensor<float>({2, 3, 8, 16}, 0.f)), doctest::Contains("got [2, 3, 8, 16]"), vae::error);
  CHECK_THROWS_WITH_AS(LPIPS<float>({3}), doctest::Contains("width_divisor must divide 64"), vae::error);
  CHECK_THROWS_WITH_AS(net.backward_taps({}), doctest::Contains("before forward"), vae::error);
}
