// Tests for io/safetensors.hpp: round trip, a file written by tools/safetensors_np.py, and clear errors on bad files.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <unistd.h>
#include <vector>

#include "vae/io/safetensors.hpp"
#include "../temp_folder.hpp"

namespace {
namespace fs = std::filesystem;
fs::path st_temp_dir() {
  static const vae::test::temp_folder dir("vae_test_safetensors_");
  return dir.path();
}
// A file from a header text and `data_bytes` zero bytes.
std::vector<unsigned char> make_file(const std::string& header, std::size_t data_bytes) {
  std::vector<unsigned char> f(8 + header.size() + data_bytes, 0);
  const std::uint64_t n = header.size();
  std::memcpy(f.data(), &n, 8);
  std::memcpy(f.data() + 8, header.data(), header.size());
  return f;
}
std::string error_of(const std::vector<unsigned char>& f) {
  try {
    vae::io::safetensors_file::parse(f, "test.safetensors");
  } catch (const vae::error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("safetensors: writer/reader round trip with metadata and several dtypes") {
  vae::tensor<float> a(vae::shape{2, 3});
  for (int i = 0; i < 6; ++i) a[i] = 0.5f * static_cast<float>(i) - 1.f;
  vae::tensor<double> b(vae::shape{4}, 2.25);
  vae::tensor<std::int32_t> c(vae::shape{1, 1, 2});
  c[0] = -7;
  c[1] = 1 << 30;
  vae::io::safetensors_writer w;
  w.metadata["step"] = "12";
  w.add("enc.weight", a);
  w.add("b", b);
  w.add("counts", c);
  CHECK(w.header().size() % 8 == 0);
  CHECK_THROWS_WITH_AS(w.add("b", b), doctest::Contains("duplicate tensor name 'b'"), vae::error);
  const auto path = st_temp_dir() / "rt.safetensors";
  w.save(path);
  const auto f = vae::io::safetensors_file::load(path);
  CHECK(f.metadata.at("step") == "12");
  CHECK(f.tensors().size() == 3);
  const auto at = f.at("enc.weight").to_tensor<float>();
  CHECK(at.shape() == a.shape());
  for (int i = 0; i < 6; ++i) CHECK(at[i] == a[i]);
  CHECK(f.at("b").type == vae::io::dtype::f64);
  CHECK(f.at("b").values<double>()[3] == 2.25);
  const auto cc = f.at("counts").values<std::int64_t>();
  CHECK(cc[0] == -7);
  CHECK(cc[1] == (1 << 30));
  CHECK(f.find("nope") == nullptr);
  CHECK_THROWS_WITH_AS(f.at("nope"), doctest::Contains("no tensor named 'nope'"), vae::error);
}

TEST_CASE("safetensors: reads a file written by tools/safetensors_np.py (committed fixture)") {
  const auto f = vae::io::safetensors_file::load(std::string(VAE_GOLDEN_DIR) + "/safetensors_np.safetensors");
  CHECK(f.metadata.at("format") == "pt");
  CHECK(f.metadata.at("note") == "io_formats fixture");
  const auto f32 = f.at("f32");
  REQUIRE(f32.dims == vae::shape{3, 4});
  const auto v = f32.values<float>();
  for (int i = 0; i < 12; ++i) CHECK(v[i] == (static_cast<float>(i) - 5.5f) / 2.f);
  const auto d = f.at("f64").values<double>();
  CHECK(d[0] == 1e-300);
  CHECK(std::signbit(d[1]));
  CHECK(d[2] == std::numbers::pi);
  const auto h = f.at("f16").values<float>();  // includes the largest half and the smallest normal/subnormal
  CHECK(h[0] == 1.f);
  CHECK(h[1] == -2.5f);
  CHECK(h[2] == 65504.f);
  CHECK(h[3] == std::ldexp(1.f, -14));
  CHECK(h[4] == std::ldexp(1.f, -24));
  const auto i = f.at("i64");
  CHECK(i.dims == vae::shape{1, 2});
  CHECK(i.values<std::int64_t>()[0] == -(std::int64_t{1} << 40));
  const auto u = f.at("u8").values<int>();
  CHECK(u[4] == 200);
  CHECK(f.at("scalar").dims.rank() == 0);
  CHECK(f.at("scalar").values<float>()[0] == 3.f);
  CHECK(f.at("empty").dims == vae::shape{0, 3});
}

TEST_CASE("safetensors: corrupt files give clear errors") {
  const std::string good = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  CHECK(error_of(make_file(good, 8)).empty());

  CHECK(error_of({1, 2, 3}).find("too short") != std::string::npos);
  auto f = make_file(good, 8);
  const std::uint64_t huge = 1ull << 62;
  std::memcpy(f.data(), &huge, 8);
  CHECK(error_of(f).find("exceeds the file size") != std::string::npos);

  auto trunc = make_file(good, 8);
  trunc.resize(trunc.size() - 3);
  auto e = error_of(trunc);
  CHECK(e.find("outside the 5-byte data section") != std::string::npos);
  CHECK(e.find("test.safetensors") != std::string::npos);

  CHECK(error_of(make_file(good.substr(0, 20), 8)).find("not valid JSON") != std::string::npos);
  CHECK(error_of(make_file(R"({"x":{"dtype":"F8","shape":[2],"data_offsets":[0,8]}})", 8)).find("unsupported dtype") !=
        std::string::npos);
  CHECK(error_of(make_file(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)).find("needs 12") !=
        std::string::npos);
  CHECK(error_of(make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)).find("outside") !=
        std::string::npos);
  CHECK(error_of(make_file(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)).find("negative") !=
        std::string::npos);
  CHECK(error_of(make_file(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8))
            .find("overflows") != std::string::npos);
  CHECK(error_of(make_file(R"({"x":{"dtype":"F32","shape":[1,1,1,1,1,1,1],"data_offsets":[0,4]}})", 4))
            .find("bad shape") != std::string::npos);
  CHECK(error_of(make_file(R"({"x":{"dtype":"F32","shape":[2]}})", 8)).find("needs dtype, shape and data_offsets") !=
        std::string::npos);
  CHECK(error_of(make_file(good, 12)).find("4 trailing bytes") != std::string::npos);
  CHECK(error_of(make_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)).find("gap or overlap") !=
        std::string::npos);
  CHECK(error_of(make_file(R"({"__metadata__":{"a":1}})", 0)).find("not a string") != std::string::npos);
  CHECK(error_of(make_file("[1,2]", 0)).find("not a JSON object") != std::string::npos);
  CHECK_THROWS_WITH_AS(vae::io::safetensors_file::load(st_temp_dir() / "missing.safetensors"),
                       doctest::Contains("cannot open safetensors file"), vae::error);
}
