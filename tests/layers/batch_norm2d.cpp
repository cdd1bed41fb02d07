// BatchNorm2d: finite differences in training and eval mode, PyTorch parity over two training steps (running
// statistics included) and in eval mode, accumulation, buffers and their names, errors; with a communicator
// (SyncBatchNorm): one rank is the plain layer bit for bit, W replicas act as one process on W copies of the batch.
// The 2-process case is tests/dist/mpi/batch_norm2d.cpp.
#include "vae/layers/batch_norm2d.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"
#include "vae/testing/replica_communicator.hpp"

using namespace vae;

static_assert(Layer<BatchNorm2d<float>> && HasTrainingMode<BatchNorm2d<double>> && HasCommunicator<BatchNorm2d<float>>);

namespace {
template <class T>
tensor<T> grad_of(parameter<T>& p) {
  tensor<T> g(p.shape);
  std::copy(p.grad, p.grad + g.numel(), g.data());
  return g;
}
template <class T>
tensor<T> value_of(parameter<T>& p) {
  tensor<T> v(p.shape);
  std::copy(p.value, p.value + v.numel(), v.data());
  return v;
}
// num_batches_tracked is a 0-d tensor (as PyTorch's); the fixture holds it as [1] (safetensors_np writes 0-d as 1-d).
template <class T>
tensor<T> count_of(BatchNorm2d<T>& layer) {
  return tensor<T>({1}, *layer.num_batches_tracked().value);
}
void randomise(BatchNorm2d<double>& layer, generator& rng) {
  rng.fill_normal(layer.weight().value, 3, 1.0, 0.5);
  rng.fill_normal(layer.bias().value, 3, 0.0, 0.5);
  rng.fill_normal(layer.running_mean().value, 3, 0.5, 1.0);
  rng.fill_uniform(layer.running_var().value, 3, 0.5, 2.0);
}
}  // namespace

TEST_CASE("BatchNorm2d gradients match finite differences in training mode (double)") {
  generator rng(1);
  BatchNorm2d<double> layer(3);
  parameter_store<double> store;
  store.attach(layer, rng);
  randomise(layer, rng);
  auto x = test::random_tensor<double>({4, 3, 2, 3}, rng, 2.0);
  for (auto& v : x) v += 1.0;
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 72 + 3 + 3);
  CHECK(store.trainable_size() == 6);  // the buffers are not checked (no gradient)
}

TEST_CASE("BatchNorm2d gradients match finite differences in eval mode (double)") {
  generator rng(2);
  BatchNorm2d<double> layer(3);
  parameter_store<double> store;
  store.attach(layer, rng);
  randomise(layer, rng);
  layer.set_training(false);
  auto x = test::random_tensor<double>({2, 3, 2, 2}, rng, 2.0);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 24 + 3 + 3);
}

TEST_CASE("BatchNorm2d gradients without affine parameters; a single sample of several pixels trains") {
  generator rng(3);
  BatchNorm2d<double> layer(2, 1e-3, 0.1, false);
  parameter_store<double> store;
  store.attach(layer, rng);
  CHECK(store.trainable_size() == 0);
  auto x = test::random_tensor<double>({1, 2, 3, 2}, rng);
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 12);
}

