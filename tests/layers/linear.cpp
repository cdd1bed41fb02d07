// Linear: finite-difference gradients, PyTorch parity, gradient accumulation, shape errors.
#include "vae/layers/linear.hpp"

#include <tuple>

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("Linear gradients match finite differences (double)") {
  generator rng(1);
  Linear<double> layer(6, 4);
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({3, 6}, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 3 * 6 + 4 * 6 + 4);
}

TEST_CASE("Linear on a rank-3 input acts on the last dimension") {
  generator rng(2);
  Linear<double> layer(5, 2);
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({2, 3, 5}, rng);
  CHECK(layer.forward(x).shape() == shape{2, 3, 2});
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, store));
}

TEST_CASE("Linear matches PyTorch nn.Linear (float32)") {
  const auto f = test::golden("linear");
  generator rng(0);
  Linear<float> layer(7, 3);
  parameter_store<float> store;
  store.attach(layer, rng);
  test::load_into(layer.weight(), f, "weight");
  test::load_into(layer.bias(), f, "bias");
  const auto x = f.at("x").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  test::require_parity(layer.forward(x), f, "y", "Linear forward");
  store.zero_grad();
  test::require_parity(layer.backward(r), f, "dx", "Linear dx");
  tensor<float> dw(layer.weight().shape), db(layer.bias().shape);
  std::copy(layer.weight().grad, layer.weight().grad + dw.numel(), dw.data());
  std::copy(layer.bias().grad, layer.bias().grad + db.numel(), db.data());
  test::require_parity(dw, f, "dweight", "Linear dweight");
  test::require_parity(db, f, "dbias", "Linear dbias");
}

TEST_CASE("Linear backward accumulates into parameter gradients") {
  generator rng(3);
  Linear<double> layer(4, 3);
  parameter_store<double> store;
  store.attach(layer, rng);
  auto x = test::random_tensor<double>({2, 4}, rng);
  auto dy = test::random_tensor<double>({2, 3}, rng);
  store.zero_grad();
  layer.forward(x);
  layer.backward(dy);
  const std::vector<double> once(store.grads(), store.grads() + store.size());
  layer.backward(dy);
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(store.grads()[i] == doctest::Approx(2 * once[i]));
}

TEST_CASE("Linear rejects a wrong input width with the shapes in the message") {
  generator rng(4);
  Linear<float> layer(4, 3);
  parameter_store<float> store;
  store.attach(layer, rng);
  tensor<float> x({2, 5}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(x), doctest::Contains("expected input [..., 4], got [2, 5]"), vae::error);
}

TEST_CASE("Linear parameters get PyTorch names and default init bounds") {
  generator rng(5);
  Linear<float> layer(100, 10);
  parameter_store<float> store;
  store.attach(layer, rng, "enc.0.");
  REQUIRE(store.entries().size() == 2);
  CHECK(store.entries()[0].name == "enc.0.weight");
  CHECK(store.entries()[1].name == "enc.0.bias");
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(std::abs(store.values()[i]) <= 0.1f);
}

TEST_CASE_TEMPLATE("Linear on a store frozen for inference: the inference panels give the same outputs, bit for bit",
                   T, float, double) {
  generator rng(5);
  // 70 and 33 outputs end in a partial panel; 784 -> 512 at 128 rows is the MLP VAE's first layer (split over threads
  // in whole panels).
  using sizes = std::tuple<std::int64_t, std::int64_t, std::int64_t>;  // in, out, rows
  for (auto [in, out, rows] : {sizes{37, 70, 5}, sizes{9, 33, 17}, sizes{784, 512, 128}}) {
    Linear<T> layer(in, out);
    parameter_store<T> store;
    store.attach(layer, rng);
    auto x = test::random_tensor<T>({rows, in}, rng);
    const tensor<T> plain = layer.forward(x), plain_relu = layer.forward_relu(x);
    // Copies only where the product is vae's float AVX-512 kernel (BLAS would sum in another order).
    constexpr bool copies = std::is_same_v<T, float> && cpu_detail::avx512::available;
    store.freeze_for_inference();
    CHECK(store.frozen() == copies);
    if (copies) {
      const T* panels = layer.weight().frozen_panels();
      REQUIRE(panels != nullptr);
      CHECK(panels[1] == layer.weight().value[in]);                // panel 0, k 0, column 1: w(1, 0)
      CHECK(panels[32 * 2 + 3] == layer.weight().value[3 * in + 2]);  // panel 0, k 2, column 3: w(3, 2)
      CHECK(panels[in * 32] == layer.weight().value[32 * in]);       // panel 1 starts at column 32: w(32, 0)
    }
    const tensor<T> frozen = layer.forward(x), frozen_relu = layer.forward_relu(x);
    std::int64_t differ = 0, relu_differ = 0, clipped = 0;
    for (std::int64_t i = 0; i < plain.numel(); ++i) {
      differ += plain.data()[i] != frozen.data()[i];
      relu_differ += plain_relu.data()[i] != frozen_relu.data()[i];
      clipped += frozen_relu.data()[i] == T(0);
    }
    INFO("in=" << in << " out=" << out);
    CHECK(differ == 0);
    CHECK(relu_differ == 0);
    CHECK(clipped > 0);
    // A writable access through the store (what optimizers and loaders use) thaws it: the copy would go stale.
    store.values()[0] += T(1);
    CHECK_FALSE(store.frozen());
    CHECK(layer.weight().frozen_panels() == nullptr);
    const auto& after = layer.forward(x);
    CHECK(after.data()[0] != plain.data()[0]);  // the new weight is seen
  }
}
