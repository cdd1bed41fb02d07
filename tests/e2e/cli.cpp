// End-to-end: the `vae` tool trains, checkpoints, resumes, evaluates, samples and stops cleanly on NaN (label slow).
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "vae/io/npy.hpp"
#include "vae/io/safetensors.hpp"
#include "vae/train/lr_schedule.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path tool = fs::path(VAE_BINARY_DIR) / "tools" / "vae";

struct result {
  int status;
  std::string output;
};

// Runs the tool with `args`, capturing stdout and stderr together.
result run(const std::string& args) {
  const std::string cmd = "OMP_NUM_THREADS=2 " + tool.string() + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int rc = ::pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

std::vector<nlohmann::json> read_metrics(const fs::path& dir) {
  std::ifstream in(dir / "metrics.jsonl");
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

nlohmann::json last_json_line(const std::string& out) {
  std::istringstream in(out);
  nlohmann::json last;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.front() == '{') last = nlohmann::json::parse(line);
  return last;
}

// Skips the whole program (exit 77, which ctest reports as skipped) when the tool or the data is missing.
bool ready() {
  if (!fs::exists(tool)) {
    std::printf("SKIPPED: %s was not built (configure with VAE_BUILD_TOOLS=ON)\n", tool.c_str());
    std::exit(77);
  }
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    std::printf("SKIPPED: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)\n");
    std::exit(77);
  }
  return true;
}

fs::path scratch(const std::string& name) {
  auto d = fs::temp_directory_path() / ("vae_e2e_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  return d;
}

}  // namespace

TEST_CASE("mlp-vae: train, resume, eval, sample, reconstruct; NaN stops and keeps the last good checkpoint") {
  if (!ready()) return;
  const auto dir = scratch("mlp");
  auto r = run("train --model mlp-vae --epochs 1 --limit 2560 --seed 3 --out " + dir.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (const char* f : {"config.json", "model.safetensors", "optimizer.safetensors", "metrics.jsonl",
                        "reconstructions.png", "samples.png", "interpolation.png"})
    CHECK(fs::exists(dir / f));
  auto m = read_metrics(dir);
  REQUIRE(m.size() == 1);
  for (const char* k : {"epoch", "train_loss", "test_loss", "test_elbo", "test_mse", "seconds", "train_samples_per_s"})
    CHECK(m[0].contains(k));
  CHECK(m[0]["test_elbo"].get<double>() < 0);
  // PyTorch-loadable names.
  const auto weights = vae::io::safetensors_file::load(dir / "model.safetensors");
  CHECK(weights.find("enc.0.weight") != nullptr);
  CHECK(weights.at("dec.4.bias").dims == vae::shape{784});

  r = run("train --resume " + dir.string() + " --epochs 2");
  INFO(r.output);
  REQUIRE(r.status == 0);
  m = read_metrics(dir);
  REQUIRE(m.size() == 2);
  CHECK(m[1]["epoch"] == 2);
  CHECK(m[1]["step"].get<int>() == 2 * (2560 / 128));
  CHECK(m[1]["train_loss"].get<double>() < m[0]["train_loss"].get<double>());

  r = run("eval --run " + dir.string() + " --iwae-k 10 --n 50");
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto e = last_json_line(r.output);
  CHECK(e["test_nll_is"].get<double>() > 0);
  CHECK(-e["test_nll_is"].get<double>() >= e["test_elbo"].get<double>() - 5.0);  // IWAE bound ≥ ELBO (up to noise)
  CHECK(e["bits_per_dim"].get<double>() > 0);

  CHECK(run("sample --run " + dir.string() + " --n 16 --out " + (dir / "s.png").string()).status == 0);
  CHECK(fs::file_size(dir / "s.png") > 100);
  CHECK(run("reconstruct --run " + dir.string() + " --out " + (dir / "r.png").string()).status == 0);
  CHECK(fs::exists(dir / "r.png"));

  // A learning rate of 1e9 blows up at once: the tool stops, names the step, and leaves the checkpoint alone.
  const auto before = slurp(dir / "model.safetensors");
  r = run("train --resume " + dir.string() + " --epochs 3 --lr 1e9");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("training stopped") != std::string::npos);
  CHECK(r.output.find("step") != std::string::npos);
  CHECK(r.output.find("last good checkpoint (after epoch 2)") != std::string::npos);
  CHECK(slurp(dir / "model.safetensors") == before);
  fs::remove_all(dir.parent_path());
}