TEST_CASE("BatchNorm2d matches PyTorch nn.BatchNorm2d over two training steps and in eval (float32)") {
  const auto f = test::golden("batch_norm2d");
  generator rng(0);
  BatchNorm2d<float> layer(3);
  parameter_store<float> store;
  store.attach(layer, rng);
  test::load_into(layer.weight(), f, "weight");
  test::load_into(layer.bias(), f, "bias");
  CHECK(layer.training());
  for (const std::string step : {"1", "2"}) {
    const auto x = f.at("x" + step).to_tensor<float>();
    const auto r = f.at("r" + step).to_tensor<float>();
    test::require_parity(layer.forward(x), f, "y" + step, "BatchNorm2d train step " + step + " forward");
    store.zero_grad();
    test::require_parity(layer.backward(r), f, "dx" + step, "BatchNorm2d train step " + step + " dx");
    test::require_parity(grad_of(layer.weight()), f, "dweight" + step, "BatchNorm2d train step " + step + " dweight");
    test::require_parity(grad_of(layer.bias()), f, "dbias" + step, "BatchNorm2d train step " + step + " dbias");
  }
  test::require_parity(value_of(layer.running_mean()), f, "running_mean", "BatchNorm2d running_mean after 2 steps");
  test::require_parity(value_of(layer.running_var()), f, "running_var", "BatchNorm2d running_var after 2 steps");
  test::require_parity(count_of(layer), f, "num_batches_tracked", "BatchNorm2d num_batches_tracked after 2 steps", 0.0,
                       0.0);

  const auto mean_before = value_of(layer.running_mean()), var_before = value_of(layer.running_var());
  layer.set_training(false);
  const auto x = f.at("x_eval").to_tensor<float>();
  const auto r = f.at("r_eval").to_tensor<float>();
  test::require_parity(layer.forward(x), f, "y_eval", "BatchNorm2d eval forward");
  store.zero_grad();
  test::require_parity(layer.backward(r), f, "dx_eval", "BatchNorm2d eval dx");
  test::require_parity(grad_of(layer.weight()), f, "dweight_eval", "BatchNorm2d eval dweight");
  test::require_parity(grad_of(layer.bias()), f, "dbias_eval", "BatchNorm2d eval dbias");
  // Eval leaves the running statistics alone.
  const auto mean_after = value_of(layer.running_mean()), var_after = value_of(layer.running_var());
  for (std::int64_t c = 0; c < 3; ++c) {
    CHECK(mean_after[c] == mean_before[c]);
    CHECK(var_after[c] == var_before[c]);
  }
  CHECK(*layer.num_batches_tracked().value == 2.f);
}

TEST_CASE("BatchNorm2d backward accumulates into parameter gradients, in both modes") {
  for (const bool training : {true, false}) {
    generator rng(4);
    BatchNorm2d<double> layer(3);
    parameter_store<double> store;
    store.attach(layer, rng);
    randomise(layer, rng);
    layer.set_training(training);
    auto x = test::random_tensor<double>({2, 3, 2, 2}, rng);
    auto dy = test::random_tensor<double>({2, 3, 2, 2}, rng);
    store.zero_grad();
    layer.forward(x);
    const auto dx1 = layer.backward(dy);
    const std::vector<double> once(store.grads(), store.grads() + store.trainable_size());
    const auto& dx2 = layer.backward(dy);
    INFO("training=" << training);
    for (std::int64_t i = 0; i < store.trainable_size(); ++i) CHECK(store.grads()[i] == doctest::Approx(2 * once[i]));
    for (std::int64_t i = 0; i < dx1.numel(); ++i) CHECK(dx2[i] == dx1[i]);
  }
}

TEST_CASE("BatchNorm2d names parameters and buffers like PyTorch, with PyTorch's initial values") {
  generator rng(5);
  BatchNorm2d<float> layer(2);
  parameter_store<float> store;
  store.attach(layer, rng, "enc.1.");
  REQUIRE(store.entries().size() == 5);
  CHECK(store.entries()[0].name == "enc.1.weight");
  CHECK(store.entries()[1].name == "enc.1.bias");
  CHECK(store.entries()[2].name == "enc.1.running_mean");
  CHECK(store.entries()[3].name == "enc.1.running_var");
  CHECK(store.entries()[4].name == "enc.1.num_batches_tracked");
  CHECK(store.entries()[4].shape == shape{});
  CHECK(store.trainable_size() == 4);
  for (std::size_t i = 2; i < 5; ++i) CHECK(!store.entries()[i].trainable);
  const float expected[] = {1, 1, 0, 0, 0, 0, 1, 1, 0};
  REQUIRE(store.size() == 9);
  for (int i = 0; i < 9; ++i) CHECK(store.values()[i] == expected[i]);
  CHECK(layer.running_var().grad == nullptr);
}

