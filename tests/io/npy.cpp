// Tests for io/npy.hpp: round trips for every dtype, a NumPy-written fixture, and clear errors on corrupt files.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "vae/io/npy.hpp"
#include "../temp_folder.hpp"

namespace {
namespace fs = std::filesystem;

fs::path temp_dir() {
  static const vae::test::temp_folder dir("vae_test_npy_");
  return dir.path();
}
void write_bytes(const fs::path& p, const std::vector<unsigned char>& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
std::vector<unsigned char> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
// A hand-built v1 file with the given header dict and `data_bytes` zero bytes of data.
std::vector<unsigned char> handmade(const std::string& dict, std::size_t data_bytes, int major = 1) {
  std::vector<unsigned char> f = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<unsigned char>(major), 0};
  std::string h = dict + "\n";
  const auto len = static_cast<std::uint32_t>(h.size());
  f.push_back(len & 0xFF);
  f.push_back((len >> 8) & 0xFF);
  if (major >= 2) {
    f.push_back((len >> 16) & 0xFF);
    f.push_back((len >> 24) & 0xFF);
  }
  f.insert(f.end(), h.begin(), h.end());
  f.resize(f.size() + data_bytes, 0);
  return f;
}
std::string error_of(const std::vector<unsigned char>& bytes, const std::string& name) {
  const auto p = temp_dir() / name;
  write_bytes(p, bytes);
  try {
    vae::io::read_npy(p.string());
  } catch (const vae::error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE_TEMPLATE("npy round trip keeps dtype, shape and values", T, float, double, std::uint8_t, std::int32_t, std::int64_t) {
  vae::tensor<T> t(vae::shape{2, 3, 4});
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(i * 3 % 251);
  const auto path = (temp_dir() / "rt.npy").string();
  vae::io::write_npy(path, t);
  const auto bytes = read_bytes(path);
  CHECK(bytes.size() % 64 == static_cast<std::size_t>(t.numel()) * sizeof(T) % 64);  // header padded to 64
  const auto a = vae::io::read_npy(path);
  CHECK(a.type == vae::io::dtype_of<T>());
  CHECK(a.dims == t.shape());
  const auto back = a.template as<T>();
  for (std::int64_t i = 0; i < t.numel(); ++i) CHECK(back[i] == t[i]);
  const auto f = a.template as<float>();
  CHECK(f[5] == static_cast<float>(t[5]));
}

TEST_CASE("npy: 1-d, 0-d and empty arrays round trip") {
  const auto path = (temp_dir() / "small.npy").string();
  const float one[3] = {1.5f, -2.f, 3.f};
  vae::io::write_npy(path, one, vae::shape{3});
  auto a = vae::io::read_npy(path);
  CHECK(a.dims == vae::shape{3});
  CHECK(a.as<float>()[1] == -2.f);
  const double scalar = 7.25;
  vae::io::write_npy(path, &scalar, vae::shape{});
  a = vae::io::read_npy(path);
  CHECK(a.dims.rank() == 0);
  CHECK(a.as<double>()[0] == 7.25);
  vae::io::write_npy<float>(path, nullptr, vae::shape{0, 5});
  a = vae::io::read_npy(path);
  CHECK(a.dims == vae::shape{0, 5});
  CHECK(a.bytes.empty());
}

TEST_CASE("npy: reads files written by NumPy (v1 header, committed fixtures)") {
  const std::string dir = std::string(VAE_GOLDEN_DIR) + "/";
  const auto f = vae::io::read_npy(dir + "npy_f4_2x3.npy");  // np.arange(6, dtype=np.float32).reshape(2,3) / 4
  CHECK(f.type == vae::io::dtype::f32);
  REQUIRE(f.dims == vae::shape{2, 3});
  const auto ft = f.as<float>();
  for (int i = 0; i < 6; ++i) CHECK(ft[i] == static_cast<float>(i) / 4.f);
  const auto u = vae::io::read_npy(dir + "npy_u1_2x2x3.npy");  // np.arange(12, dtype=np.uint8).reshape(2,2,3) * 20
  CHECK(u.type == vae::io::dtype::u8);
  REQUIRE(u.dims == vae::shape{2, 2, 3});
  const auto ut = u.as<std::int32_t>();
  for (int i = 0; i < 12; ++i) CHECK(ut[i] == i * 20);
  const auto l = vae::io::read_npy(dir + "npy_i8_5.npy");  // np.array([-2, -1, 0, 1, 2**40], dtype=np.int64)
  CHECK(l.type == vae::io::dtype::i64);
  const auto lt = l.as<std::int64_t>();
  CHECK(lt[0] == -2);
  CHECK(lt[4] == (std::int64_t{1} << 40));
}

TEST_CASE("npy: v2 header is accepted") {
  const auto bytes = handmade("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 8, 2);
  const auto p = temp_dir() / "v2.npy";
  write_bytes(p, bytes);
  const auto a = vae::io::read_npy(p.string());
  CHECK(a.type == vae::io::dtype::i32);
  CHECK(a.dims == vae::shape{2});
}

TEST_CASE("npy: corrupt, truncated and unsupported files give clear errors") {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  CHECK(error_of(handmade(ok, 24), "ok.npy").empty());

  auto e = error_of({0x93, 'N', 'U'}, "tiny.npy");
  CHECK(e.find("tiny.npy") != std::string::npos);
  CHECK(e.find("too short") != std::string::npos);

  auto bad_magic = handmade(ok, 24);
  bad_magic[1] = 'X';
  CHECK(error_of(bad_magic, "magic.npy").find("bad magic") != std::string::npos);

  auto bad_version = handmade(ok, 24);
  bad_version[6] = 9;
  CHECK(error_of(bad_version, "ver.npy").find("unsupported format version 9") != std::string::npos);

  auto truncated_header = handmade(ok, 0);
  truncated_header.resize(30);
  CHECK(error_of(truncated_header, "th.npy").find("truncated") != std::string::npos);

  e = error_of(handmade(ok, 20), "short.npy");
  CHECK(e.find("truncated file") != std::string::npos);
  CHECK(e.find("needs 24") != std::string::npos);
  CHECK(error_of(handmade(ok, 28), "long.npy").find("trailing bytes") != std::string::npos);

  e = error_of(handmade("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24), "fortran.npy");
  CHECK(e.find("fortran_order is True") != std::string::npos);
  e = error_of(handmade("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }", 48), "complex.npy");
  CHECK(e.find("unsupported dtype '<c8'") != std::string::npos);
  e = error_of(handmade("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24), "be.npy");
  CHECK(e.find("big-endian") != std::string::npos);
  e = error_of(handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", 0), "ovf.npy");
  CHECK(e.find("overflows") != std::string::npos);
  e = error_of(handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 0), "neg.npy");
  CHECK(e.find("non-negative integer") != std::string::npos);
  e = error_of(handmade("{'descr': '<f4', 'fortran_order': False}", 0), "noshape.npy");
  CHECK(e.find("lacks") != std::string::npos);
  e = error_of(handmade("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8), "struct.npy");
  CHECK(e.find("structured") != std::string::npos);
  e = error_of(handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1), }", 4), "rank.npy");
  CHECK(e.find("rank 7") != std::string::npos);

  CHECK_THROWS_WITH_AS(vae::io::read_npy((temp_dir() / "missing.npy").string()),
                       doctest::Contains("cannot open npy file"), vae::error);
}
