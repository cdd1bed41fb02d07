// Embedding: PyTorch parity (lookup and scatter-add gradient), finite differences, int32/int64, index errors.
#include "vae/layers/embedding.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(!Layer<Embedding<float>>, "Embedding takes indices, not a tensor<T>: it is not a Layer");

namespace {
tensor<double> weight_grad(Embedding<double>& layer) {
  tensor<double> g(layer.weight().shape);
  std::copy(layer.weight().grad, layer.weight().grad + g.numel(), g.data());
  return g;
}
}  // namespace

TEST_CASE("Embedding matches PyTorch nn.Embedding (float32), repeated indices included") {
  const auto f = test::golden("embedding");
  generator rng(0);
  Embedding<float> layer(10, 5);
  parameter_store<float> store;
  store.attach(layer, rng);
  test::load_into(layer.weight(), f, "weight");
  const auto idx = f.at("idx").to_tensor<std::int64_t>();
  const auto r = f.at("r").to_tensor<float>();
  // A lookup copies rows; the gradient adds up to three rows of r (index 7 thrice) in lookup order, and PyTorch's
  // sums agree with it bit for bit: compared for equality, not closeness.
  test::require_parity(layer.forward(idx), f, "y", "Embedding forward", 0.0, 0.0);
  store.zero_grad();
  layer.backward(r);
  tensor<float> dw(layer.weight().shape);
  std::copy(layer.weight().grad, layer.weight().grad + dw.numel(), dw.data());
  test::require_parity(dw, f, "dweight", "Embedding dweight", 0.0, 0.0);
  // int32 indices give the same output.
  tensor<std::int32_t> idx32(idx.shape());
  for (std::int64_t i = 0; i < idx.numel(); ++i) idx32[i] = static_cast<std::int32_t>(idx[i]);
  test::require_parity(layer.forward(idx32), f, "y", "Embedding forward (int32 indices)", 0.0, 0.0);
}

TEST_CASE("Embedding weight gradient matches finite differences (double)") {
  generator rng(1);
  Embedding<double> layer(7, 3);
  parameter_store<double> store;
  store.attach(layer, rng);
  tensor<std::int64_t> idx({2, 3});
  const std::int64_t ids[] = {1, 4, 1, 6, 0, 1};
  std::copy(ids, ids + 6, idx.data());
  auto r = test::random_tensor<double>({2, 3, 3}, rng);
  auto loss = [&] {
    const auto& y = layer.forward(idx);
    double s = 0;
    for (std::int64_t i = 0; i < y.numel(); ++i) s += y[i] * r[i];
    return s;
  };
  store.zero_grad();
  layer.forward(idx);
  layer.backward(r);
  const auto g = weight_grad(layer);
  testing::gradcheck_report report;
  testing::check_gradient(loss, layer.weight().value, g.data(), g.numel(), "weight", {}, report);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 21);
  for (std::int64_t c = 0; c < 3; ++c) CHECK(g[2 * 3 + c] == 0.0);  // row 2 never looked up
}

TEST_CASE("Embedding backward accumulates into the weight gradient") {
  generator rng(2);
  Embedding<double> layer(4, 70);  // more than one 64-column block
  parameter_store<double> store;
  store.attach(layer, rng);
  tensor<std::int32_t> idx({3});
  idx[0] = 3, idx[1] = 0, idx[2] = 3;
  auto dy = test::random_tensor<double>({3, 70}, rng);
  store.zero_grad();
  layer.forward(idx);
  layer.backward(dy);
  const auto once = weight_grad(layer);
  // Each lookup's row of dy is added to the gradient in lookup order: the same additions in the same order here,
  // so equality, not closeness (a second backward adds onto the first: (g + a) + b, not 2·g).
  for (std::int64_t c = 0; c < 70; ++c) {
    CHECK(once[3 * 70 + c] == (0.0 + dy[c]) + dy[2 * 70 + c]);
    CHECK(once[0 * 70 + c] == dy[70 + c]);
    CHECK(once[1 * 70 + c] == 0.0);
    CHECK(once[2 * 70 + c] == 0.0);
  }
  layer.backward(dy);
  const auto twice = weight_grad(layer);
  for (std::int64_t c = 0; c < 70; ++c) {
    CHECK(twice[3 * 70 + c] == (once[3 * 70 + c] + dy[c]) + dy[2 * 70 + c]);
    CHECK(twice[0 * 70 + c] == once[0 * 70 + c] + dy[70 + c]);
    CHECK(twice[1 * 70 + c] == 0.0);
    CHECK(twice[2 * 70 + c] == 0.0);
  }
}

TEST_CASE("Embedding names its weight like PyTorch and initialises it N(0, 1)") {
  generator rng(3);
  Embedding<float> layer(200, 50);
  parameter_store<float> store;
  store.attach(layer, rng, "tok.");
  REQUIRE(store.entries().size() == 1);
  CHECK(store.entries()[0].name == "tok.weight");
  CHECK(store.entries()[0].shape == shape{200, 50});
  double mean = 0, sq = 0;
  for (std::int64_t i = 0; i < store.size(); ++i) mean += store.values()[i], sq += store.values()[i] * store.values()[i];
  mean /= store.size();
  const double var = sq / store.size() - mean * mean;
  CHECK(std::abs(mean) < 5.0 / 100.0);  // 5 sigma of the mean of 10000 N(0,1) draws
  CHECK(std::abs(var - 1.0) < 5.0 * std::sqrt(2.0 / 10000));
}

TEST_CASE("Embedding rejects an out-of-range index, naming it and the size") {
  generator rng(4);
  Embedding<float> layer(10, 4);
  parameter_store<float> store;
  store.attach(layer, rng);
  tensor<std::int64_t> idx({3});
  idx[0] = 1, idx[1] = 10, idx[2] = 2;
  CHECK_THROWS_WITH_AS(layer.forward(idx),
                       doctest::Contains("index 10 at position 1 is out of range for an embedding of size 10"),
                       vae::error);
  idx[1] = -1;
  CHECK_THROWS_WITH_AS(layer.forward(idx), doctest::Contains("index -1 at position 1"), vae::error);
  CHECK_THROWS_WITH_AS(layer.backward(tensor<float>({3, 4}, 0.f)), doctest::Contains("called before forward"),
                       vae::error);
  idx[1] = 0;
  layer.forward(idx);
  CHECK_THROWS_WITH_AS(layer.backward(tensor<float>({3, 5}, 0.f)), doctest::Contains("expected shape [3, 4], got [3, 5]"),
                       vae::error);
  Embedding<float> unattached(3, 2);
  CHECK_THROWS_WITH_AS(unattached.forward(idx), doctest::Contains("not attached"), vae::error);
}