TEST_CASE("BatchNorm2d rejects bad shapes and a single value per channel in training") {
  CHECK_THROWS_WITH_AS(BatchNorm2d<float>(4, 1e-5, 1.5), doctest::Contains("momentum must be in [0, 1], got 1.5"),
                       vae::error);
  generator rng(6);
  BatchNorm2d<float> layer(3);
  parameter_store<float> store;
  store.attach(layer, rng);
  CHECK_THROWS_WITH_AS(layer.backward(tensor<float>({2, 3, 1, 1}, 0.f)), doctest::Contains("called before forward"),
                       vae::error);
  tensor<float> x({2, 4, 2, 2}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(x), doctest::Contains("expected input [N, 3, H, W], got [2, 4, 2, 2]"),
                       vae::error);
  tensor<float> rank3({2, 3, 4}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(rank3), doctest::Contains("got [2, 3, 4]"), vae::error);
  tensor<float> single({1, 3, 1, 1}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(single), doctest::Contains("more than 1 value per channel"), vae::error);
  layer.set_training(false);
  CHECK_NOTHROW(layer.forward(single));  // eval uses the running statistics
  tensor<float> ok({2, 3, 2, 2}, 1.f);
  layer.forward(ok);
  CHECK_THROWS_WITH_AS(layer.backward(tensor<float>({2, 3, 2, 1}, 0.f)),
                       doctest::Contains("expected shape [2, 3, 2, 2], got [2, 3, 2, 1]"), vae::error);
  BatchNorm2d<float> unattached(3);
  CHECK_THROWS_WITH_AS(unattached.forward(ok), doctest::Contains("not attached"), vae::error);
}

TEST_CASE("BatchNorm2d gradients on an input large enough for the parallel path, both modes (double)") {
  for (const bool training : {true, false}) {
    generator rng(8);
    BatchNorm2d<double> layer(3);
    parameter_store<double> store;
    store.attach(layer, rng);
    randomise(layer, rng);
    layer.set_training(training);
    auto x = test::random_tensor<double>({8, 3, 16, 16}, rng);
    testing::gradcheck_options opt;
    opt.max_checks_per_tensor = 40;
    const auto report = testing::check_layer_gradients(layer, store, x, opt);
    INFO("training=" << training << ": " << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == test::layer_checks(x, store, opt.max_checks_per_tensor));
  }
}

namespace batch_norm2d_test {
// x with every value k/8 for a small integer k (dyadic): with a power-of-two count per channel every sum the layer
// takes (Σx, Σ(x − mean)², Σdy, Σdy·(x − mean)) is exact in double, in any order, so a split or replicated batch
// must give the same bits as one process.
tensor<float> dyadic(shape s, int seed) {
  tensor<float> t(s);
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>((i * 7 + seed * 13) % 23 - 11) / 8.f;
  return t;
}
// [x; x; ...] (copies times along the batch).
tensor<float> stacked(const tensor<float>& x, std::int64_t copies) {
  tensor<float> out(shape{x.dim(0) * copies, x.dim(1), x.dim(2), x.dim(3)});
  for (std::int64_t k = 0; k < copies; ++k) std::copy(x.begin(), x.end(), out.data() + k * x.numel());
  return out;
}
struct bn_pair {
  BatchNorm2d<float> a{3}, b{3};
  parameter_store<float> sa, sb;
  bn_pair() {
    generator g1(7), g2(7);
    sa.attach(a, g1);
    sb.attach(b, g2);
    randomise(a);
    randomise(b);
  }
  static void randomise(BatchNorm2d<float>& layer) {
    generator g(8);
    g.fill_normal(layer.weight().value, 3, 1.0, 0.5);
    g.fill_normal(layer.bias().value, 3, 0.0, 0.5);
  }
};
}  // namespace batch_norm2d_test

TEST_CASE("BatchNorm2d with a local_communicator (one rank) is the plain layer, bit for bit, training and eval") {
  batch_norm2d_test::bn_pair p;
  dist::local_communicator local;
  p.b.set_communicator(&local);
  generator rng(21);
  for (int step = 0; step < 3; ++step) {
    const bool training = step < 2;
    p.a.set_training(training);
    p.b.set_training(training);
    const auto x = test::random_tensor<float>({4, 3, 3, 2}, rng, 2.0), dy = test::random_tensor<float>({4, 3, 3, 2}, rng);
    const auto& ya = p.a.forward(x);
    const auto& yb = p.b.forward(x);
    CHECK(std::equal(ya.begin(), ya.end(), yb.begin()));
    p.sa.zero_grad();
    p.sb.zero_grad();
    const auto& dxa = p.a.backward(dy);
    const auto& dxb = p.b.backward(dy);
    CHECK(std::equal(dxa.begin(), dxa.end(), dxb.begin()));
    CHECK(std::equal(p.sa.grads(), p.sa.grads() + p.sa.trainable_size(), p.sb.grads()));
    CHECK(std::equal(p.sa.values(), p.sa.values() + p.sa.size(), p.sb.values()));  // running statistics, count
  }
  CHECK(*p.b.num_batches_tracked().value == 2.f);
}

