// Tests for dist/gradient_reducer.hpp and the models' gradient-ready hooks (dist/gradient_sync.hpp): every model
// declares each trainable gradient final exactly once, never before its backward is done with it (the reducer's
// verify mode catches a gradient written after its bucket went out), the buckets' mean equals allreduce_mean, and
// the checker itself rejects a planted early declaration.
#include "vae/dist/gradient_reducer.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "vae/decoders/mlp_decoder.hpp"
#include "vae/encoders/mlp_encoder.hpp"
#include "vae/layers/flatten.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/reshape.hpp"
#include "vae/layers/sequential.hpp"
#include "vae/likelihoods/gaussian.hpp"
#include "vae/models/autoencoder.hpp"
#include "vae/models/classifier.hpp"
#include "vae/models/gpt_prior.hpp"
#include "vae/models/vae.hpp"
#include "vae/models/vqvae.hpp"
#include "vae/priors/learnable_gaussian.hpp"
#include "vae/priors/vamp.hpp"
#include "vae/quantizers/vector_quantizer.hpp"

using namespace vae;

namespace gradient_reducer_test {

// A two-rank world seen from rank 0 without MPI: the other rank's gradient at flat index i is other(i), where i is
// found from the pointer's offset in the store's gradients. Records each allreduce's size and, optionally, lets the
// reducer use its communication thread.
class fake_two_ranks final : public dist::collective {
 public:
  explicit fake_two_ranks(const float* base, bool background) : base_(base), background_(background) {}
  static float other(std::size_t i) { return 0.25f * static_cast<float>(static_cast<int>(i % 13) - 6); }
  int rank() const override { return 0; }
  int size() const override { return 2; }
  void allreduce_sum(float* d, std::size_t n) override {
    const auto at = static_cast<std::size_t>(d - base_);
    for (std::size_t i = 0; i < n; ++i) d[i] += other(at + i);
    calls.fetch_add(1);
    if (std::this_thread::get_id() != owner_) off_thread.fetch_add(1);
  }
  void allreduce_sum(double*, std::size_t) override {}
  void allreduce_sum(std::int64_t*, std::size_t) override {}
  void broadcast(float*, std::size_t, int) override {}
  void broadcast(double*, std::size_t, int) override {}
  void broadcast(std::int64_t*, std::size_t, int) override {}
  void broadcast(std::uint8_t*, std::size_t, int) override {}
  void allgather(const float*, std::size_t, float*) override {}
  void allgather(const std::uint8_t*, std::size_t, std::uint8_t*) override {}
  void barrier() override {}
  std::string describe() const override { return "fake rank 0 of 2"; }
  bool allows_background_thread() const override { return background_; }
  std::atomic<int> calls{0}, off_thread{0};

 private:
  const float* base_;
  bool background_;
  std::thread::id owner_ = std::this_thread::get_id();
};

// One training step of `model` with a verifying reducer over `store`: throws if a hook declared a gradient before
// the backward was done with it; returns the buckets the hooks started (the others start only in finish()).
template <class Model, class Step>
std::size_t verified_step(Model& model, parameter_store<float>& store, Step step, std::size_t bucket = 7) {
  dist::local_communicator one;
  dist::gradient_reducer_options o;
  o.bucket_elements = bucket;
  o.verify = true;
  dist::gradient_reducer reducer(one, store, o);
  model.set_gradient_sync(&reducer);
  store.zero_grad();
  step();
  CHECK(reducer.in_step());
  reducer.finish();
  CHECK_FALSE(reducer.in_step());
  REQUIRE(reducer.buckets() == (static_cast<std::size_t>(store.trainable_size()) + bucket - 1) / bucket);
  model.set_gradient_sync(nullptr);
  return reducer.early_buckets();
}

// Layers in one store, registered in the order given (a model's forward order).
struct layer_list {
  std::vector<Linear<float>*> layers;
  template <class V>
  void visit_parameters(const std::string& prefix, V&& visit) {
    for (std::size_t i = 0; i < layers.size(); ++i) layers[i]->visit_parameters(prefix + std::to_string(i) + ".", visit);
  }
};

using TinyEncoder = Sequential<Flatten<float>, Linear<float>, Reshape<float>>;
using TinyDecoder = Sequential<Flatten<float>, Linear<float>, Reshape<float>>;

}  // namespace gradient_reducer_test

using namespace gradient_reducer_test;

