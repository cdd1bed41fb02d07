// GroupNorm: finite-difference gradients, PyTorch parity (affine and not, rank 3 and 4), accumulation, errors.
#include "vae/layers/group_norm.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<GroupNorm<float>> && Layer<GroupNorm<double>>);

namespace {
template <class T>
tensor<T> grad_of(parameter<T>& p) {
  tensor<T> g(p.shape);
  std::copy(p.grad, p.grad + g.numel(), g.data());
  return g;
}
// Weight and bias away from their 1/0 init, so the affine part takes part in the check.
void randomise_affine(GroupNorm<double>& layer, generator& rng) {
  rng.fill_normal(layer.weight().value, layer.weight().numel(), 1.0, 0.5);
  rng.fill_normal(layer.bias().value, layer.bias().numel(), 0.0, 0.5);
}
}  // namespace

TEST_CASE("GroupNorm gradients match finite differences (double)") {
  generator rng(1);
  GroupNorm<double> layer(2, 6);
  parameter_store<double> store;
  store.attach(layer, rng);
  randomise_affine(layer, rng);
  auto x = test::random_tensor<double>({2, 6, 2, 3}, rng, 2.0);
  for (auto& v : x) v += 1.5;
  const auto report = testing::check_layer_gradients(layer, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == 72 + 6 + 6);
}

TEST_CASE("GroupNorm gradients: one group per channel, all channels in one group, no affine, rank 3") {
  for (const auto& [groups, affine, s] : {std::tuple{4, true, shape{3, 4, 5}}, std::tuple{1, true, shape{2, 4, 3}},
                                          std::tuple{2, false, shape{2, 4, 2, 2}}}) {
    generator rng(2);
    GroupNorm<double> layer(groups, 4, 1e-5, affine);
    parameter_store<double> store;
    store.attach(layer, rng);
    if (affine) randomise_affine(layer, rng);
    auto x = test::random_tensor<double>(s, rng);
    const auto report = testing::check_layer_gradients(layer, store, x);
    INFO("groups=" << groups << " affine=" << affine << " input " << s << ": " << report.summary());
    CHECK(report.ok);
    CHECK(report.checked == x.numel() + (affine ? 8 : 0));
  }
}

TEST_CASE("GroupNorm matches PyTorch nn.GroupNorm (float32)") {
  const auto f = test::golden("group_norm");
  generator rng(0);
  GroupNorm<float> layer(3, 6);
  parameter_store<float> store;
  store.attach(layer, rng);
  test::load_into(layer.weight(), f, "weight");
  test::load_into(layer.bias(), f, "bias");
  const auto x = f.at("x").to_tensor<float>();
  const auto r = f.at("r").to_tensor<float>();
  test::require_parity(layer.forward(x), f, "y", "GroupNorm forward");
  store.zero_grad();
  test::require_parity(layer.backward(r), f, "dx", "GroupNorm dx");
  test::require_parity(grad_of(layer.weight()), f, "dweight", "GroupNorm dweight");
  test::require_parity(grad_of(layer.bias()), f, "dbias", "GroupNorm dbias");

  GroupNorm<float> plain(2, 4, 1e-5, false);
  parameter_store<float> none;
  none.attach(plain, rng);
  CHECK(none.entries().empty());
  const auto x3 = f.at("x3").to_tensor<float>();
  const auto r3 = f.at("r3").to_tensor<float>();
  test::require_parity(plain.forward(x3), f, "y3", "GroupNorm(affine=False) rank-3 forward");
  test::require_parity(plain.backward(r3), f, "dx3", "GroupNorm(affine=False) rank-3 dx");
}