TEST_CASE("BatchNorm2d with 2 replicas acts as one process on the batch twice: y, dx, running statistics exact") {
  // The replicas' allreduce doubles each sum: the layer must normalise by the statistics of [x; x] and give dx of the
  // summed loss (each replica's dy being its own loss's gradient): one process's dx on [x; x] with dy [dy; dy].
  // Parameter gradients stay local: one process's are twice the replica's.
  batch_norm2d_test::bn_pair p;
  testing::replica_communicator two(2);
  vae::set_communicator(p.b, &two);
  for (int step = 0; step < 2; ++step) {
    const auto x = batch_norm2d_test::dyadic({2, 3, 2, 2}, step), dy = batch_norm2d_test::dyadic({2, 3, 2, 2}, 5 + step);
    const auto xx = batch_norm2d_test::stacked(x, 2), dydy = batch_norm2d_test::stacked(dy, 2);
    const auto& ya = p.a.forward(xx);
    const auto& yb = p.b.forward(x);
    CHECK(std::equal(yb.begin(), yb.end(), ya.begin()));
    CHECK(std::equal(yb.begin(), yb.end(), ya.begin() + x.numel()));
    CHECK(two.allreduce_calls() == 3 * step + 2);  // Σx and count, then Σ(x − mean)²
    p.sa.zero_grad();
    p.sb.zero_grad();
    const auto& dxa = p.a.backward(dydy);
    const auto& dxb = p.b.backward(dy);
    CHECK(two.allreduce_calls() == 3 * step + 3);  // Σdy and Σdy·x̂
    CHECK(std::equal(dxb.begin(), dxb.end(), dxa.begin()));
    for (std::int64_t i = 0; i < p.sa.trainable_size(); ++i) CHECK(p.sa.grads()[i] == 2 * p.sb.grads()[i]);
    CHECK(std::equal(p.sa.values(), p.sa.values() + p.sa.size(), p.sb.values()));  // running statistics, count
  }
  // Eval: the running statistics, no collective.
  p.a.set_training(false);
  p.b.set_training(false);
  const auto x = batch_norm2d_test::dyadic({2, 3, 2, 2}, 9);
  const auto& ya = p.a.forward(x);
  const auto& yb = p.b.forward(x);
  CHECK(std::equal(ya.begin(), ya.end(), yb.begin()));
  p.b.backward(x);
  CHECK(two.allreduce_calls() == 6);
  CHECK(*p.b.num_batches_tracked().value == 2.f);
}

TEST_CASE("BatchNorm2d with a communicator counts values over all ranks: one value here trains, none anywhere fails") {
  generator rng(22);
  BatchNorm2d<float> layer(3);
  parameter_store<float> store;
  store.attach(layer, rng);
  testing::replica_communicator two(2), one(1);
  layer.set_communicator(&one);  // one rank: the plain layer and its local check
  CHECK_THROWS_WITH_AS(layer.forward(tensor<float>({1, 3, 1, 1}, 1.f)),
                       doctest::Contains("more than 1 value per channel, got input [1, 3, 1, 1]"), vae::error);
  layer.set_communicator(&two);
  tensor<float> x({1, 3, 1, 1}, 1.f);
  x[1] = 2.f;
  const auto& y = layer.forward(x);  // two values per channel over the replicas: variance 0, y = bias
  for (std::int64_t c = 0; c < 3; ++c) CHECK(y[c] == 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(tensor<float>({0, 3, 2, 2})),
                       doctest::Contains("more than 1 value per channel over all 2 ranks, got 0"), vae::error);
}