TEST_CASE("gradient hooks: the VAE (learned prior and sigma) declares every gradient once, after its last write") {
  VAE<MLPEncoder<float>, MLPDecoder<float>, LearnableGaussianPrior<float>, AnalyticGaussianKL,
      GaussianLearnedGlobalSigma<float>>
      model(MLPEncoder<float>(6, 5, 4, 4), MLPDecoder<float>(2, 4, 5, 6), 2, LearnableGaussianPrior<float>(2));
  generator init(1), rng(2);
  parameter_store<float> store;
  store.attach(model, init);
  tensor<float> x({3, 6});
  rng.fill_uniform(x.data(), x.numel(), 0.0, 1.0);
  const auto early = verified_step(model, store, [&] { model.train_step_loss(x, rng, 0); });
  CHECK(early == (static_cast<std::size_t>(store.trainable_size()) + 6) / 7);  // every bucket, by the hooks
}

TEST_CASE("gradient hooks: the VAE with a VampPrior (the encoder's second backward) declares the encoder last") {
  VAE<MLPEncoder<float>, MLPDecoder<float>, VampPrior<float>, MonteCarloKL, BernoulliLikelihood> model(
      MLPEncoder<float>(5, 6, 4, 6), MLPDecoder<float>(3, 4, 6, 5), 3, VampPrior<float>(4, 5));
  generator init(3), rng(4);
  parameter_store<float> store;
  store.attach(model, init);
  tensor<float> x({2, 5});
  rng.fill_uniform(x.data(), x.numel(), 0.0, 1.0);
  const auto early = verified_step(model, store, [&] { model.train_step_loss(x, rng, 0); });
  CHECK(early == (static_cast<std::size_t>(store.trainable_size()) + 6) / 7);
}

TEST_CASE("gradient hooks: the Autoencoder and the VQVAE declare every gradient once, after its last write") {
  generator init(5), rng(6);
  {
    Autoencoder<MLPEncoder<float>, MLPDecoder<float>> model(MLPEncoder<float>(5, 6, 4, 3), MLPDecoder<float>(3, 4, 6, 5));
    parameter_store<float> store;
    store.attach(model, init);
    tensor<float> x({4, 5});
    rng.fill_uniform(x.data(), x.numel(), 0.0, 1.0);
    const auto early = verified_step(model, store, [&] { model.train_step_loss(x); });
    CHECK(early == (static_cast<std::size_t>(store.trainable_size()) + 6) / 7);
  }
  {
    // Parameters enc., codebook., dec.: the codebook's gradient (written by the quantizer's backward, between the
    // decoder's and the encoder's) sits between the two in the store.
    VQVAE<TinyEncoder, TinyDecoder, VectorQuantizer<float>> model(
        TinyEncoder(Flatten<float>(), Linear<float>(16, 12), Reshape<float>(shape{3, 2, 2})),
        TinyDecoder(Flatten<float>(), Linear<float>(12, 16), Reshape<float>(shape{1, 4, 4})), VectorQuantizer<float>(8, 3));
    parameter_store<float> store;
    store.attach(model, init);
    tensor<float> x({4, 1, 4, 4});
    rng.fill_uniform(x.data(), x.numel(), -1.0, 1.0);
    const auto early = verified_step(model, store, [&] { model.train_step_loss(x, 0); });
    CHECK(early == (static_cast<std::size_t>(store.trainable_size()) + 6) / 7);
  }
}

TEST_CASE("gradient hooks: the GPTPrior declares head, blocks (last first) and embeddings once, after their last write") {
  gpt_prior_options o;
  o.text_vocab = 7, o.text_length = 3, o.image_vocab = 5, o.image_height = 2, o.image_width = 2;
  o.n_layer = 2, o.n_head = 2, o.n_embd = 8, o.caption_dropout = 0.5;
  GPTPrior<float> model(o, 11);
  auto& store = model.parameters();
  tensor<std::int32_t> text({3, 3}), image({3, 4});
  for (std::int64_t i = 0; i < text.numel(); ++i) text.data()[i] = static_cast<std::int32_t>(1 + i % 6);
  for (std::int64_t i = 0; i < image.numel(); ++i) image.data()[i] = static_cast<std::int32_t>(i % 5);
  generator rng(12);
  const auto early = verified_step(model, store, [&] { model.train_step_loss(text, image, rng); });
  CHECK(early == (static_cast<std::size_t>(store.trainable_size()) + 6) / 7);
}

TEST_CASE("gradient hooks: the Classifier declares its head, then its feature net, after their last writes") {
  conv_classifier_options o;
  o.channels = 1, o.height = 8, o.width = 8, o.base_width = 2, o.features = 6;
  Classifier<ConvClassifierFeatures<float>> model(make_conv_classifier_features<float>(o), o.features, 3);
  generator init(13), rng(14);
  parameter_store<float> store;
  store.attach(model, init);
  tensor<float> x({4, 1, 8, 8});
  rng.fill_uniform(x.data(), x.numel(), 0.0, 1.0);
  const std::vector<std::int32_t> labels{0, 2, 1, 2};
  const auto early = verified_step(model, store, [&] { model.train_step_loss(x, labels); });
  CHECK(early == (static_cast<std::size_t>(store.trainable_size()) + 6) / 7);
}

