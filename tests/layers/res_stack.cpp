// ResStack: k = 0 is the identity, names (from 0 and from an offset), default hidden width, gradients, bad options.
#include "vae/layers/res_stack.hpp"

#include "../test_support.hpp"
#include "vae/testing/gradcheck.hpp"

using namespace vae;

static_assert(Layer<ResStack<float>>);

TEST_CASE("ResStack with k = 0 is the identity and has no parameters") {
  ResStack<double> s(4, res_stack_options{});
  parameter_store<double> store;
  generator rng(1);
  store.attach(s, rng);
  CHECK(store.entries().empty());
  const auto x = test::random_tensor<double>({2, 4, 3, 3}, rng);
  CHECK(&s.forward(x) == &x);
  CHECK(&s.backward(x) == &x);
}

TEST_CASE("ResStack names its blocks j.c1 / j.c2, from 0 or from a given index; hidden defaults to channels / 2") {
  ResStack<float> s(6, res_stack_options{2, 0});
  CHECK(s.blocks() == 2);
  CHECK(s.hidden() == 3);
  std::vector<std::string> names, shifted;
  s.visit_parameters("p.", [&](const std::string& n, auto&&...) { names.push_back(n); });
  s.visit_parameters_from("p.", 4, [&](const std::string& n, auto&&...) { shifted.push_back(n); });
  CHECK(names == std::vector<std::string>{"p.0.c1.weight", "p.0.c1.bias", "p.0.c2.weight", "p.0.c2.bias",
                                          "p.1.c1.weight", "p.1.c1.bias", "p.1.c2.weight", "p.1.c2.bias"});
  CHECK(shifted == std::vector<std::string>{"p.4.c1.weight", "p.4.c1.bias", "p.4.c2.weight", "p.4.c2.bias",
                                            "p.5.c1.weight", "p.5.c1.bias", "p.5.c2.weight", "p.5.c2.bias"});
  CHECK(ResStack<float>(1, res_stack_options{1, 0}).hidden() == 1);  // never 0 channels
  CHECK(ResStack<float>(8, res_stack_options{1, 5}).hidden() == 5);
}

TEST_CASE("ResStack with 2 blocks: output is relu(block2(block1(x))) and gradients match finite differences") {
  generator rng(2);
  ResStack<double> s(3, res_stack_options{2, 2});
  parameter_store<double> store;
  store.attach(s, rng);
  auto x = test::random_tensor<double>({2, 3, 4, 4}, rng);
  const auto& y = s.forward(x);
  REQUIRE(y.shape() == x.shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) CHECK(y[i] >= 0);  // the trailing ReLU
  const auto report = testing::check_layer_gradients(s, store, x);
  INFO(report.summary());
  CHECK(report.ok);
  CHECK(report.checked == test::layer_checks(x, store));
}

TEST_CASE("ResStack rejects negative options, naming its owner") {
  CHECK_THROWS_WITH_AS(ResStack<float>(4, res_stack_options{-1, 0}, "MyNet"),
                       doctest::Contains("MyNet: the number of residual blocks and their hidden channels must be >= 0"),
                       vae::error);
  CHECK_THROWS_AS(ResStack<float>(4, res_stack_options{1, -1}), vae::error);
}