TEST_CASE("GroupNorm float32 keeps its accuracy on inputs with a large offset") {
  // mean 1000, std 1: a one-pass E[x²] − E[x]² in float would lose every digit of the variance.
  generator rng(7);
  GroupNorm<float> layer(1, 2);
  GroupNorm<double> ref(1, 2);
  parameter_store<float> store;
  parameter_store<double> store_d;
  store.attach(layer, rng);
  store_d.attach(ref, rng);
  auto xd = test::random_tensor<double>({2, 2, 16, 16}, rng);
  for (auto& v : xd) v = 1000 + v;
  tensor<float> x(xd.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(xd[i]), xd[i] = x[i];
  const auto& y = layer.forward(x);
  const auto& yd = ref.forward(xd);
  double worst = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) worst = std::max(worst, std::abs(y[i] - yd[i]));
  MESSAGE("GroupNorm float32 vs double at offset 1000: max abs err " << worst);
  CHECK(worst < 1e-3);  // float spacing at 1000 is 6e-5; normalised by std 1 that is the floor of the error
}

TEST_CASE("GroupNorm backward accumulates into parameter gradients") {
  generator rng(3);
  GroupNorm<double> layer(2, 4);
  parameter_store<double> store;
  store.attach(layer, rng);
  randomise_affine(layer, rng);
  auto x = test::random_tensor<double>({2, 4, 3}, rng);
  auto dy = test::random_tensor<double>({2, 4, 3}, rng);
  store.zero_grad();
  layer.forward(x);
  const auto dx1 = layer.backward(dy);
  const std::vector<double> once(store.grads(), store.grads() + store.size());
  const auto& dx2 = layer.backward(dy);
  for (std::int64_t i = 0; i < store.size(); ++i) CHECK(store.grads()[i] == doctest::Approx(2 * once[i]));
  for (std::int64_t i = 0; i < dx1.numel(); ++i) CHECK(dx2[i] == dx1[i]);  // dx is written, not added
}

TEST_CASE("GroupNorm names its parameters like PyTorch and initialises them to 1 and 0") {
  generator rng(4);
  GroupNorm<float> layer(2, 4);
  parameter_store<float> store;
  store.attach(layer, rng, "dec.norm.");
  REQUIRE(store.entries().size() == 2);
  CHECK(store.entries()[0].name == "dec.norm.weight");
  CHECK(store.entries()[1].name == "dec.norm.bias");
  for (int c = 0; c < 4; ++c) {
    CHECK(layer.weight().value[c] == 1.f);
    CHECK(layer.bias().value[c] == 0.f);
  }
}

TEST_CASE("GroupNorm rejects bad sizes and shapes with the shapes in the message") {
  CHECK_THROWS_WITH_AS(GroupNorm<float>(3, 8), doctest::Contains("num_groups=3 num_channels=8"), vae::error);
  generator rng(5);
  GroupNorm<float> layer(2, 4);
  parameter_store<float> store;
  store.attach(layer, rng);
  CHECK_THROWS_WITH_AS(layer.backward(tensor<float>({2, 4}, 0.f)), doctest::Contains("called before forward"),
                       vae::error);
  tensor<float> x({2, 3, 5}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(x), doctest::Contains("expected input [N, 4, *], got [2, 3, 5]"), vae::error);
  tensor<float> flat({4}, 0.f);
  CHECK_THROWS_WITH_AS(layer.forward(flat), doctest::Contains("got [4]"), vae::error);
  tensor<float> ok({2, 4, 5}, 1.f);
  layer.forward(ok);
  CHECK_THROWS_WITH_AS(layer.backward(tensor<float>({2, 4, 6}, 0.f)),
                       doctest::Contains("expected shape [2, 4, 5], got [2, 4, 6]"), vae::error);
  GroupNorm<float> unattached(2, 4);
  CHECK_THROWS_WITH_AS(unattached.forward(ok), doctest::Contains("not attached"), vae::error);
}

TEST_CASE("GroupNorm gradients on an input large enough for the parallel path (double)") {
  generator rng(8);
  GroupNorm<double> layer(4, 8);
  parameter_store<double> store;
  store.attach(layer, rng);
  randomise_affine(layer, rng);
  auto x = test::random_tensor<double>({4, 8, 16, 16}, rng);
  testing::gradcheck_options opt;
  opt.max_checks_per_tensor = 40;
  const auto report = testing::check_layer_gradients(layer, store, x, opt);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, store, opt.max_checks_per_tensor));
}
