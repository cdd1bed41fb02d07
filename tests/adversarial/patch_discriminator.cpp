// PatchDiscriminator (taming's NLayerDiscriminator): PyTorch parity in training mode with BatchNorm2d (running
// statistics included) and with ActNorm (its initialisation included), finite-difference gradients (double), taming's
// names and vqgan.py's sizes, weights_init statistics from a seeded generator, errors; set_communicator reaching its
// BatchNorm2d layers (SyncBatchNorm).
#include "vae/adversarial/patch_discriminator.hpp"

#include <cmath>

#include "../encoders/stack_support.hpp"
#include "vae/testing/gradcheck.hpp"
#include "vae/testing/replica_communicator.hpp"

using namespace vae;

static_assert(Layer<PatchDiscriminator<float>>);
static_assert(Layer<PatchDiscriminator<float, cpu, ActNorm>>);

namespace patch_discriminator_test {
// Loads the fixture's trainable parameters "p.<name>" (buffers keep their fresh values, as the fresh nn.Module),
// runs one training forward and backward, and compares y, dx, every gradient and the tensors "after.<name>" (buffers
// or parameters after the step: running statistics, ActNorm's initialised loc and scale).
template <class D, class T>
void require_parity(D& disc, parameter_store<T>& store, const io::safetensors_file& f, const std::string& label,
                    double atol, double rtol) {
  for (const auto& e : store.entries()) {
    if (!e.trainable) continue;
    const auto v = f.at("p." + e.name).template values<T>();
    REQUIRE(static_cast<std::int64_t>(v.size()) == e.shape.numel());
    std::copy(v.begin(), v.end(), store.values() + e.offset);
  }
  const auto x = f.at("x").template to_tensor<T>();
  const auto r = f.at("r").template to_tensor<T>();
  test::require_parity(disc.forward(x), f, "y", label + " forward", atol, rtol);
  store.zero_grad();
  test::require_parity(disc.backward(r), f, "dx", label + " dx", atol, rtol);
  std::size_t after = 0;
  for (const auto& e : store.entries()) {
    tensor<T> v(e.shape);
    if (e.trainable) {
      std::copy(store.grads() + e.offset, store.grads() + e.offset + e.shape.numel(), v.data());
      test::require_parity(v, f, "g." + e.name, label + " d" + e.name, atol, rtol);
    }
    if (f.find("after." + e.name)) {
      std::copy(store.values() + e.offset, store.values() + e.offset + e.shape.numel(), v.data());
      test::require_parity(v, f, "after." + e.name, label + " " + e.name + " after the step", atol, rtol);
      ++after;
    }
  }
  CHECK(after == 4);  // two norms × (running_mean, running_var) or (loc, scale)
}
}  // namespace patch_discriminator_test

TEST_CASE("PatchDiscriminator matches taming's NLayerDiscriminator in PyTorch (n_layers 2, ndf 8, 32×32, training)") {
  SUBCASE("BatchNorm2d, float32 and double") {
    const auto f = test::golden("vqgan_patch_discriminator");
    generator rng(0);
    PatchDiscriminator<float> disc({1, 8, 2});
    parameter_store<float> store;
    store.attach(disc, rng);
    patch_discriminator_test::require_parity(disc, store, f, "PatchDiscriminator<float>", 1e-5, 1e-4);
    PatchDiscriminator<double> ddisc({1, 8, 2});
    parameter_store<double> dstore;
    dstore.attach(ddisc, rng);
    patch_discriminator_test::require_parity(ddisc, dstore, f, "PatchDiscriminator<double>", 1e-6, 1e-5);
  }
  SUBCASE("ActNorm (convolutions with biases), float32 and double") {
    const auto f = test::golden("vqgan_patch_discriminator_actnorm");
    generator rng(0);
    PatchDiscriminator<float, cpu, ActNorm> disc({3, 8, 2});
    parameter_store<float> store;
    store.attach(disc, rng);
    patch_discriminator_test::require_parity(disc, store, f, "PatchDiscriminator<float, ActNorm>", 1e-5, 1e-4);
    PatchDiscriminator<double, cpu, ActNorm> ddisc({3, 8, 2});
    parameter_store<double> dstore;
    dstore.attach(ddisc, rng);
    patch_discriminator_test::require_parity(ddisc, dstore, f, "PatchDiscriminator<double, ActNorm>", 1e-6, 1e-5);
  }
}