TEST_CASE("gradient_reducer verify: a gradient written after it was declared ready is caught, naming it") {
  Linear<float> a(3, 2), b(2, 2);  // a's parameters first in the store, as a model registers them
  layer_list parts{{&a, &b}};
  generator init(7);
  parameter_store<float> store;
  store.attach(parts, init);
  dist::local_communicator one;
  dist::gradient_reducer_options o;
  o.bucket_elements = 4;
  o.verify = true;
  dist::gradient_reducer reducer(one, store, o);
  store.zero_grad();
  dist::mark_gradients_ready<float>(&reducer, b);
  // Store: a [0, 8), b [8, 14) → buckets of 4 from the end: [10, 14) went out with b, [6, 10) waits for a.
  b.bias().grad_to_add()[1] += 1.0f;  // a backward that was not done with b, in the bucket already sent
  dist::mark_gradients_ready<float>(&reducer, a);
  CHECK_THROWS_WITH_AS(reducer.finish(), doctest::Contains("changed after its bucket"), error);

  // The same step without the late write passes; declaring a part twice or another store's gradient is refused.
  store.zero_grad();
  dist::mark_gradients_ready<float>(&reducer, b);
  dist::mark_gradients_ready<float>(&reducer, a);
  CHECK_NOTHROW(reducer.finish());
  dist::mark_gradients_ready<float>(&reducer, b);
  CHECK_THROWS_WITH_AS(dist::mark_gradients_ready<float>(&reducer, b), doctest::Contains("declared ready twice"), error);
  reducer.finish();
  std::vector<float> elsewhere(4);
  CHECK_THROWS_WITH_AS(reducer.ready(elsewhere.data(), elsewhere.size()), doctest::Contains("outside this store"), error);
}

TEST_CASE("gradient_reducer: the mean over two ranks, bucket by bucket in any ready order, with and without the "
          "communication thread, equals the whole-buffer mean") {
  for (bool background : {false, true}) {
    CAPTURE(background);
    Linear<float> a(5, 4), b(4, 3), c(3, 2);
    layer_list parts{{&a, &b, &c}};
    generator init(8);
    parameter_store<float> store;
    store.attach(parts, init);
    const auto n = static_cast<std::size_t>(store.trainable_size());
    fake_two_ranks world(store.grads(), background);
    dist::gradient_reducer_options o;
    o.bucket_elements = 5;
    dist::gradient_reducer reducer(world, store, o);
    CHECK(reducer.background() == background);
    for (int step = 0; step < 2; ++step) {
      std::vector<float> mine(n);
      init.fill_normal(mine.data(), static_cast<std::int64_t>(n), 0.0, 1.0);
      std::copy(mine.begin(), mine.end(), store.grads());
      world.calls = 0;
      dist::mark_gradients_ready<float>(&reducer, c);  // the backward's order: last layer first
      dist::mark_gradients_ready<float>(&reducer, a);  // a bucket straddling b and a waits for b
      dist::mark_gradients_ready<float>(&reducer, b);
      reducer.finish();
      CHECK(world.calls.load() == static_cast<int>((n + 4) / 5));
      if (background) CHECK(world.off_thread.load() > 0);
      const float* g = store.grads();
      for (std::size_t i = 0; i < n; ++i) {
        CAPTURE(i);
        REQUIRE(g[i] == (mine[i] + fake_two_ranks::other(i)) * 0.5f);
      }
    }
  }
}

TEST_CASE("gradient_reducer: without hooks (overlap off) finish() reduces every bucket; one process does nothing") {
  Linear<float> a(4, 3);
  generator init(9);
  parameter_store<float> store;
  store.attach(a, init);
  store.zero_grad();
  fake_two_ranks world(store.grads(), false);
  dist::gradient_reducer_options o;
  o.bucket_elements = 4;
  o.overlap = false;
  dist::gradient_reducer reducer(world, store, o);
  dist::mark_gradients_ready<float>(&reducer, a);  // declared, but nothing starts before finish()
  CHECK(world.calls.load() == 0);
  reducer.finish();
  CHECK(world.calls.load() == 4);  // 15 values in buckets of 4
  CHECK(reducer.early_buckets() == 0);
  CHECK(store.grads()[0] == fake_two_ranks::other(0) * 0.5f);

  dist::local_communicator one;
  dist::gradient_reducer alone(one, store, {});
  const float before = store.grads()[1];
  dist::mark_gradients_ready<float>(&alone, a);
  alone.finish();
  CHECK(store.grads()[1] == before);
}
