// VQVAE model: parameter names, loss = MSE + quantizer loss, whole-model finite differences through the
// straight-through quantizer, token round trip, a short training run, shape errors. Stand-in Linear encoder/decoder.
#include "vae/models/vqvae.hpp"

#include "../test_support.hpp"
#include "vae/layers/flatten.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/reshape.hpp"
#include "vae/layers/sequential.hpp"
#include "vae/quantizers/ema_vector_quantizer.hpp"
#include "vae/quantizers/fsq.hpp"
#include "vae/quantizers/gumbel_quantizer.hpp"
#include "vae/quantizers/residual_vq.hpp"
#include "vae/quantizers/vector_quantizer.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

namespace {
// x [N, 1, 4, 4] → Linear(16 → D·2·2) → z_e [N, D, 2, 2]; and back.
template <class T>
using TinyEncoder = Sequential<Flatten<T>, Linear<T>, Reshape<T>>;
template <class T>
using TinyDecoder = Sequential<Flatten<T>, Linear<T>, Reshape<T>>;

// D: encoder output channels; C: quantizer output channels (differs for GumbelQuantizer's code_dim).
template <class T, class Q>
auto make_model(std::int64_t D, Q q, std::int64_t C = 0) {
  if (C == 0) C = D;
  return VQVAE<TinyEncoder<T>, TinyDecoder<T>, Q, T>(
      TinyEncoder<T>(Flatten<T>(), Linear<T>(16, D * 4), Reshape<T>(shape{D, 2, 2})),
      TinyDecoder<T>(Flatten<T>(), Linear<T>(C * 4, 16), Reshape<T>(shape{1, 4, 4})), std::move(q));
}
}  // namespace

TEST_CASE("VQVAE names its parameters enc., codebook., dec. (the reference's module tree)") {
  generator rng(0);
  auto model = make_model<float>(3, VectorQuantizer<float>(8, 3));
  parameter_store<float> store;
  store.attach(model, rng);
  for (const char* name : {"enc.1.weight", "enc.1.bias", "codebook.weight", "dec.1.weight", "dec.1.bias"}) {
    CAPTURE(name);
    CHECK(store.find(name) != nullptr);
  }
  CHECK(store.entries().size() == 5);
}

TEST_CASE("VQVAE train_step_loss = F.mse_loss(x̂, x) + quantizer loss, gradients match finite differences (double)") {
  generator rng(1);
  auto model = make_model<double>(3, VectorQuantizer<double>(6, 3));
  parameter_store<double> store;
  store.attach(model, rng);
  auto& q = model.quantizer();
  rng.fill_normal(q.codebook().value, q.codebook().numel(), 0.0, 0.5);
  auto x = test::random_tensor<double>({3, 1, 4, 4}, rng);
  store.zero_grad();
  const double loss = model.train_step_loss(x, 0);
  CHECK(loss == doctest::Approx(model.last_reconstruction_loss() + model.last_quantizer_loss()));
  CHECK(model.last_quantizer_loss() == doctest::Approx(q.loss()));
  tensor<double> xh;
  model.set_training(false);
  model.reconstruct(x, xh);
  double se = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) se += (xh[i] - x[i]) * (xh[i] - x[i]);
  CHECK(model.last_reconstruction_loss() == doctest::Approx(se / x.numel()));
  CHECK(model.eval_mse(x) == doctest::Approx(se / x.numel()));

  const std::vector<double> grads(store.grads(), store.grads() + store.trainable_size());
  q.set_frozen_assignment(true);
  auto encoder_side = [&] { return model.eval_mse(x) + q.term_value<CommitmentLoss>(); };
  auto codebook_side = [&] { return model.eval_mse(x) + q.term_value<CodebookLoss>(); };
  testing::gradcheck_report report;
  testing::gradcheck_options all;
  all.max_checks_per_tensor = 1000;
  for (const auto& e : store.entries()) {
    const bool cb = e.name == "codebook.weight";
    testing::check_gradient(cb ? std::function<double()>(codebook_side) : std::function<double()>(encoder_side),
                            store.values() + e.offset, grads.data() + e.offset, e.shape.numel(), e.name, all, report);
  }
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == store.trainable_size());
  // The encoder's gradient is non-zero: the straight-through path and the commitment term reach it.
  const auto* enc = store.find("enc.1.weight");
  CHECK(std::any_of(grads.begin() + enc->offset, grads.begin() + enc->offset + enc->shape.numel(),
                    [](double g) { return g != 0.0; }));
}

TEST_CASE("VQVAE token round trip: decode_tokens(encode_tokens(x)) equals reconstruct(x) exactly") {
  generator rng(2);
  quantizer_options opt;
  opt.codebook_dim = 2;
  auto model = make_model<float>(4, VectorQuantizer<float>(16, 4, opt));
  parameter_store<float> store;
  store.attach(model, rng);
  rng.fill_normal(model.quantizer().codebook().value, model.quantizer().codebook().numel(), 0.0, 0.5);
  auto x = test::random_tensor<float>({5, 1, 4, 4}, rng);
  model.set_training(false);
  tensor<float> recon, decoded;
  model.reconstruct(x, recon);
  tensor<std::int32_t> tokens;
  model.encode_tokens(x, tokens);
  CHECK(tokens.shape() == shape{5, 2, 2});
  model.decode_tokens(tokens, decoded);
  REQUIRE(decoded.shape() == recon.shape());
  for (std::int64_t i = 0; i < recon.numel(); ++i) CHECK(decoded[i] == recon[i]);
}

