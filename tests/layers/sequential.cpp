// Sequential: chaining, reverse-order backward, nn.Sequential names.
#include "vae/layers/sequential.hpp"

#include "../test_support.hpp"
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