TEST_CASE("image presets: --warmup-steps and --lr-decay cosine are saved, followed step by step, continued on resume") {
  if (!ready()) return;
  const auto dir = scratch("schedule");
  // 256 images in batches of 64: 4 steps an epoch, 8 over the two epochs the schedule spans.
  auto r = run("train --model mlp-ae --epochs 1 --limit 256 --batch 64 --warmup-steps 2 --lr-decay cosine --out " +
               dir.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  auto config = nlohmann::json::parse(slurp(dir / "config.json"));
  CHECK(config["warmup_steps"] == 2);
  CHECK(config["lr_decay"] == "cosine");
  // The last step of epoch 1 (step 3) of a one-epoch run ran at the schedule's last rate.
  auto m = read_metrics(dir);
  REQUIRE(m.size() == 1);
  const vae::CosineLR one_epoch{.base_lr = 1e-3, .total_steps = 4, .warmup_steps = 2};
  CHECK(m[0]["lr"].get<double>() == doctest::Approx(one_epoch.lr(3)).epsilon(1e-12));
  // Resumed to two epochs, the schedule spans 8 steps and goes on from step 4.
  r = run("train --resume " + dir.string() + " --epochs 2");
  INFO(r.output);
  REQUIRE(r.status == 0);
  m = read_metrics(dir);
  REQUIRE(m.size() == 2);
  const vae::CosineLR two_epochs{.base_lr = 1e-3, .total_steps = 8, .warmup_steps = 2};
  CHECK(m[1]["lr"].get<double>() == doctest::Approx(two_epochs.lr(7)).epsilon(1e-12));
  CHECK(m[1]["lr"].get<double>() < 1e-4);

  // A constant run logs its constant rate; an unknown decay is refused before anything is written.
  const auto flat = scratch("schedule_flat");
  r = run("train --model mlp-ae --epochs 1 --limit 128 --batch 64 --lr 3e-4 --out " + flat.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(read_metrics(flat)[0]["lr"].get<double>() == doctest::Approx(3e-4).epsilon(1e-12));
  const auto bad = scratch("schedule_bad");
  r = run("train --model mlp-ae --epochs 1 --limit 128 --lr-decay linear --out " + bad.string());
  CHECK(r.status != 0);
  CHECK(r.output.find("--lr-decay none or cosine (got 0, 'linear')") != std::string::npos);
  CHECK(!fs::exists(bad));
  r = run("train --model mlp-ae --epochs 1 --limit 128 --warmup-steps -5 --out " + bad.string());
  CHECK(r.status != 0);
  CHECK(r.output.find("--warmup-steps must be >= 0 and --lr-decay none or cosine (got -5, 'none')") != std::string::npos);
  CHECK(!fs::exists(bad));
  fs::remove_all(dir.parent_path());
}

TEST_CASE("vq-vae: codebook metrics, tokens round trip through encode/decode") {
  if (!ready()) return;
  const auto dir = scratch("vq");
  auto r = run("train --model vq-vae --quantizer ema --epochs 1 --limit 1280 --out " + dir.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto m = read_metrics(dir);
  REQUIRE(m.size() == 1);
  for (const char* k : {"test_mse", "perplexity", "codebook_usage", "train_codebook_usage", "train_perplexity",
                        "train_dead_code_restarts"})
    CHECK(m[0].contains(k));
  r = run("encode --run " + dir.string() + " --n 64 --out " + (dir / "tokens.npy").string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto tokens = vae::io::read_npy((dir / "tokens.npy").string());
  CHECK(tokens.dims == vae::shape{64, 7, 7});
  CHECK(tokens.type == vae::io::dtype::i32);
  r = run("decode --run " + dir.string() + " --tokens " + (dir / "tokens.npy").string() + " --out " +
          (dir / "decoded.png").string());
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(fs::exists(dir / "decoded.png"));
  r = run("eval --run " + dir.string());
  INFO(r.output);
  const auto e = last_json_line(r.output);
  CHECK(e["token_roundtrip_exact"] == true);
  fs::remove_all(dir.parent_path());
}

TEST_CASE("conv-vae --res-blocks: in config.json, PyTorch names, honoured by eval and resume; refused elsewhere") {
  if (!ready()) return;
  const auto dir = scratch("conv_res");
  auto r = run("train --model conv-vae --res-blocks 1 --epochs 1 --limit 256 --batch 64 --out " + dir.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  std::ifstream config(dir / "config.json");
  CHECK(nlohmann::json::parse(config)["res_blocks"] == 1);
  // k = 1: the encoder's block at enc.4, its Linear at enc.(6+k); the decoder's block at dec.0, ConvTs at dec.2, dec.4.
  const auto weights = vae::io::safetensors_file::load(dir / "model.safetensors");
  CHECK(weights.at("enc.4.c1.weight").dims == vae::shape{32, 64, 3, 3});
  CHECK(weights.at("enc.7.weight").dims == vae::shape{64, 64 * 7 * 7});
  CHECK(weights.at("dec.0.c2.weight").dims == vae::shape{64, 32, 1, 1});
  CHECK(weights.at("dec.2.weight").dims == vae::shape{64, 32, 4, 4});
  CHECK(weights.at("dec.4.bias").dims == vae::shape{1});
  r = run("eval --run " + dir.string());  // rebuilds the k = 1 model from config.json to load these weights
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(last_json_line(r.output)["test_elbo"].get<double>() < 0);
  r = run("train --resume " + dir.string() + " --epochs 2 --res-blocks 2");
  CHECK(r.status != 0);
  CHECK(r.output.find("was trained with --res-blocks 1") != std::string::npos);
  r = run("train --model mlp-vae --res-blocks 2 --out " + scratch("mlp_res").string());
  CHECK(r.status != 0);
  CHECK(r.output.find("--res-blocks (2) applies to conv-ae and conv-vae only, not to mlp-vae") != std::string::npos);
  fs::remove_all(dir.parent_path());
}

TEST_CASE("bad input: unknown model, missing run, wrong data spec") {
  if (!ready()) return;
  auto r = run("train --model nope --out " + scratch("bad").string());
  CHECK(r.status != 0);
  CHECK(r.output.find("unknown model 'nope'") != std::string::npos);
  r = run("eval --run /nonexistent/run");
  CHECK(r.status != 0);
  CHECK(r.output.find("is not a training run") != std::string::npos);
  r = run("train --data npy:/nonexistent.npy --out " + scratch("bad2").string());
  CHECK(r.status != 0);
  CHECK(r.output.find("/nonexistent.npy") != std::string::npos);
}

TEST_CASE("cpu commands never load the CUDA libraries; --device cuda opens the module that has them") {
  // The dynamic loader lists every library it maps under LD_DEBUG=files ("file=libcublas.so.13 [0];  needed by ...").
  auto loads = [](const std::string& args) {
    const std::string cmd = "LD_DEBUG=files OMP_NUM_THREADS=2 " + tool.string() + " " + args + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
    ::pclose(p);
    return out;
  };
  const auto cpu = loads("presets");
  REQUIRE(cpu.find("file=libc.so") != std::string::npos);  // the listing works here: the C library is named
  CHECK(cpu.find("libcublas") == std::string::npos);
  CHECK(cpu.find("libcudart") == std::string::npos);
  CHECK(cpu.find("libvae_cli_cuda") == std::string::npos);
  const auto dir = scratch("module_probe");
  const auto cuda = loads("train --model mlp-vae --epochs 1 --limit 64 --device cuda --out " + dir.string());
  if (cuda.find("this build has no CUDA backend") != std::string::npos) {
    MESSAGE("built without VAE_WITH_CUDA: no module to open");
    return;
  }
  CHECK(cuda.find("libvae_cli_cuda.so") != std::string::npos);
  CHECK(cuda.find("libcublas") != std::string::npos);
  fs::remove_all(dir.parent_path());
}

TEST_CASE("--device cuda: with a GPU it trains there (checked); without one (or without the CUDA backend) a clear error, no run written") {
  if (!ready()) return;
  const auto dir = scratch("cuda");
  auto r = run("train --model mlp-vae --device cuda --epochs 1 --limit 256 --out " + dir.string());
  INFO(r.output);
  if (r.status == 0) {
    // A usable GPU: the run must have trained on it. The progress line names the backend the model was built on
    // (vae_cli.cpp: "<model> on <model->device()>"), with the GPU's name; the config records the device; the epoch's
    // loss is finite. Comparisons with the cpu are scripts/cli_cuda_smoke.sh's.
    CHECK(r.output.find("mlp-vae on cuda: ") != std::string::npos);
    CHECK(r.output.find("mlp-vae on cpu") == std::string::npos);
    std::ifstream config(dir / "config.json");
    CHECK(nlohmann::json::parse(config)["device"] == "cuda");
    const auto metrics = read_metrics(dir);
    REQUIRE(!metrics.empty());
    CHECK(std::isfinite(metrics.back()["train_loss"].get<double>()));
    fs::remove_all(dir.parent_path());
    return;
  }
  CHECK(r.status == 1);
  const bool no_backend = r.output.find("--device cuda: this build has no CUDA backend (configure with "
                                        "-DVAE_WITH_CUDA=ON, needs nvcc)") != std::string::npos;
  // With the backend built: CUDA's own error is named (here cudaErrorInsufficientDriver or cudaErrorNoDevice).
  const bool no_device = r.output.find("--device cuda: no usable CUDA device") != std::string::npos;
  CHECK((no_backend || no_device));
  if (no_device) CHECK(r.output.find("cudaGetDeviceCount") != std::string::npos);
  // Nothing that looks like a run (or a started one) was written.
  CHECK(!fs::exists(dir));
  if (!no_backend) {
    // What does not run on cuda yet is refused by name, before the GPU is looked for.
    r = run("train --model vq-vae --quantizer fsq --device cuda --out " +
            scratch("fsq_cuda").string());
    CHECK(r.status == 1);
    CHECK(r.output.find("--device cuda: vq-vae with --quantizer fsq runs on the cpu only for now") != std::string::npos);
    CHECK(!fs::exists(scratch("fsq_cuda")));
  }

  // A cpu run asked to evaluate on cuda: the same refusal; on the cpu it evaluates.
  const auto cpu_dir = scratch("cuda_cpu_run");
  r = run("train --model mlp-ae --epochs 1 --limit 256 --out " + cpu_dir.string());
  REQUIRE(r.status == 0);
  std::ifstream config(cpu_dir / "config.json");
  CHECK(nlohmann::json::parse(config)["device"] == "cpu");
  r = run("eval --run " + cpu_dir.string() + " --device cuda");
  CHECK(r.status == 1);
  CHECK((r.output.find("this build has no CUDA backend") != std::string::npos ||
         r.output.find("no usable CUDA device") != std::string::npos));
  r = run("eval --run " + cpu_dir.string() + " --device cpu");
  CHECK(r.status == 0);
  CHECK(last_json_line(r.output)["test_mse"].get<double>() > 0);

  r = run("train --model mlp-vae --device tpu --out " + scratch("tpu").string());
  CHECK(r.status == 1);
  CHECK(r.output.find("--device must be cpu or cuda, got 'tpu'") != std::string::npos);
  fs::remove_all(dir.parent_path());
}
