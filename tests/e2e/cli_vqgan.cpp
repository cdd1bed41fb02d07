// End-to-end: `vae train --model vqgan` on small 16×16 images — the logged terms, both checkpoints, resume of the AE
// and the discriminator (weights and Adam states), a discriminator checkpoint that does not fit refused naming the
// tensor, tokens, and the vqgan options refused when wrong; the vqgan-shapes and vqgan-f8-2048 presets' shapes, tokens
// and token round trip, a mixed folder resized or refused per file (label slow).
#include <doctest/doctest.h>

#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "e2e_support.hpp"
#include "vae/io/npy.hpp"
#include "vae/io/png.hpp"
#include "vae/io/safetensors.hpp"

namespace fs = std::filesystem;

namespace cli_vqgan_test {

using vae::test::e2e::last_json;
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

namespace cli_vqgan_test {

nlohmann::json run_config_of(const fs::path& run) {
  std::ifstream in(run / "config.json");
  return nlohmann::json::parse(in);
}

// A folder of 7 PNGs of mixed sizes and channel counts (grey, grey + alpha, RGB, RGBA; 300×200 down to 40×56), each
// a smooth gradient so that resizing has something to average.
fs::path mixed_folder(const fs::path& dir) {
  const auto f = dir / "mixed";
  fs::create_directories(f);
  const int sizes[7][3] = {{300, 200, 3}, {256, 256, 1}, {40, 56, 2}, {512, 384, 4}, {256, 256, 3}, {99, 301, 1}, {64, 64, 3}};
  for (int i = 0; i < 7; ++i) {
    const int w = sizes[i][0], h = sizes[i][1], c = sizes[i][2];
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * c));
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int k = 0; k < c; ++k)
          px[static_cast<std::size_t>((y * w + x) * c + k)] = static_cast<std::uint8_t>((x * 255 / w + y * 97 / h + 40 * k + 30 * i) % 256);
    vae::io::write_png((f / ("img" + std::to_string(i) + ".png")).string(), px.data(), w, h, c);
  }
  return f;
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

  // vae eval --fid: the Fréchet distance of the test reconstructions in a classifier run's features, beside the test
  // MSE and the codebook usage (8 test images: the distance comes with its small-sample warning, finite).
  {
    std::vector<std::int64_t> labels(56);
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i % 3);
    vae::io::write_npy((dir / "labels.npy").string(), labels.data(), vae::shape{56});
  }
  r = t::run_vae("train --model classifier --data npy:" + (dir / "squares.npy").string() + "," +
                 (dir / "labels.npy").string() + " --epochs 1 --batch 16 --out " + (dir / "cls").string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  r = t::run_vae("eval --run " + out.string() + " --fid --classifier " + (dir / "cls").string() + " --n 8");
  INFO(r.output);
  REQUIRE(r.status == 0);
  {
    const auto j = t::last_json(r.output);
    CHECK(j["fid_of"] == "reconstructions");
    CHECK(j["fid_n_generated"] == 8);
    CHECK(std::isfinite(j["fid"].get<double>()));
    CHECK(j["fid"].get<double>() >= 0);
    CHECK(j["test_mse01_per_pixel"].get<double>() > 0);
    CHECK(j["codebook_usage"].get<double>() > 0);
    CHECK(j["codes_used"].get<std::int64_t>() >= 1);
  }

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
  const std::string golden = VAE_GOLDEN_DIR;
  check_refused("--perceptual vgg", "--perceptual must be none, lpips:FILE");
  // A classifier's weights where LPIPS's are expected, LPIPS's where a 1-channel classifier's are.
  check_refused("--perceptual lpips:" + golden + "/classifier_run.safetensors",
                "tensor 'features.0.weight' has shape [4, 1, 3, 3], the model expects [64, 3, 3, 3]");
  check_refused("--perceptual classifier:" + golden + "/lpips_weights.safetensors", "was trained on 3-channel images");
  check_refused("--perceptual classifier:" + dir.string(), "is not a classifier run");
  check_refused("--perceptual lpips:" + (dir / "missing.safetensors").string(), "missing.safetensors");
  fs::remove_all(dir);
}

