// Tests for data/value_checks.hpp and its use by load_dataset: NaN/inf, values outside [0, 1] and 0..255 floats are
// refused, naming the file, the first offending element and value, and the fix; data that fits passes.
#include "vae/data/value_checks.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <unistd.h>
#include <vector>

#include "vae/data/dataset.hpp"
#include "vae/io/npy.hpp"

namespace value_checks_test {
namespace fs = std::filesystem;
using vae::data::value_domain;

// The message of the vae::error that f throws ("" and a failed CHECK when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const vae::error& e) {
    return e.message();
  }
  FAIL_CHECK("expected a vae::error");
  return "";
}

fs::path npy_file(const std::string& name, const std::vector<float>& v, const vae::shape& s) {
  const auto dir = fs::temp_directory_path() / ("vae_test_value_checks_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto p = dir / name;
  vae::io::write_npy(p.string(), v.data(), s);
  return p;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }


TEST_CASE("scan_values: first non-finite and first outside [0, 1], range, whole numbers") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> v = {0.5f, 2.f, nan, -1.f, std::numeric_limits<float>::infinity()};
  const auto s = vae::data::scan_values(v.data(), 5);
  CHECK(s.first_nonfinite == 2);
  CHECK(std::isnan(s.nonfinite_value));
  CHECK(s.first_outside_unit == 1);
  CHECK(s.outside_unit_value == 2.0);
  CHECK(s.min == -1.0);
  CHECK(s.max == 2.0);
  CHECK(!s.whole_numbers);
  const std::vector<float> bytes = {0, 17, 255, 3};
  CHECK(vae::data::scan_values(bytes.data(), 4).looks_like_bytes());
  const std::vector<float> binary = {0, 1, 1, 0};  // whole numbers, but at most 1: ordinary binary images
  CHECK(!vae::data::scan_values(binary.data(), 4).looks_like_bytes());
}

TEST_CASE("check_values: the message names the file, the element, the value and the fix") {
  const vae::shape s{2, 1, 2, 2};
  std::vector<float> v(8, 0.25f);
  CHECK_NOTHROW(vae::data::check_values(v.data(), s, value_domain::unit_interval, "ok.npy"));

  v[5] = std::numeric_limits<float>::quiet_NaN();
  auto m = error_of([&] { vae::data::check_values(v.data(), s, value_domain::finite, "a.npy", "vq-vae's mean squared error"); });
  INFO(m);
  CHECK(has(m, "data 'a.npy': element [1, 0, 0, 1] (flat index 5) is nan"));
  CHECK(has(m, "vq-vae's mean squared error needs finite values"));
  CHECK(has(m, "Replace or drop the non-finite entries"));

  v[5] = 1.5f;
  v[6] = -0.5f;
  m = error_of([&] { vae::data::check_values(v.data(), s, value_domain::unit_interval, "b.npy", "mlp-vae's Bernoulli likelihood"); });
  INFO(m);
  CHECK(has(m, "data 'b.npy': element [1, 0, 0, 1] (flat index 5) is 1.5, outside [0, 1] (values span [-0.5, 1.5])"));
  CHECK(has(m, "mlp-vae's Bernoulli likelihood is defined on [0, 1] only. Rescale the data to [0, 1]"));
  // The same values are fine for a likelihood defined on all reals.
  CHECK_NOTHROW(vae::data::check_values(v.data(), s, value_domain::intensities, "b.npy"));
  CHECK_NOTHROW(vae::data::check_values(v.data(), s, value_domain::finite, "b.npy"));
}

TEST_CASE("check_values: 8-bit pixels stored as float are refused for intensities and [0, 1], with 'divide by 255'") {
  const vae::shape s{1, 1, 2, 2};
  const std::vector<float> v = {0.f, 1.f, 37.f, 255.f};
  CHECK_NOTHROW(vae::data::check_values(v.data(), s, value_domain::finite, "c.npy"));  // any finite value
  for (const auto domain : {value_domain::unit_interval, value_domain::intensities}) {
    const auto m = error_of([&] { vae::data::check_values(v.data(), s, domain, "c.npy", "conv-ae's binary cross-entropy loss"); });
    INFO(m);
    CHECK(has(m, "data 'c.npy': values span [0, 255] in whole numbers, like 8-bit pixels stored as float"));
    CHECK(has(m, "first value above 1: 37 at element [0, 0, 1, 0] (flat index 2)"));
    CHECK(has(m, "Divide the array by 255, or save it as uint8"));
  }
}

TEST_CASE("load_dataset npy: refused before anything is built, with the file's own indices; uint8 passes") {
  vae::data::load_options o;
  o.values = value_domain::unit_interval;
  o.values_for = "mlp-vae's Bernoulli likelihood";
  std::vector<float> v(3 * 4, 0.5f);
  v[7] = 255.f;  // [1, 1, 1] of a [3, 2, 2] file; 0.5 elsewhere is no whole number: the plain range message
  const auto f = npy_file("range.npy", v, vae::shape{3, 2, 2});
  auto m = error_of([&] { (void)vae::data::load_dataset("npy:" + f.string(), o); });
  INFO(m);
  CHECK(has(m, "data '" + f.string() + "': element [1, 1, 1] (flat index 7) is 255, outside [0, 1]"));

  std::vector<double> d(12, 0.25);
  d[4] = std::numeric_limits<double>::infinity();
  const auto g = fs::path(f).replace_filename("inf64.npy");
  vae::io::write_npy(g.string(), d.data(), vae::shape{3, 1, 2, 2});
  o.values = value_domain::finite;
  m = error_of([&] { (void)vae::data::load_dataset("npy:" + g.string(), o); });
  INFO(m);
  CHECK(has(m, "data '" + g.string() + "': element [1, 0, 0, 0] (flat index 4) is inf"));

  const std::vector<float> bytes_as_float = {0, 12, 200, 255, 3, 4, 5, 6};
  const auto h = npy_file("bytes.npy", bytes_as_float, vae::shape{2, 2, 2});
  o.values = value_domain::intensities;
  m = error_of([&] { (void)vae::data::load_dataset("npy:" + h.string(), o); });
  CHECK(has(m, "like 8-bit pixels stored as float"));
  o.values = value_domain::finite;  // load_dataset's default takes them as they are
  CHECK(vae::data::load_dataset("npy:" + h.string(), o).train_images.numel() > 0);

  // The same pixels saved as uint8 are scaled by 1/255 and load.
  const std::vector<std::uint8_t> u8 = {0, 12, 200, 255, 3, 4, 5, 6};
  const auto u = fs::path(f).replace_filename("bytes_u8.npy");
  vae::io::write_npy(u.string(), u8.data(), vae::shape{2, 2, 2});
  o.values = value_domain::unit_interval;
  o.test_fraction = 0;
  const auto ds = vae::data::load_dataset("npy:" + u.string(), o);
  CHECK(ds.train_images.dim(0) == 2);
  CHECK(ds.train_images[3] == doctest::Approx(1.0));
  fs::remove_all(f.parent_path());
}

}  // namespace value_checks_test