TEST_CASE("PatchDiscriminator gradients match finite differences (double, training mode)") {
  SUBCASE("BatchNorm2d") {
    PatchDiscriminator<double> disc({2, 2, 2});
    CHECK(test::require_gradients(disc, {2, 2, 16, 16}, 91) == 6 + 2 * 5);  // 4 convs (2 with biases), 2 × (2 + 3 buffers)
  }
  SUBCASE("ActNorm, n_layers 3") {
    PatchDiscriminator<double, cpu, ActNorm> disc({1, 2, 3});
    CHECK(test::require_gradients(disc, {2, 1, 32, 32}, 92) == 5 * 2 + 3 * 3);  // 5 convs with biases, 3 ActNorms
  }
}

TEST_CASE("PatchDiscriminator at vqgan.py's size: taming's state_dict names, 166,817 parameters, 6×6 logits") {
  generator rng(93);
  PatchDiscriminator<float> disc({.in_channels = 1, .ndf = 32, .n_layers = 2});  // as docs/guide-vqgan.md
  parameter_store<float> store;
  store.attach(disc, rng, "discriminator.");
  const std::vector<std::string> names = {
      "main.0.weight",       "main.0.bias",       "main.2.weight",      "main.3.weight",
      "main.3.bias",         "main.3.running_mean", "main.3.running_var", "main.3.num_batches_tracked",
      "main.5.weight",       "main.6.weight",     "main.6.bias",        "main.6.running_mean",
      "main.6.running_var",  "main.6.num_batches_tracked", "main.8.weight", "main.8.bias"};
  // The store keeps taming's order within the trainable parameters and within the buffers (buffers after them).
  std::vector<std::string> store_order;
  for (const auto& n : names)
    if (n.find("running") == std::string::npos && n.find("num_batches") == std::string::npos) store_order.push_back(n);
  for (const auto& n : names)
    if (n.find("running") != std::string::npos || n.find("num_batches") != std::string::npos) store_order.push_back(n);
  REQUIRE(store.entries().size() == names.size());
  for (std::size_t i = 0; i < names.size(); ++i) CHECK(store.entries()[i].name == "discriminator." + store_order[i]);
  CHECK(store.trainable_size() == 166817);  // sum(p.numel() for p in NLayerDiscriminator().parameters()) in vqgan.py
  tensor<float> x({2, 1, 32, 32}, 0.5f);
  CHECK(disc.forward(x).shape() == shape{2, 1, 6, 6});

  PatchDiscriminator<float, cpu, ActNorm> an({1, 32, 2});
  parameter_store<float> an_store;
  an_store.attach(an, rng);
  CHECK(an_store.entries()[3].name == "main.2.bias");  // taming's use_bias with ActNorm
  CHECK(an_store.entries()[4].name == "main.3.loc");
  CHECK(an_store.entries().back().name == "main.6.initialized");
  CHECK_FALSE(an_store.entries().back().trainable);
}

TEST_CASE("PatchDiscriminator initialises as taming's weights_init, from the store's generator") {
  auto moments = [](const parameter_store<float>& s, const std::string& name) {
    for (const auto& e : s.entries())
      if (e.name == name) {
        double m = 0, ss = 0;
        const std::int64_t n = e.shape.numel();
        for (std::int64_t i = 0; i < n; ++i) m += s.values()[e.offset + i];
        m /= static_cast<double>(n);
        for (std::int64_t i = 0; i < n; ++i) ss += std::pow(s.values()[e.offset + i] - m, 2);
        return std::pair<double, double>{m, std::sqrt(ss / static_cast<double>(n))};
      }
    FAIL("no parameter " << name);
    return std::pair<double, double>{0, 0};
  };
  generator rng(94);
  PatchDiscriminator<float> disc({3, 64, 3});  // taming's default size
  parameter_store<float> store;
  store.attach(disc, rng);
  const auto w = moments(store, "main.5.weight");  // 256 × 128 × 4 × 4 = 524,288 draws of N(0, 0.02)
  CHECK(std::abs(w.first) < 1e-4);
  CHECK(w.second == doctest::Approx(0.02).epsilon(0.01));
  const auto bn = moments(store, "main.6.weight");  // 256 draws of N(1, 0.02)
  CHECK(bn.first == doctest::Approx(1.0).epsilon(0.005));
  CHECK(bn.second == doctest::Approx(0.02).epsilon(0.2));
  CHECK(moments(store, "main.6.bias").second == 0.0);
  CHECK(moments(store, "main.6.bias").first == 0.0);
  const auto b = moments(store, "main.0.bias");  // PyTorch's default U(±1/√48): std 1/√(3·48) = 0.083
  CHECK(b.second == doctest::Approx(1.0 / std::sqrt(3.0 * 48.0)).epsilon(0.3));
  generator same(94);
  PatchDiscriminator<float> twin({3, 64, 3});
  parameter_store<float> twin_store;
  twin_store.attach(twin, same);
  CHECK(std::equal(store.values(), store.values() + store.size(), twin_store.values()));
}

