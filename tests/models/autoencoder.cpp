// Autoencoder: loss value (per-image sum, batch mean), finite-difference gradients for MSE / L1 / BCE-with-logits,
// reconstruction in data space, names, shape errors.
#include "vae/models/autoencoder.hpp"

#include <vector>

#include "../test_support.hpp"
#include "vae/decoders/mlp_decoder.hpp"
#include "vae/encoders/mlp_encoder.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace {
template <class Loss>
void check_ae(const tensor<double>& x) {
  Autoencoder<MLPEncoder<double>, MLPDecoder<double>, Loss, double> ae(MLPEncoder<double>(5, 6, 4, 3),
                                                                       MLPDecoder<double>(3, 4, 6, 5));
  generator init(3);
  parameter_store<double> store;
  store.attach(ae, init);
  auto loss = [&] { return ae.train_step_loss(x); };
  store.zero_grad();
  loss();
  const std::vector<double> g(store.grads(), store.grads() + store.trainable_size());
  testing::gradcheck_report report;
  for (const auto& e : store.entries())
    testing::check_gradient(loss, store.values() + e.offset, g.data() + e.offset, e.shape.numel(), e.name, {}, report);
  INFO(Loss::name, ": ", report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(tensor<double>(), store));  // no input: the parameters alone
  // value: per-image sums of the elementwise loss, averaged over the batch
  tensor<double> out;
  ae.reconstruct(x, out);
  tensor<double> code, raw;
  ae.encode(x, code);
  raw = ae.decoder().forward(code);
  double expect = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) expect += Loss{}.value(raw[i], x[i]);
  CHECK(ae.train_step_loss(x) == doctest::Approx(expect / x.dim(0)).epsilon(1e-13));
}
}  // namespace

TEST_CASE("Autoencoder gradients match finite differences (MSE, L1, BCE-with-logits; double)") {
  generator rng(1);
  const auto x = test::random_tensor<double>({4, 5}, rng);
  tensor<double> xb({4, 5});
  for (auto& v : xb) v = rng.uniform();
  check_ae<losses::MSE>(x);
  check_ae<losses::L1>(x);
  check_ae<losses::BCEWithLogits>(xb);
}

TEST_CASE("Autoencoder: BCE reconstruction is a probability; names; shape errors") {
  Autoencoder<MLPEncoder<float>, MLPDecoder<float>, losses::BCEWithLogits> ae(MLPEncoder<float>(5, 6, 4, 3),
                                                                             MLPDecoder<float>(3, 4, 6, 5));
  generator init(2);
  parameter_store<float> store;
  store.attach(ae, init);
  CHECK(store.entries().front().name == "enc.0.weight");
  CHECK(store.entries().back().name == "dec.4.bias");
  tensor<float> x({2, 5}, 0.5f), out;
  ae.reconstruct(x, out);
  CHECK(out.shape() == shape{2, 5});
  for (float v : out) CHECK((v > 0 && v < 1));
  Autoencoder<MLPEncoder<float>, MLPDecoder<float>> wrong(MLPEncoder<float>(5, 6, 4, 3), MLPDecoder<float>(3, 4, 6, 7));
  parameter_store<float> s2;
  s2.attach(wrong, init);
  CHECK_THROWS_WITH_AS(wrong.train_step_loss(x), doctest::Contains("must have as many values as the input"), error);
}
