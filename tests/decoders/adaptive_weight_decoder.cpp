// DecoderWithOutput: names, finite differences in double through body and output layer, the last layer's weight
// gradient alone equal to the one a backward adds, AdaptiveWeightDecoder.
#include "vae/decoders/adaptive_weight_decoder.hpp"

#include "../test_support.hpp"
#include "vae/train/checkpoint.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/sequential.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace adaptive_weight_decoder_test {
template <class T>
using Dec = DecoderWithOutput<Sequential<Conv2d<T>, SiLU<T>>, Conv2d<T>>;
template <class T>
Dec<T> make() {
  return Dec<T>(Sequential<Conv2d<T>, SiLU<T>>(Conv2d<T>(2, 3, 3, 1, 1), SiLU<T>()), Conv2d<T>(3, 1, 3, 1, 1));
}
}  // namespace adaptive_weight_decoder_test

TEST_CASE("DecoderWithOutput: taming's names, an AdaptiveWeightDecoder; gradients match finite differences") {
  static_assert(AdaptiveWeightDecoder<adaptive_weight_decoder_test::Dec<float>>);
  static_assert(!AdaptiveWeightDecoder<Sequential<Conv2d<float>>>);
  generator rng(4);
  auto d = adaptive_weight_decoder_test::make<double>();
  parameter_store<double> store;
  store.attach(d, rng, "decoder.");
  CHECK(store.find("decoder.0.weight") != nullptr);
  CHECK(store.find("decoder.conv_out.weight") != nullptr);
  CHECK(store.find("decoder.conv_out.bias") != nullptr);
  auto x = test::random_tensor<double>({2, 2, 4, 4}, rng);
  const auto report = testing::check_layer_gradients(d, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, store));
}

TEST_CASE("DecoderWithOutput: last_layer_weight_gradient equals the weight gradient of a backward, touching nothing") {
  generator rng(5);
  auto d = adaptive_weight_decoder_test::make<float>();
  parameter_store<float> store;
  store.attach(d, rng);
  const auto x = test::random_tensor<float>({2, 2, 5, 5}, rng);
  const auto& y = d.forward(x);
  const auto dy = test::random_tensor<float>(y.shape(), rng);
  tensor<float> dw({1}, 7.0f);
  d.last_layer_weight_gradient(dy, dw);
  CHECK(vae::detail::host_copy<float, cpu>(store.grads(), store.trainable_size()) ==
        std::vector<float>(static_cast<std::size_t>(store.trainable_size()), 0.0f));  // nothing stored
  d.backward(dy);
  auto& w = d.last_layer().weight();
  REQUIRE(dw.shape() == w.shape);
  double err = 0;
  for (std::int64_t i = 0; i < dw.numel(); ++i) err = std::max(err, std::abs(double(dw[i]) - double(w.grad[i])));
  MESSAGE("max |dw − backward's weight gradient| = " << err);
  CHECK(err <= 1e-6);
}