TEST_CASE("PatchDiscriminator rejects bad options and inputs") {
  CHECK_THROWS_WITH_AS(PatchDiscriminator<float>({1, 8, 0}), doctest::Contains("n_layers ≥ 1"), vae::error);
  generator rng(95);
  PatchDiscriminator<float> disc({3, 8, 2});
  parameter_store<float> store;
  store.attach(disc, rng);
  tensor<float> x({2, 1, 32, 32}, 0.f);
  CHECK_THROWS_WITH_AS(disc.forward(x), doctest::Contains("expected input [N, 3, H, W], got [2, 1, 32, 32]"),
                       vae::error);
}

TEST_CASE("PatchDiscriminator with vae::set_communicator: 2 replicas act as one discriminator on the batch twice") {
  // Every BatchNorm2d normalises by the global batch: y and dx (of the summed loss) as one process's on [x; x] with
  // dy [dy; dy]; parameter gradients are local, so one process's are twice a replica's. Double: only the order of
  // the double sums differs (relative 1e-12).
  PatchDiscriminator<double> alone({2, 4, 2}), shared({2, 4, 2});
  generator g1(95), g2(95), rng(96);
  parameter_store<double> s_alone, s_shared;
  s_alone.attach(alone, g1);
  s_shared.attach(shared, g2);
  testing::replica_communicator two(2);
  vae::set_communicator(shared, &two);
  const auto x = test::random_tensor<double>({2, 2, 16, 16}, rng);
  tensor<double> xx(shape{4, 2, 16, 16});
  std::copy(x.begin(), x.end(), xx.data());
  std::copy(x.begin(), x.end(), xx.data() + x.numel());
  const auto& y = shared.forward(x);
  const auto& yy = alone.forward(xx);
  CHECK(two.allreduce_calls() == 4);  // 2 BatchNorm2d (n_layers 2) × 2 forward sums
  const auto dy = test::random_tensor<double>(y.shape(), rng);
  tensor<double> dydy(yy.shape());
  std::copy(dy.begin(), dy.end(), dydy.data());
  std::copy(dy.begin(), dy.end(), dydy.data() + dy.numel());
  s_alone.zero_grad();
  s_shared.zero_grad();
  const auto& dx = shared.backward(dy);
  const auto& dxx = alone.backward(dydy);
  CHECK(two.allreduce_calls() == 6);
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    CHECK(y[i] == doctest::Approx(yy[i]).epsilon(1e-12));
    CHECK(y[i] == doctest::Approx(yy[y.numel() + i]).epsilon(1e-12));
  }
  for (std::int64_t i = 0; i < dx.numel(); ++i) CHECK(dx[i] == doctest::Approx(dxx[i]).epsilon(1e-12));
  REQUIRE(s_alone.trainable_size() == s_shared.trainable_size());
  for (std::int64_t i = 0; i < s_alone.trainable_size(); ++i)
    CHECK(s_alone.grads()[i] == doctest::Approx(2 * s_shared.grads()[i]).epsilon(1e-12));
  for (std::int64_t i = s_alone.trainable_size(); i < s_alone.size(); ++i)  // running statistics, counts
    CHECK(s_alone.values()[i] == doctest::Approx(s_shared.values()[i]).epsilon(1e-12));
}
