// Sequential: chaining, reverse-order backward, nn.Sequential names.
#include "vae/layers/sequential.hpp"

#include "../test_support.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/linear.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

TEST_CASE("Sequential of Linear layers: names and gradients") {
  generator rng(7);
  Sequential net(Linear<double>(5, 4), Linear<double>(4, 3), Linear<double>(3, 2));
  parameter_store<double> store;
  store.attach(net, rng, "enc.");
  REQUIRE(store.entries().size() == 6);
  CHECK(store.entries()[0].name == "enc.0.weight");
  CHECK(store.entries()[5].name == "enc.2.bias");
  auto x = test::random_tensor<double>({3, 5}, rng);
  CHECK(net.forward(x).shape() == shape{3, 2});
  const auto report = testing::check_layer_gradients(net, store, x);
  INFO(report.summary());
  CHECK(report.ok);
}

namespace sequential_test {
struct unfused {  // three Linear layers under a Sequential's names, run one by one by the test
  Linear<float>&l0, &l2, &l4;
  template <class V>
  void visit_parameters(const std::string& p, V&& v) {
    l0.visit_parameters(p + "0.", v);
    l2.visit_parameters(p + "2.", v);
    l4.visit_parameters(p + "4.", v);
  }
};
}  // namespace sequential_test

TEST_CASE("Sequential fuses Linear + ReLU on the host: same outputs and gradients as the layers one by one") {
  static_assert(Sequential<Linear<float>, ReLU<float>>::fuses_relu_at<0>, "a Linear then a ReLU fuses");
  static_assert(!Sequential<Linear<float>, Tanh<float>>::fuses_relu_at<0>, "only a ReLU fuses");
  static_assert(!Sequential<ReLU<float>, Linear<float>>::fuses_relu_at<0>, "the ReLU must follow the Linear");
  Sequential fused(Linear<float>(37, 70), ReLU<float>(), Linear<float>(70, 19), ReLU<float>(), Linear<float>(19, 5));
  Linear<float> l0(37, 70), l2(70, 19), l4(19, 5);
  ReLU<float> r1, r3;
  sequential_test::unfused parts{l0, l2, l4};
  generator init_a(11), init_b(11), rng(5);
  parameter_store<float> a, b;
  a.attach(fused, init_a, "");
  b.attach(parts, init_b, "");
  REQUIRE(a.size() == b.size());
  for (std::int64_t i = 0; i < a.size(); ++i) REQUIRE(a.values()[i] == b.values()[i]);

  auto x = test::random_tensor<float>({130, 37}, rng);  // 130 rows: bands over the pool and a row tail
  const auto& y = fused.forward(x);
  const auto& h0 = l0.forward(x);
  std::int64_t negative = 0;  // the ReLU after layer 0 masks entries of both signs
  for (std::int64_t i = 0; i < h0.numel(); ++i) negative += h0.data()[i] < 0.0f;
  CHECK(negative > h0.numel() / 10);
  CHECK(negative < h0.numel() - h0.numel() / 10);
  const auto& y1 = l4.forward(r3.forward(l2.forward(r1.forward(h0))));
  REQUIRE(y.shape() == y1.shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) CHECK(y.data()[i] == y1.data()[i]);

  auto dy = test::random_tensor<float>({130, 5}, rng);
  const auto& dx = fused.backward(dy);
  const auto& dx1 = l0.backward(r1.backward(l2.backward(r3.backward(l4.backward(dy)))));
  REQUIRE(dx.shape() == dx1.shape());
  for (std::int64_t i = 0; i < dx.numel(); ++i) CHECK(dx.data()[i] == dx1.data()[i]);
  for (std::int64_t i = 0; i < a.size(); ++i) CHECK(a.grads()[i] == b.grads()[i]);
}
