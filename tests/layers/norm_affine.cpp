// Tests for layers/norm_affine.hpp: enabled, weight ones and bias zeros under "weight"/"bias" with their gradients;
// disabled, no parameters and null pointers for the ops.
#include "vae/layers/norm_affine.hpp"

#include <doctest/doctest.h>

#include "vae/core/rng.hpp"

TEST_CASE("norm_affine enabled: weight = 1 and bias = 0 after attaching, values and gradients handed to the ops") {
  vae::norm_affine<double> a(true);
  a.set_size(3);
  CHECK(a.enabled());
  CHECK_FALSE(a.ready());  // not attached yet
  vae::parameter_store<double> store;
  vae::generator rng(1);
  store.attach(a, rng, "norm.");
  CHECK(a.ready());
  REQUIRE(store.find("norm.weight") != nullptr);
  REQUIRE(store.find("norm.bias") != nullptr);
  CHECK(store.trainable_size() == 6);
  REQUIRE(a.scale() == a.weight().value);
  REQUIRE(a.shift() == a.bias().value);
  for (int i = 0; i < 3; ++i) {
    CHECK(a.scale()[i] == 1.0);
    CHECK(a.shift()[i] == 0.0);
  }
  CHECK(a.scale_grad() != nullptr);
  CHECK(a.shift_grad() != nullptr);
}

TEST_CASE("norm_affine disabled: no parameters, null pointers for the ops") {
  vae::norm_affine<float> a(false);
  a.set_size(4);
  CHECK_FALSE(a.enabled());
  CHECK(a.ready());
  int visited = 0;
  a.visit_parameters("", [&](const std::string&, vae::parameter<float>&) { ++visited; });
  CHECK(visited == 0);
  CHECK(a.scale() == nullptr);
  CHECK(a.shift() == nullptr);
  CHECK(a.scale_grad() == nullptr);
  CHECK(a.shift_grad() == nullptr);
}
