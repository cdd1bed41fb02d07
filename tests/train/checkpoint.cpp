// Checkpoints: parameters and optimizer state round-trip exactly; mismatched or damaged files fail clearly.
#include "vae/train/checkpoint.hpp"

#include <filesystem>
#include <fstream>

#include "../test_support.hpp"
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"
#include "vae/train/adam.hpp"

using namespace vae;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir() {
  auto d = fs::temp_directory_path() / ("vae_checkpoint_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}
using net_t = Sequential<Linear<float>, Linear<float>>;
net_t make_net() { return net_t(Linear<float>(4, 3), Linear<float>(3, 2)); }
}  // namespace

TEST_CASE("save_parameters / load_parameters round-trip every value under PyTorch names") {
  const auto dir = temp_dir();
  generator rng(1), rng2(2);
  auto a = make_net();
  parameter_store<float> sa;
  sa.attach(a, rng, "enc.");
  save_parameters(dir / "m.safetensors", sa, {{"model", "test"}});
  auto b = make_net();
  parameter_store<float> sb;
  sb.attach(b, rng2, "enc.");
  CHECK(sb.values()[0] != sa.values()[0]);
  const auto meta = load_parameters(dir / "m.safetensors", sb);
  CHECK(meta.at("model") == "test");
  for (std::int64_t i = 0; i < sa.size(); ++i) CHECK(sb.values()[i] == sa.values()[i]);
  const auto f = io::safetensors_file::load(dir / "m.safetensors");
  CHECK(f.find("enc.0.weight") != nullptr);
  CHECK(f.at("enc.1.bias").dims == shape{2});
  fs::remove_all(dir);
}

TEST_CASE("load_parameters rejects another architecture, names the tensor, and leaves the store unchanged") {
  const auto dir = temp_dir();
  generator rng(1);
  Sequential<Linear<float>, Linear<float>> other(Linear<float>(4, 5), Linear<float>(5, 2));
  parameter_store<float> so;
  so.attach(other, rng, "enc.");
  save_parameters(dir / "other.safetensors", so);
  auto a = make_net();
  parameter_store<float> sa;
  sa.attach(a, rng, "enc.");
  const float before = sa.values()[0];
  CHECK_THROWS_WITH_AS(load_parameters(dir / "other.safetensors", sa), doctest::Contains("enc.0.weight"), vae::error);
  CHECK(sa.values()[0] == before);
  parameter_store<float> sp;
  auto c = make_net();
  sp.attach(c, rng, "dec.");
  CHECK_THROWS_WITH_AS(load_parameters(dir / "other.safetensors", sp), doctest::Contains("has no tensor 'dec.0.weight'"),
                       vae::error);
  fs::remove_all(dir);
}

TEST_CASE("a truncated checkpoint gives a clear error") {
  const auto dir = temp_dir();
  generator rng(1);
  auto a = make_net();
  parameter_store<float> sa;
  sa.attach(a, rng);
  save_parameters(dir / "m.safetensors", sa);
  fs::resize_file(dir / "m.safetensors", fs::file_size(dir / "m.safetensors") - 7);
  CHECK_THROWS_AS(load_parameters(dir / "m.safetensors", sa), vae::error);
  CHECK_THROWS_WITH_AS(load_parameters(dir / "missing.safetensors", sa), doctest::Contains("missing.safetensors"),
                       vae::error);
  fs::remove_all(dir);
}

TEST_CASE("optimizer state round-trips: a resumed Adam continues exactly like an uninterrupted one") {
  const auto dir = temp_dir();
  auto run_steps = [](parameter_store<float>& s, Adam<float>& opt, int from, int to) {
    for (int k = from; k < to; ++k) {
      for (std::int64_t i = 0; i < s.trainable_size(); ++i) s.grads()[i] = std::sin(0.3f * float(i + 7 * k));
      opt.step(s);
    }
  };
  generator r1(3), r2(3);
  auto a = make_net(), b = make_net();
  parameter_store<float> sa, sb;
  sa.attach(a, r1);
  sb.attach(b, r2);
  Adam<float> oa({.lr = 1e-2}), ob({.lr = 1e-2});
  run_steps(sa, oa, 0, 6);
  run_steps(sb, ob, 0, 3);
  save_parameters(dir / "p.safetensors", sb);
  save_optimizer_state(dir / "o.safetensors", ob, sb, {{"epoch", "1"}});
  auto c = make_net();
  parameter_store<float> sc;
  generator r3(99);
  sc.attach(c, r3);
  Adam<float> oc({.lr = 1e-2});
  load_parameters(dir / "p.safetensors", sc);
  const auto meta = load_optimizer_state(dir / "o.safetensors", oc, sc);
  CHECK(meta.at("epoch") == "1");
  CHECK(oc.step_count() == 3);
  run_steps(sc, oc, 3, 6);
  for (std::int64_t i = 0; i < sa.size(); ++i) CHECK(sc.values()[i] == sa.values()[i]);
  fs::remove_all(dir);
}
