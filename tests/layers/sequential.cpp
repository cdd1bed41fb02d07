// Sequential: chaining, reverse-order backward, nn.Sequential names; set_training and set_communicator reach the
// layers inside (through a Residual too).
#include "vae/layers/sequential.hpp"

#include "../test_support.hpp"
#include "vae/layers/activations.hpp"
#include "vae/layers/batch_norm2d.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/conv_transpose2d.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/residual.hpp"
#include "vae/testing/gradcheck.hpp"
#include "vae/testing/replica_communicator.hpp"

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
  CHECK(report.checked == test::layer_checks(x, store));
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

TEST_CASE("Sequential fuses ReLU + conv in backward on the host: same gradients as the layers one by one") {
  using conv_stack = Sequential<Conv2d<double>, ReLU<double>, Conv2d<double>, ReLU<double>, ConvTranspose2d<double>>;
  static_assert(conv_stack::fuses_relu_backward_at<2> && conv_stack::fuses_relu_backward_at<4>,
                "a ReLU then a convolution fuses in backward");
  static_assert(!conv_stack::fuses_relu_backward_at<1> && !conv_stack::fuses_relu_backward_at<0>,
                "only a ReLU before a convolution");
  static_assert(!Sequential<Tanh<double>, Conv2d<double>>::fuses_relu_backward_at<1>, "only a ReLU fuses");
  auto make = [] {
    return conv_stack(Conv2d<double>(2, 6, 3, 1, 1), ReLU<double>(), Conv2d<double>(6, 4, 3, 2, 1), ReLU<double>(),
                      ConvTranspose2d<double>(4, 3, 4, 2, 1));
  };
  conv_stack fused = make(), plain = make();
  generator init_a(3), init_b(3), rng(9);
  parameter_store<double> a, b;
  a.attach(fused, init_a, "");
  b.attach(plain, init_b, "");
  auto x = test::random_tensor<double>({3, 2, 8, 8}, rng);
  const auto& y = fused.forward(x);
  auto& p = plain;  // the same layers one by one, each ReLU differentiated by its own backward
  const auto& y1 = p.get<4>().forward(p.get<3>().forward(p.get<2>().forward(p.get<1>().forward(p.get<0>().forward(x)))));
  REQUIRE(test::max_abs_diff(y, y1) == 0.0);
  const auto dy = test::random_tensor<double>(y.shape(), rng);
  const auto& dx = fused.backward(dy);
  const auto& dx1 = p.get<0>().backward(
      p.get<1>().backward(p.get<2>().backward(p.get<3>().backward(p.get<4>().backward(dy)))));
  CHECK(test::max_abs_diff(dx, dx1) == 0.0);
  CHECK(test::max_abs_diff(dx, tensor<double>(dx.shape(), 0.0)) > 0.0);
  for (std::int64_t i = 0; i < a.size(); ++i) CHECK(a.grads()[i] == b.grads()[i]);
  const auto report = testing::check_layer_gradients(fused, a, x);  // and against finite differences
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, a));
}

TEST_CASE("vae::set_communicator reaches every BatchNorm2d inside a Sequential and a Residual; nullptr detaches") {
  using block = Sequential<Conv2d<float>, BatchNorm2d<float>, ReLU<float>>;
  using net_t = Sequential<block, Residual<Sequential<BatchNorm2d<float>, Tanh<float>>>, Conv2d<float>>;
  static_assert(HasCommunicator<net_t> && HasCommunicator<Residual<BatchNorm2d<float>>>);
  static_assert(!HasCommunicator<Conv2d<float>>);
  net_t net(block(Conv2d<float>(2, 3, 3, 1, 1), BatchNorm2d<float>(3), ReLU<float>()),
            Residual<Sequential<BatchNorm2d<float>, Tanh<float>>>(
                Sequential<BatchNorm2d<float>, Tanh<float>>(BatchNorm2d<float>(3), Tanh<float>())),
            Conv2d<float>(3, 1, 1));
  generator rng(41);
  parameter_store<float> store;
  store.attach(net, rng);
  testing::replica_communicator two(2);
  vae::set_communicator(net, &two);
  const auto x = test::random_tensor<float>({2, 2, 4, 4}, rng);
  const auto& y = net.forward(x);
  CHECK(two.allreduce_calls() == 4);  // 2 BatchNorm2d × (Σx and count, Σ(x − mean)²)
  net.backward(y);
  CHECK(two.allreduce_calls() == 6);  // 2 × (Σdy, Σdy·x̂)
  vae::set_training(net, false);
  net.forward(x);
  CHECK(two.allreduce_calls() == 6);  // eval: running statistics, no collective
  vae::set_training(net, true);
  vae::set_communicator(net, nullptr);
  net.forward(x);
  CHECK(two.allreduce_calls() == 6);
}
