// End-to-end: `vae train --model vqgan` on small 16×16 images — the logged terms, both checkpoints, resume of the AE
// and the discriminator (weights and Adam states), a discriminator checkpoint that does not fit refused naming the
// tensor, tokens, and the vqgan options refused when wrong (label slow).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "e2e_support.hpp"
#include "vae/io/npy.hpp"
#include "vae/io/safetensors.hpp"

namespace fs = std::filesystem;

namespace cli_vqgan_test {

using vae::test::e2e::read_metrics;
using vae::test::e2e::run_vae;
using vae::test::e2e::vae_tool;

fs::path scratch() {
  auto d = fs::temp_directory_path() / ("vae_e2e_vqgan_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

// 56 images 16×16 in [0, 1] (48 train, 8 test): a bright square whose place depends on the image.
std::string squares(const fs::path& dir) {
  const std::int64_t n = 56, side = 16;
  std::vector<float> v(static_cast<std::size_t>(n * side * side), 0.0f);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t y = 0; y < 6; ++y)
      for (std::int64_t x = 0; x < 6; ++x)
        v[static_cast<std::size_t>((i * side + (i % 9) + y) * side + (i * 5) % 9 + x)] = 1.0f;
  const auto p = (dir / "squares.npy").string();
  vae::io::write_npy(p, v.data(), vae::shape{n, side, side});
  return p;
}

bool ready() {
  if (!fs::exists(vae_tool())) {
    std::printf("SKIPPED: %s was not built (configure with VAE_BUILD_TOOLS=ON)\n", vae_tool().c_str());
    std::exit(77);
  }
  return true;
}

}  // namespace cli_vqgan_test

TEST_CASE("vqgan: logged terms, both checkpoints, resume of AE and discriminator, tokens, a bad D checkpoint") {
  namespace t = cli_vqgan_test;
  if (!t::ready()) return;
  const auto dir = t::scratch();
  const auto data = " --data npy:" + t::squares(dir);
  const auto out = dir / "run";
  // 3 steps per epoch (48 images, batch 16); the discriminator from step 2 (inside epoch 1).
  auto r = t::run_vae("train --model vqgan" + data + " --epochs 1 --batch 16 --disc-start 2 --out " + out.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (const char* f : {"model.safetensors", "optimizer.safetensors", "discriminator.safetensors",
                        "discriminator_optimizer.safetensors", "reconstructions.png", "config.json"})
    CHECK_MESSAGE(fs::exists(out / f), f);
  auto m = t::read_metrics(out);
  REQUIRE(m.size() == 1);
  for (const char* k : {"train_rec_l1", "train_rec_l2", "train_g_loss", "train_d_loss", "train_d_weight",
                        "train_logits_real", "train_logits_fake", "train_quantizer_loss", "train_codebook_usage",
                        "train_perplexity", "test_mse01_per_pixel", "test_l1_pm1_per_pixel", "codes_used", "perplexity"})
    CHECK_MESSAGE(m[0].contains(k), k);
  CHECK(m[0]["disc_factor"] == 1.0);
  CHECK(m[0]["step"] == 3);
  const auto d_after_1 = vae::io::safetensors_file::load(out / "discriminator.safetensors");
  const auto* w = d_after_1.find("loss.discriminator.main.0.weight");
  REQUIRE(w != nullptr);
  const auto w1 = w->values<float>();

  // Resume: the discriminator's weights and Adam state are read back (its step count continues), and trained on.
  r = t::run_vae("train --resume " + out.string() + " --epochs 2");
  INFO(r.output);
  REQUIRE(r.status == 0);
  m = t::read_metrics(out);
  REQUIRE(m.size() == 2);
  CHECK(m[1]["step"] == 6);
  const auto dopt = vae::io::safetensors_file::load(out / "discriminator_optimizer.safetensors");
  CHECK(dopt.at("optimizer.step").values<std::int64_t>().at(0) == 6);
  const auto w2 = vae::io::safetensors_file::load(out / "discriminator.safetensors")
                      .at("loss.discriminator.main.0.weight")
                      .values<float>();
  CHECK(w2 != w1);

  // Tokens: 16×16 → padded 16 → f = 4 → 4×4 tokens; decode(encode(x)) reproduces the reconstruction bit for bit.
  r = t::run_vae("encode --run " + out.string() + " --n 8 --out " + (dir / "tokens.npy").string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(vae::io::read_npy((dir / "tokens.npy").string()).dims == vae::shape{8, 4, 4});
  r = t::run_vae("eval --run " + out.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("\"token_roundtrip_exact\":true") != std::string::npos);

  // A discriminator checkpoint that does not fit the config: refused, naming the tensor; nothing is trained.
  {
    vae::io::safetensors_writer wr;
    const auto f = vae::io::safetensors_file::load(out / "discriminator.safetensors");
    for (const auto& st : f.tensors()) {
      auto v = st.values<float>();
      if (st.name == "loss.discriminator.main.0.weight") {
        v.resize(v.size() * 3);
        wr.add(st.name, vae::shape{st.dims[0], 3, st.dims[2], st.dims[3]}, v.data());
      } else {
        wr.add(st.name, st.dims, v.data());
      }
    }
    wr.save(out / "discriminator.safetensors");
  }
  r = t::run_vae("train --resume " + out.string() + " --epochs 3");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("tensor 'loss.discriminator.main.0.weight' has shape") != std::string::npos);
  CHECK(t::read_metrics(out).size() == 2);
  fs::remove_all(dir);
}

TEST_CASE("vqgan: wrong options are refused with the flag named") {
  namespace t = cli_vqgan_test;
  if (!t::ready()) return;
  const auto dir = t::scratch();
  const auto data = " --data npy:" + t::squares(dir);
  const auto check_refused = [&](const std::string& flags, const std::string& message) {
    const auto r = t::run_vae("train --model vqgan" + data + " --epochs 1 " + flags + " --out " + (dir / "bad").string());
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK(r.output.find(message) != std::string::npos);
  };
  check_refused("--gan-loss wgan", "--gan-loss must be hinge or non-saturating");
  check_refused("--rec-loss l3", "--rec-loss must be l1 or l2");
  check_refused("--quantizer fsq", "--quantizer fsq is not available for vqgan");
  check_refused("--ch 48", "--ch must be a positive multiple of 32");
  fs::remove_all(dir);
}
