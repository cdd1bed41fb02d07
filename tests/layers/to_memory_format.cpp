// ToMemoryFormat: exact layout changes both ways, pass-through when the input is already in the format, gradients.
#include "vae/layers/to_memory_format.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ToMemoryFormat<float>>);

TEST_CASE("ToMemoryFormat gradients match finite differences (double), both directions") {
  for (const bool to_last : {true, false}) {
    CAPTURE(to_last);
    generator rng(to_last ? 1 : 2);
    ToMemoryFormat<double> layer(to_last ? memory_format::channels_last : memory_format::channels_first);
    parameter_store<double> store;
    store.attach(layer, rng);
    auto x = test::random_tensor<double>({2, 3, 4, 5}, rng);
    if (!to_last) x = test::to_channels_last(x);
    const auto report = testing::check_layer_gradients(layer, store, x);
    INFO(report.summary());
    CHECK(report.ok);
    CHECK(report.checked == test::layer_checks(x, store));
  }
}

TEST_CASE("ToMemoryFormat moves values exactly and tags the result; an input already in the format passes through") {
  generator rng(3);
  const auto x = test::random_tensor<float>({3, 5, 4, 6}, rng);
  ToMemoryFormat<float> to_last(memory_format::channels_last), to_first;
  const auto& y = to_last.forward(x);
  CHECK(y.format() == memory_format::channels_last);
  CHECK(test::max_abs_diff(y, test::to_channels_last(x)) == 0.0);
  const auto& back = to_first.forward(y);
  CHECK(back.format() == memory_format::channels_first);
  CHECK(test::max_abs_diff(back, x) == 0.0);
  // Gradients go back the other way, exactly.
  const auto dy = test::to_channels_last(test::random_tensor<float>({3, 5, 4, 6}, rng));
  const auto& dx = to_last.backward(dy);
  CHECK(dx.format() == memory_format::channels_first);
  CHECK(test::max_abs_diff(test::to_channels_last(dx), dy) == 0.0);
  // Already channels-first: the same tensor, no copy.
  CHECK(&to_first.forward(x) == &x);
  CHECK(&to_first.backward(x) == &x);
}

TEST_CASE("ToMemoryFormat rejects what is not a 4-d activation, and backward before forward") {
  ToMemoryFormat<float> layer(memory_format::channels_last);
  CHECK_THROWS_WITH_AS(layer.backward(tensor<float>({1, 1, 1, 1}, 0.f)), doctest::Contains("before forward"),
                       vae::error);
  CHECK_THROWS_WITH_AS(layer.forward(tensor<float>({2, 12}, 0.f)), doctest::Contains("expected a 4-d activation"),
                       vae::error);
  layer.forward(tensor<float>({1, 2, 3, 3}, 0.f));
  CHECK_THROWS_WITH_AS(layer.backward(tensor<float>({1, 2, 3, 3}, 0.f)), doctest::Contains("expected shape"),
                       vae::error);
}