TEST_CASE("VQVAE learns: SGD on a small batch lowers the loss (VectorQuantizer and EMAVectorQuantizer)") {
  auto run = [](auto quantizer) {
    generator rng(3);
    auto model = make_model<float>(4, std::move(quantizer));
    parameter_store<float> store;
    store.attach(model, rng);
    auto x = test::random_tensor<float>({16, 1, 4, 4}, rng);
    model.set_training(true);
    double first = 0, last = 0;
    for (int step = 0; step < 400; ++step) {
      store.zero_grad();
      last = model.train_step_loss(x, step);
      if (step == 0) first = last;
      for (std::int64_t i = 0; i < store.trainable_size(); ++i) store.values()[i] -= 0.3f * store.grads()[i];
    }
    MESSAGE("loss " << first << " -> " << last << ", codes used " << model.stats().codes_used());
    CHECK(last < 0.7 * first);
    CHECK(model.stats().total() == 400 * 16 * 4);
  };
  quantizer_options opt;
  opt.kmeans_init = true;
  run(VectorQuantizer<float>(8, 4, opt));
  run(EMAVectorQuantizer<float>(8, 4, opt));
}

TEST_CASE("VQVAE runs with every quantizer: training steps, then an exact token round trip at evaluation") {
  auto run = [](auto model, const shape& token_shape) {
    generator rng(5);
    parameter_store<float> store;
    store.attach(model, rng);
    auto x = test::random_tensor<float>({4, 1, 4, 4}, rng);
    model.set_training(true);
    for (int step = 0; step < 5; ++step) {
      store.zero_grad();
      const double loss = model.train_step_loss(x, step);
      CHECK(std::isfinite(loss));
      CHECK(loss == doctest::Approx(model.last_reconstruction_loss() + model.last_quantizer_loss()));
      for (std::int64_t i = 0; i < store.trainable_size(); ++i) store.values()[i] -= 0.05f * store.grads()[i];
    }
    model.set_training(false);
    tensor<float> recon, decoded;
    model.reconstruct(x, recon);
    tensor<std::int32_t> tokens;
    model.encode_tokens(x, tokens);
    CHECK(tokens.shape() == token_shape);
    model.decode_tokens(tokens, decoded);
    REQUIRE(decoded.shape() == recon.shape());
    for (std::int64_t i = 0; i < recon.numel(); ++i) CHECK(decoded[i] == recon[i]);
  };
  run(make_model<float>(3, FSQ<float>({5, 4, 3})), shape{4, 2, 2});
  gumbel_options g;
  g.anneal_steps = 4;
  run(make_model<float>(3, GumbelQuantizer<float>(3, 10, 2, g), 2), shape{4, 2, 2});
  run(make_model<float>(3, ResidualVQ<float>(3, 6, 3)), shape{3, 4, 2, 2});
  quantizer_options o;
  o.restart_after_steps = 2;
  o.cosine = true;
  run(make_model<float>(3, EMAVectorQuantizer<float>(6, 3, o)), shape{4, 2, 2});
}

TEST_CASE("VQVAE passes the step to step-dependent quantizers (Gumbel temperature)") {
  gumbel_options g;
  g.tau_start = 1.0;
  g.tau_end = 0.25;
  g.anneal_steps = 10;
  auto model = make_model<float>(3, GumbelQuantizer<float>(3, 5, 2, g), 2);
  generator rng(6);
  parameter_store<float> store;
  store.attach(model, rng);
  auto x = test::random_tensor<float>({2, 1, 4, 4}, rng);
  model.train_step_loss(x, 5);
  CHECK(model.quantizer().temperature() == doctest::Approx(0.5));
  model.train_step_loss(x, 10);
  CHECK(model.quantizer().temperature() == doctest::Approx(0.25));
}

TEST_CASE("VQVAE reports a decoder whose output does not match the input") {
  generator rng(4);
  auto model = VQVAE<TinyEncoder<float>, TinyDecoder<float>, VectorQuantizer<float>>(
      TinyEncoder<float>(Flatten<float>(), Linear<float>(16, 8), Reshape<float>(shape{2, 2, 2})),
      TinyDecoder<float>(Flatten<float>(), Linear<float>(8, 16), Reshape<float>(shape{1, 2, 8})),
      VectorQuantizer<float>(4, 2));
  parameter_store<float> store;
  store.attach(model, rng);
  tensor<float> x({2, 1, 4, 4}, 0.1f);
  CHECK_THROWS_WITH_AS(model.train_step_loss(x, 0), doctest::Contains("does not match the input [2, 1, 4, 4]"), error);
  tensor<float> wrong({2, 1, 3, 3});
  CHECK_THROWS_AS(model.train_step_loss(wrong, 0), error);
}
