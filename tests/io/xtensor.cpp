// Tests for io/xtensor.hpp: copies both ways, zero-copy views share memory, layouts and shapes are checked.
#include <doctest/doctest.h>

#include <xtensor/xarray.hpp>
#include <xtensor/xview.hpp>

#include "vae/io/xtensor.hpp"

TEST_CASE("from_xtensor / to_xtensor copy a [N, C, H, W] batch both ways") {
  xt::xtensor<float, 4> x({2, 3, 4, 5});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i) * 0.5f;
  const auto t = vae::io::from_xtensor(x);
  CHECK(t.shape() == vae::shape{2, 3, 4, 5});
  CHECK(t.data() != x.data());
  CHECK(t[119] == 59.5f);
  CHECK(t[(((1 * 3 + 2) * 4 + 3) * 5) + 4] == x(1, 2, 3, 4));
  const auto back = vae::io::to_xtensor<4>(t);
  CHECK(back == x);
  CHECK_THROWS_WITH_AS(vae::io::to_xtensor<3>(t), doctest::Contains("expected a rank-3 tensor, got shape [2, 3, 4, 5]"),
                       vae::error);
}

TEST_CASE("from_xtensor evaluates column-major arrays and strided views in row-major order") {
  xt::xtensor<double, 2, xt::layout_type::column_major> c({2, 3});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j) c(i, j) = static_cast<double>(10 * i + j);
  const auto t = vae::io::from_xtensor(c);
  CHECK(t.shape() == vae::shape{2, 3});
  for (int k = 0; k < 6; ++k) CHECK(t[k] == static_cast<double>(10 * (k / 3) + k % 3));

  xt::xarray<float> a = xt::arange<float>(24.f);
  a.reshape({4, 6});
  auto v = xt::view(a, xt::range(1, 4, 2), xt::range(0, 6, 3));  // rows 1, 3; cols 0, 3
  const auto tv = vae::io::from_xtensor(v);
  CHECK(tv.shape() == vae::shape{2, 2});
  CHECK(tv[0] == 6.f);
  CHECK(tv[1] == 9.f);
  CHECK(tv[2] == 18.f);
  CHECK(tv[3] == 21.f);
}

TEST_CASE("as_xtensor is a zero-copy view of the tensor's buffer") {
  vae::tensor<float> t(vae::shape{2, 1, 2, 3}, 0.f);
  auto v = vae::io::as_xtensor<4>(t);
  CHECK(v.data() == t.data());
  CHECK(v.shape()[3] == 3);
  v(1, 0, 1, 2) = 5.f;
  CHECK(t[11] == 5.f);
  t[0] = -1.f;
  CHECK(v(0, 0, 0, 0) == -1.f);
  const vae::tensor<float>& ct = t;
  const auto cv = vae::io::as_xtensor<4>(ct);
  CHECK(cv(1, 0, 1, 2) == 5.f);
  CHECK(xt::sum(cv)() == doctest::Approx(4.0));
  CHECK_THROWS_WITH_AS(vae::io::as_xtensor<2>(t), doctest::Contains("as_xtensor: expected a rank-2 tensor"), vae::error);
}

TEST_CASE("as_view is a zero-copy view of a row-major xtensor's buffer") {
  xt::xtensor<float, 4> x = xt::zeros<float>({1, 1, 2, 2});
  const auto view = vae::io::as_view(x);
  CHECK(view.data() == x.data());
  CHECK(view.shape() == vae::shape{1, 1, 2, 2});
  view[3] = 2.f;
  CHECK(x(0, 0, 1, 1) == 2.f);
  const auto& cx = x;
  const auto cview = vae::io::as_view(cx);
  CHECK(cview[3] == 2.f);
}