TEST_CASE("vqgan: --perceptual classifier:RUN trains with the classifier's features and logs the perceptual term") {
  namespace t = cli_vqgan_test;
  if (!t::ready()) return;
  const auto dir = t::scratch();
  const auto out = dir / "perceptual";
  // A 1-channel classifier of width 4 (tests/golden/classifier_run.safetensors, a whole classifier's state dict).
  const auto r = t::run_vae("train --model vqgan --data npy:" + t::squares(dir) + " --epochs 1 --batch 16 --perceptual classifier:" +
                            std::string(VAE_GOLDEN_DIR) + "/classifier_run.safetensors --perceptual-weight 0.5 --out " +
                            out.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto m = t::read_metrics(out);
  REQUIRE(m.size() == 1);
  REQUIRE(m[0].contains("train_perceptual"));
  CHECK(m[0]["train_perceptual"].get<double>() > 0.0);
  const auto c = t::run_config_of(out);
  CHECK(c["perceptual_weight"] == 0.5);
  CHECK(c["perceptual"].get<std::string>().find("classifier:") == 0);
  fs::remove_all(dir);
}


TEST_CASE("vqgan-shapes: the preset's defaults, 64x64 RGB -> 16x16 tokens of K = 1024, a tiny run") {
  namespace t = cli_vqgan_test;
  if (!t::ready()) return;
  const auto dir = t::scratch();
  // The defaults, read back from config.json of a run of 0 epochs.
  auto r = t::run_vae("train --model vqgan-shapes --epochs 0 --out " + (dir / "defaults").string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto c = t::run_config_of(dir / "defaults");
  // Nothing trained, no checkpoint, and the last line says so instead of naming a model file.
  CHECK(r.output.find("no epoch to train (--epochs 0, 0 done)") != std::string::npos);
  CHECK(!fs::exists(dir / "defaults" / "model.safetensors"));
  CHECK(c["data"] == "shapes:size=64,n=8000,test=200");
  CHECK(c["disc_start"] == 500);
  CHECK(c["channels"] == 3);
  CHECK(c["codebook_size"] == 1024);
  CHECK(c["batch"] == 8);
  CHECK(c["lr"] == 3e-4);
  CHECK(c["warmup_steps"] == 100);
  CHECK(c["lr_decay"] == "cosine");
  CHECK(c["disc_weight"] == 0.1);
  CHECK(c["kmeans_init"] == true);
  CHECK(c["restart_draw"] == "uniform");
  r = t::run_vae("train --model vqgan-shapes --epochs 0 --no-kmeans --restart-draw error --out " +
                 (dir / "draw_error").string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(t::run_config_of(dir / "draw_error")["kmeans_init"] == false);
  CHECK(t::run_config_of(dir / "draw_error")["restart_draw"] == "error");
  // An unknown draw is refused before any data loads.
  r = t::run_vae("train --model vqgan-shapes --epochs 0 --restart-draw sometimes --out " + (dir / "draw").string());
  CHECK(r.status != 0);
  CHECK(r.output.find("--restart-draw 'sometimes': choose uniform (any row of the batch alike) or error") !=
        std::string::npos);
  CHECK(r.output.find("loading") == std::string::npos);
  // So is an error-drawn restart with restarts off: it would be written to config.json and never used.
  r = t::run_vae("train --model vqgan-shapes --epochs 0 --no-restart --restart-draw error --out " +
                 (dir / "draw_off").string());
  CHECK(r.status != 0);
  CHECK(r.output.find("--restart-draw error chooses how dead codes restart, but --no-restart turns restarts off") !=
        std::string::npos);
  CHECK(r.output.find("loading") == std::string::npos);

  // A tiny run (one step of 8 images, the discriminator on): 16×16 tokens, the exact token round trip, test MSE and
  // codebook usage.
  const auto out = dir / "run";
  r = t::run_vae("train --model vqgan-shapes --data shapes:size=64,n=8,test=4 --epochs 1 --batch 8 --ch 32 "
                 "--disc-start 0 --out " + out.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("4 test images of 3x64x64") != std::string::npos);
  auto m = t::read_metrics(out);
  REQUIRE(m.size() == 1);
  CHECK(m[0]["codebook_size"] == 1024);
  CHECK(m[0]["step"] == 1);
  CHECK(m[0]["disc_factor"] == 1.0);
  r = t::run_vae("encode --run " + out.string() + " --n 4 --out " + (dir / "tokens.npy").string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(vae::io::read_npy((dir / "tokens.npy").string()).dims == vae::shape{4, 16, 16});
  r = t::run_vae("eval --run " + out.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto j = t::last_json(r.output);
  CHECK(j["token_roundtrip_exact"] == true);
  CHECK(j["test_mse01_per_pixel"].get<double>() > 0);
  CHECK(j["codebook_usage"].get<double>() > 0);
  CHECK(j["codes_used"].get<std::int64_t>() >= 1);
  // On shapes data: the caption parser's verdict on each reconstructed test image (an untrained tokenizer's are
  // counted too, whatever they score).
  CHECK(j["reconstruction_caption_accuracy"]["images"] == 4);
  CHECK(j["reconstruction_caption_accuracy"]["whole"].get<double>() >= 0.0);
  CHECK(r.output.find("caption accuracy of 4 reconstructed test images: whole ") != std::string::npos);
  // --failures: one JSON line for each image whose caption was not read back, in test order, and a picture of them.
  const auto failures = dir / "failures";
  r = t::run_vae("eval --run " + out.string() + " --failures " + failures.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  const double whole = t::last_json(r.output)["reconstruction_caption_accuracy"]["whole"].get<double>();
  std::ifstream lines(failures / "failures-reconstructions.jsonl");
  REQUIRE(lines.good());
  std::vector<nlohmann::json> failed;
  for (std::string line; std::getline(lines, line);) failed.push_back(nlohmann::json::parse(line));
  CHECK(static_cast<double>(failed.size()) == doctest::Approx(4 * (1 - whole)));
  std::int64_t last = -1;
  for (const auto& f : failed) {
    CHECK(f["index"].get<std::int64_t>() > last);
    last = f["index"].get<std::int64_t>();
    CHECK(f["caption"].get<std::string>().rfind("a ", 0) == 0);
    CHECK(f["parsed"].is_array());
  }
  CHECK(fs::exists(failures / "failures-reconstructions.png") == !failed.empty());
  fs::remove_all(dir);
}

TEST_CASE("vqgan-f8-2048: a mixed folder resized to 256x256 RGB, 32x32 tokens, an exact round trip, a file refused") {
  namespace t = cli_vqgan_test;
  if (!t::ready()) return;
  const auto dir = t::scratch();
  const auto images = t::mixed_folder(dir);
  // Without --data it says what it needs.
  auto r = t::run_vae("train --model vqgan-f8-2048 --epochs 1 --out " + (dir / "none").string());
  CHECK(r.status == 1);
  CHECK(r.output.find("give --data folder:DIR") != std::string::npos);

  // Every file of the mixed folder read and converted (0 epochs: loading and the initial evaluation only).
  r = t::run_vae("train --model vqgan-f8-2048 --data folder:" + images.string() + " --ch 32 --epochs 0 --out " +
                 (dir / "all").string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("6 training and 1 test images of 3x256x256") != std::string::npos);

  // One training step of one image (the discriminator on) at the preset's architecture with a reduced ch (32 instead
  // of 128; even so this step takes about half a minute on the 2-core machine): 6 training images resized to
  // 256×256 RGB, --limit 1 keeps one of them and one test image.
  const auto out = dir / "run";
  r = t::run_vae("train --model vqgan-f8-2048 --data folder:" + images.string() + " --ch 32 --limit 1 --batch 1 "
                 "--epochs 1 --disc-start 0 --out " + out.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("1 training and 1 test images of 3x256x256") != std::string::npos);
  const auto c = t::run_config_of(out);
  CHECK(c["image_size"] == 256);
  CHECK(c["channels"] == 3);
  CHECK(c["codebook_size"] == 2048);
  const auto m = t::read_metrics(out);
  REQUIRE(m.size() == 1);
  CHECK(m[0]["step"] == 1);
  CHECK(m[0]["disc_factor"] == 1.0);
  CHECK(std::isfinite(m[0]["train_d_loss"].get<double>()));
  r = t::run_vae("encode --run " + out.string() + " --n 1 --out " + (dir / "tokens.npy").string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(vae::io::read_npy((dir / "tokens.npy").string()).dims == vae::shape{1, 32, 32});
  r = t::run_vae("eval --run " + out.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(t::last_json(r.output)["token_roundtrip_exact"] == true);
  CHECK(t::last_json(r.output)["codebook_size"] == 2048);
  // --failures reads shapes captions; a folder of the user's images has none.
  r = t::run_vae("eval --run " + out.string() + " --failures " + (dir / "failures").string());
  CHECK(r.status == 1);
  CHECK(r.output.find("--failures needs a run on shapes data") != std::string::npos);
  CHECK(!fs::exists(dir / "failures"));

  // A file that is not an image is refused, named, before anything is trained.
  { std::ofstream(images / "img3b.png") << "not a png"; }
  r = t::run_vae("train --model vqgan-f8-2048 --data folder:" + images.string() + " --ch 32 --epochs 1 --batch 2 --out " +
                 (dir / "bad").string());
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find((images / "img3b.png").string()) != std::string::npos);
  CHECK(!fs::exists(dir / "bad" / "model.safetensors"));
  fs::remove_all(dir);
}
