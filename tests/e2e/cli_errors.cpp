// End-to-end: each user-facing error of the `vae` tool (docs/errors.md) provoked and its message checked (label slow).
// Tiny generated .npy datasets keep every call well under a second; the errors come before any real training.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <unistd.h>
#include <vector>

#include "vae/io/npy.hpp"

namespace cli_errors_test {
namespace fs = std::filesystem;

const fs::path tool = fs::path(VAE_BINARY_DIR) / "tools" / "vae";

struct result {
  int status;
  std::string output;
};

// Runs the tool with `args`, capturing stdout and stderr together.
result run(const std::string& args) {
  const std::string cmd = "OMP_NUM_THREADS=1 " + tool.string() + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int rc = ::pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

// Exits 77 (ctest: skipped) when the tool was not built; these cases need no installed dataset.
void require_tool() {
  if (!fs::exists(tool)) {
    std::printf("SKIPPED: %s was not built (configure with VAE_BUILD_TOOLS=ON)\n", tool.c_str());
    std::exit(77);
  }
}

// A scratch folder for this process, removed at exit.
struct scratch_dir {
  fs::path path = fs::temp_directory_path() / ("vae_e2e_errors_" + std::to_string(::getpid()));
  scratch_dir() { fs::create_directories(path); }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
const fs::path& dir() {
  static const scratch_dir d;
  return d.path;
}

// n images of side x side with values f(i) (float32), written to dir()/name; returns the path.
template <class T = float, class F>
std::string images(const std::string& name, std::int64_t n, std::int64_t side, F f) {
  std::vector<T> v(static_cast<std::size_t>(n * side * side));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(f(static_cast<std::int64_t>(i)));
  const auto p = (dir() / name).string();
  vae::io::write_npy(p, v.data(), vae::shape{n, side, side});
  return p;
}
std::string grey_images(const std::string& name, std::int64_t n = 28, std::int64_t side = 8) {
  return images(name, n, side, [](std::int64_t i) { return static_cast<float>(i % 7) / 6.f; });
}

// A run of `model` trained one epoch on 28 8x8 images (24 train, 4 test), once per model.
std::string trained(const std::string& model, const std::string& extra = "") {
  const auto out = dir() / ("run_" + model);
  if (!fs::exists(out / "model.safetensors")) {
    // --latent is an AE / VAE flag: the registry refuses it for the vq presets, which would ignore it.
    const std::string latent = model.starts_with("vq") ? "" : " --latent 4";
    const auto r = run("train --model " + model + " " + extra + " --data npy:" + grey_images("train_" + model + ".npy") +
                       " --epochs 1 --batch 8" + latent + " --out " + out.string());
    INFO(r.output);
    REQUIRE(r.status == 0);
  }
  return out.string();
}

// The error must be the tool's sentence: exit status 1, "vae: error: " + message; the source location only in
// debug builds (the tool and this test share the build type, hence NDEBUG).
void check_error(const result& r, const std::string& message) {
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("vae: error: ") != std::string::npos);
  CHECK(r.output.find(message) != std::string::npos);
#if defined(NDEBUG)
  CHECK(r.output.find(".hpp:") == std::string::npos);
  CHECK(r.output.find(".cpp:") == std::string::npos);
#else
  CHECK((r.output.find(".hpp:") != std::string::npos || r.output.find(".cpp:") != std::string::npos));
#endif
}

std::string out_flag(const std::string& name) { return " --out " + (dir() / name).string(); }

TEST_CASE("errors are one sentence; --verbose adds the source location") {
  require_tool();
  const auto data = " --data npy:" + (dir() / "missing.npy").string();
  check_error(run("train" + data + out_flag("v0")), "cannot open npy file '" + (dir() / "missing.npy").string() + "'");
  for (const char* form : {"--verbose train", "train --verbose"}) {
    const auto r = run(std::string(form) + data + out_flag("v1"));
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK(r.output.find("npy.hpp:") != std::string::npos);
  }
}

TEST_CASE("command line: device, batch, lr, res-blocks, quantizer, image size, config files") {
  require_tool();
  const auto data = " --data npy:" + grey_images("ok.npy");
  check_error(run("train --device tpu" + data + out_flag("d")), "--device must be cpu or cuda, got 'tpu'");
  check_error(run("train --batch 0" + data + out_flag("b")),
              "batch and lr must be positive and epochs >= 0 (got batch 0, lr 0.001)");
  check_error(run("train --lr -1" + data + out_flag("l")), "batch and lr must be positive");
  check_error(run("train --model conv-vae --res-blocks -1" + data + out_flag("r")), "--res-blocks must be >= 0, got -1");
  check_error(run("train --model vq-vae --quantizer lfq" + data + out_flag("q")),
              "unknown quantizer 'lfq' for vq-vae: choose vq, ema, fsq, gumbel or rvq");
  check_error(run("train --model conv-ae --data npy:" + grey_images("six.npy", 8, 6) + out_flag("s")),
              "conv-ae: images must be square with a side divisible by 4, got 6x6");
  const auto missing = (dir() / "nope.json").string();
  check_error(run("train --config " + missing + out_flag("c")), "cannot read config '" + missing + "'");
  const auto bad = (dir() / "bad.json").string();
  std::ofstream(bad) << "{\"model\": \"mlp-vae\", \"epochs\": \"five\"}";
  check_error(run("train --config " + bad + out_flag("c2")), "config '" + bad + "' is not valid: ");
  // fuzz/config found it: a number too large for its field was converted without a check (undefined behaviour).
  const auto huge = (dir() / "huge.json").string();
  std::ofstream(huge) << "{\"epochs\": 1e70, \"seed\": -1}";
  check_error(run("train --config " + huge + out_flag("c3")),
              "config '" + huge + "' is not valid: 'epochs' must be a whole number in [-2147483648, 2147483647], got 1e+70");
}

TEST_CASE("data: unknown spec, missing or malformed files, wrong shapes and dtypes") {
  require_tool();
  check_error(run("train --data imagenet" + out_flag("u")), "load_dataset: unknown dataset 'imagenet'");
  const auto not_npy = (dir() / "text.npy").string();
  std::ofstream(not_npy) << "not an array\n";
  check_error(run("train --data npy:" + not_npy + out_flag("m")), "npy '" + not_npy + "': bad magic");
  std::vector<float> flat(10, 0.5f);
  const auto rank1 = (dir() / "rank1.npy").string();
  vae::io::write_npy(rank1, flat.data(), vae::shape{10});
  check_error(run("train --data npy:" + rank1 + out_flag("r1")),
              "load_dataset '" + rank1 + "': expected images [N, H, W] or [N, C, H, W], got shape [10]");
  std::vector<std::int32_t> ints(4 * 16, 1);
  const auto i32 = (dir() / "ints.npy").string();
  vae::io::write_npy(i32, ints.data(), vae::shape{4, 4, 4});
  check_error(run("train --data npy:" + i32 + out_flag("i")), "images must be uint8 or float32/float64, got I32");
  fs::create_directories(dir() / "no_images");
  check_error(run("train --data folder:" + (dir() / "no_images").string() + out_flag("f")),
              "no .png/.jpg/.jpeg/.bmp files in it or in its sub-folders");
  check_error(run("train --data mnist-idx:" + (dir() / "none").string() + out_flag("x")), "load_dataset 'mnist-idx:");
}

TEST_CASE("data values: NaN, values outside [0, 1] for Bernoulli/BCE models, 8-bit pixels stored as float") {
  require_tool();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto with_nan = images("nan.npy", 28, 8, [&](std::int64_t i) { return i == 70 ? nan : 0.5f; });
  check_error(run("train --model vq-vae --data npy:" + with_nan + out_flag("n")),
              "data '" + with_nan + "': element [1, 0, 6] (flat index 70) is nan; vq-vae's mean squared error needs "
              "finite values");
  const auto wide = images("wide.npy", 28, 8, [](std::int64_t i) { return i == 3 ? 1.25f : 0.5f; });
  check_error(run("train --model mlp-vae --data npy:" + wide + out_flag("w")),
              "data '" + wide + "': element [0, 0, 3] (flat index 3) is 1.25, outside [0, 1] (values span [0.5, 1.25]); "
              "mlp-vae's Bernoulli likelihood is defined on [0, 1] only");
  check_error(run("train --model conv-ae --data npy:" + wide + out_flag("w2")),
              "conv-ae's binary cross-entropy loss is defined on [0, 1] only");
  const auto bytes = images("bytes.npy", 28, 8, [](std::int64_t i) { return static_cast<float>(i % 256); });
  check_error(run("train --model conv-vae --data npy:" + bytes + out_flag("b")),
              "values span [0, 255] in whole numbers, like 8-bit pixels stored as float");
  check_error(run("train --model vq-vae --data npy:" + bytes + out_flag("b2")), "Divide the array by 255");
  // A likelihood on all reals takes values outside [0, 1] that are no 8-bit pixels.
  const auto r = run("train --model vq-vae --codebook-size 16 --code-dim 8 --epochs 1 --batch 8 --data npy:" + wide +
                     out_flag("vq_wide"));
  INFO(r.output);
  CHECK(r.status == 0);
}

TEST_CASE("runs: what a model family cannot do, tokens that cannot be decoded, corrupt checkpoints") {
  require_tool();
  const auto ae = trained("mlp-ae");
  check_error(run("sample --run " + ae + out_flag("s.png")), "'ae' models cannot sample: train a VAE (mlp-vae, conv-vae)");
  check_error(run("encode --run " + ae + out_flag("t.npy")), "'mlp-ae' has no tokens: encode needs a vq model");
  const auto vq = trained("vq-vae", "--codebook-size 16 --code-dim 8");
  std::vector<std::int32_t> out_of_range = {0, 1, 2, 99};
  const auto big = (dir() / "big_tokens.npy").string();
  vae::io::write_npy(big, out_of_range.data(), vae::shape{1, 2, 2});
  check_error(run("decode --run " + vq + " --tokens " + big + out_flag("d.png")),
              "token 99 at position 3 is outside [0, 16)");
  std::vector<std::int32_t> flat = {0, 1, 2, 3};
  const auto rank1 = (dir() / "flat_tokens.npy").string();
  vae::io::write_npy(rank1, flat.data(), vae::shape{4});
  check_error(run("decode --run " + vq + " --tokens " + rank1 + out_flag("d2.png")), "expected tokens [N, h, w], got [4]");
  std::vector<float> fractional = {0.f, 1.5f, 2.f, 3.f};
  const auto frac = (dir() / "float_tokens.npy").string();
  vae::io::write_npy(frac, fractional.data(), vae::shape{1, 2, 2});
  check_error(run("decode --run " + vq + " --tokens " + frac + out_flag("d3.png")),
              "npy '" + frac + "' (dtype <f4, shape [1, 2, 2]): element 1 is 1.5, which cannot be read as a 32-bit "
              "signed integer");
  // A checkpoint cut short: named, with what is wrong.
  const auto cut = dir() / "cut_run";
  fs::create_directories(cut);
  fs::copy_file(fs::path(ae) / "config.json", cut / "config.json");
  std::ofstream(cut / "model.safetensors", std::ios::binary) << "\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":";
  check_error(run("eval --run " + cut.string()), "safetensors '" + (cut / "model.safetensors").string() + "': ");
  // A checkpoint of another model: the first tensor that does not fit is named, with both shapes.
  const auto other = dir() / "other_run";
  fs::create_directories(other);
  fs::copy_file(fs::path(ae) / "config.json", other / "config.json");
  fs::copy_file(fs::path(vq) / "model.safetensors", other / "model.safetensors");
  check_error(run("eval --run " + other.string()),
              "'" + (other / "model.safetensors").string() + "': tensor 'enc.0.weight' has shape [64, 1, 4, 4], the "
              "model expects [512, 64]");
}

}  // namespace cli_errors_test
