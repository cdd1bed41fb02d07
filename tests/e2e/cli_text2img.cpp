// End-to-end: vae train --model text2img over a vq-vae run, vae generate (grid, DIR/), vae eval, and the refusals; the
// text2img-seed preset at its full token size (32x32 of 2048 codes) for a few steps of a small prior (label slow).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "e2e_support.hpp"
#include "vae/io/png.hpp"

namespace cli_text2img_test {
namespace fs = std::filesystem;

using vae::test::e2e::read_metrics;
using vae::test::e2e::run_vae;

inline fs::path text2img_scratch(const std::string& name) {
  auto d = fs::temp_directory_path() / ("vae_e2e_text2img_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  return d;
}
inline std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
// A vq-vae standing in for a preset's VQ run: the same token grid and codebook (f = 4 on `data`), one step of 2 images.
inline vae::test::e2e::tool_result train_tiny_tokenizer(const fs::path& out, const std::string& data, int codebook) {
  return run_vae("train --model vq-vae --data " + data + " --codebook-size " + std::to_string(codebook) +
                 " --code-dim 16 --epochs 1 --batch 2 --out " + out.string());
}
// A 1-layer, d-32 prior of preset `model` over the VQ run `vq`: one epoch of batch 2; `more` adds flags.
inline vae::test::e2e::tool_result train_tiny_prior(const std::string& model, const fs::path& vq,
                                                   const std::string& data, const fs::path& out,
                                                   const std::string& more = "") {
  return run_vae("train --model " + model + " --tokenizer-run " + vq.string() + " --data " + data +
                 " --epochs 1 --batch 2 --n-layer 1 --n-head 2 --n-embd 32 " + more + " --out " + out.string());
}
}  // namespace cli_text2img_test

TEST_CASE("vae train --model text2img, generate, eval: the caption -> image pipeline on tiny shapes; bad flags refused") {
  namespace t = cli_text2img_test;
  const auto vq = t::text2img_scratch("vq"), run = t::text2img_scratch("t2i");
  // Red triangles are held out of the data: eval also scores captions that ask for them.
  const std::string data = "shapes:size=32,n=256,test=32,exclude=red-triangle";
  auto r = t::run_vae("train --model vq-vae --data " + data + " --epochs 1 --batch 64 --codebook-size 64 --code-dim 16 --out " +
                      vq.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  r = t::run_vae("train --model text2img --tokenizer-run " + vq.string() + " --data " + data +
                 " --epochs 1 --batch 32 --n-layer 1 --n-head 2 --n-embd 32 --out " + run.string());
  INFO(r.output);
  if (t::has(r.output, "this build has no caption tokenizer")) {
    // Built without sentencepiece: the refusal is checked; the pipeline cannot run, so the test reports Skipped
    // (exit 77) rather than Passed.
    REQUIRE(r.status != 0);
    std::printf("skipped: this build has no caption tokenizer (sentencepiece); text2img's refusal was checked\n");
    std::exit(77);
  }
  REQUIRE(r.status == 0);
  CHECK(t::has(r.output, "to 8x8 token grids (64 codes)"));
  CHECK(t::has(r.output, "256 training and 32 test pairs"));
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "tokenizer.words", "metrics.jsonl"})
    CHECK(t::fs::exists(run / f));
  const auto metrics = t::read_metrics(run);
  REQUIRE(metrics.size() == 1);
  const double nll = metrics[0]["test_token_nll"].get<double>();
  CHECK(std::isfinite(nll));
  CHECK(nll < std::log(64.0));  // 8 steps already beat the uniform code (the background tokens dominate)
  CHECK(metrics[0]["test_bits_per_token"].get<double>() == doctest::Approx(nll / std::log(2.0)).epsilon(1e-12));
  CHECK(t::fs::exists(run / "optimizer.safetensors"));

  // --resume: a copy of the run taken on to 2 epochs ends with the same prior, bit for bit, as 2 epochs in one go
  // (the caption tokenizer, the prior, Adam's state and the sampler's order all continue).
  {
    const auto resumed = t::text2img_scratch("resumed"), straight = t::text2img_scratch("straight");
    t::fs::copy(run, resumed, t::fs::copy_options::recursive);
    r = t::run_vae("train --resume " + resumed.string() + " --epochs 2");
    INFO(r.output);
    REQUIRE(r.status == 0);
    CHECK(t::has(r.output, "after epoch 1 (step 8)"));
    r = t::run_vae("train --model text2img --tokenizer-run " + vq.string() + " --data " + data +
                   " --epochs 2 --batch 32 --n-layer 1 --n-head 2 --n-embd 32 --out " + straight.string());
    INFO(r.output);
    REQUIRE(r.status == 0);
    const auto m = t::read_metrics(resumed);
    REQUIRE(m.size() == 2);
    CHECK(m[1]["epoch"] == 2);
    CHECK(m[1]["step"] == 16);
    CHECK(m[1]["test_token_nll"] == t::read_metrics(straight)[1]["test_token_nll"]);
    CHECK(t::file_bytes(resumed / "model.safetensors") == t::file_bytes(straight / "model.safetensors"));
    // nothing left to train: said, and the run is left alone; flags that would change the run are refused
    const auto before = t::file_bytes(resumed / "model.safetensors");
    r = t::run_vae("train --resume " + resumed.string() + " --epochs 2");
    CHECK(r.status == 0);
    CHECK(t::has(r.output, "no epoch to train (--epochs 2, 2 done)"));
    CHECK(t::file_bytes(resumed / "model.safetensors") == before);
    r = t::run_vae("train --resume " + resumed.string() + " --epochs 3 --n-layer 2");
    CHECK(r.status != 0);
    CHECK(t::has(r.output, "takes only --epochs, --lr and --threads, not --n-layer"));
  }

  // The learning-rate schedule and clipping flags land in config.json; an unknown decay is refused by name.
  const auto sched = t::text2img_scratch("sched");
  const std::string base_train = "train --model text2img --tokenizer-run " + vq.string() + " --data " + data +
                                 " --epochs 0 --n-layer 1 --n-head 2 --n-embd 32 ";
  r = t::run_vae(base_train + "--warmup-steps 3 --lr-decay cosine --grad-clip 0.5 --out " + sched.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  {
    std::ifstream in(sched / "config.json");
    const auto c = nlohmann::json::parse(in);
    CHECK(c["warmup_steps"] == 3);
    CHECK(c["lr_decay"] == "cosine");
    CHECK(c["grad_clip"] == 0.5);
  }
  r = t::run_vae(base_train + "--lr-decay linear --out " + (sched.string() + "_bad"));
  CHECK(r.status != 0);
  CHECK(t::has(r.output, "--lr-decay none or cosine (got 0, 0, 'linear')"));

  // A grid, twice with the same seed: the same bytes.
  const auto grid = run.parent_path() / "grid.png", again = run.parent_path() / "again.png";
  const std::string gen = "generate --run " + run.string() + " --prompt \"a large red circle\" --n 4 --cfg 3 --seed 1 --out ";
  r = t::run_vae(gen + grid.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(t::has(r.output, "tokens/s"));
  REQUIRE(t::run_vae(gen + again.string()).status == 0);
  CHECK(t::file_bytes(grid) == t::file_bytes(again));
  CHECK(!t::file_bytes(grid).empty());

  // DIR/: one PNG per image, prompts taken in turn; an empty line is unconditional, an unknown word warns.
  const auto prompts = run.parent_path() / "prompts.txt", out = run.parent_path() / "images";
  std::ofstream(prompts) << "a small blue square\n\na purple circle\n";
  r = t::run_vae("generate --run " + run.string() + " --prompts " + prompts.string() + " --n 4 --out " + out.string() + "/");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(t::has(r.output, "'purple'"));
  std::ifstream jl(out / "prompts.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(jl, line);) lines.push_back(nlohmann::json::parse(line));
  REQUIRE(lines.size() == 4);
  CHECK(lines[1]["prompt"] == "");
  CHECK(lines[3]["prompt"] == "a small blue square");
  for (const auto& l : lines) {
    const auto img = vae::io::read_image((out / l["file"].get<std::string>()).string());
    CHECK(img.width == 32);
    CHECK(img.height == 32);
    CHECK(l["seed"] == 0);
  }

  // An empty prompt is the unconditional caption: guided, it gives exactly the images that --cfg 0 (the unconditional
  // logits alone) gives for any prompt. An over-long prompt is truncated with a warning and still generates.
  const auto empty = run.parent_path() / "empty.png", uncond = run.parent_path() / "uncond.png";
  const std::string fast = "generate --threads 1 --run " + run.string() + " --n 4 --seed 2 ";
  r = t::run_vae(fast + "--prompt \"\" --cfg 3 --out " + empty.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(!t::has(r.output, "warning"));
  REQUIRE(t::run_vae(fast + "--prompt \"a large red circle\" --cfg 0 --out " + uncond.string()).status == 0);
  CHECK(t::file_bytes(empty) == t::file_bytes(uncond));
  CHECK(t::file_bytes(empty) != t::file_bytes(grid));
  r = t::run_vae(fast + "--prompt \"a small red circle above a large blue square to the left of a small green triangle "
                        "below a large white circle\" --out " + (run.parent_path() / "long.png").string());
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(t::has(r.output, "more than the text context of"));
  CHECK(t::has(r.output, "truncated to 'a small red circle"));
  CHECK(t::fs::exists(run.parent_path() / "long.png"));

  // eval: the same test NLL as training's last epoch, and the caption accuracy of --n generated images.
  r = t::run_vae("eval --run " + run.string() + " --n 4");
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.output.substr(r.output.rfind("{\"caption_accuracy\"")));
  CHECK(j["test_token_nll"].get<double>() == doctest::Approx(nll).epsilon(1e-9));
  CHECK(j["caption_accuracy"]["images"] == 4);
  CHECK(j["caption_accuracy"]["whole"].get<double>() >= 0.0);
  CHECK(j["caption_accuracy"]["cfg"] == 3.0);
  CHECK(j["held_out_caption_accuracy"]["images"] == 4);
  CHECK(j["held_out_caption_accuracy"]["excluded_pairs"] == nlohmann::json::array({"red-triangle"}));
  CHECK(t::has(r.output, "images generated from held-out captions (4 with an excluded pair)"));
  // --failures: the same evaluation, with the generated images whose caption is not read back listed, one file for
  // the test captions and one for the held-out ones.
  const auto failures = run.parent_path() / "failures";
  r = t::run_vae("eval --run " + run.string() + " --n 4 --failures " + failures.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto jf = nlohmann::json::parse(r.output.substr(r.output.rfind("{\"caption_accuracy\"")));
  CHECK(jf["caption_accuracy"]["whole"] == j["caption_accuracy"]["whole"]);
  for (const auto& [name, key] : {std::pair{"failures-test", "caption_accuracy"}, {"failures-held-out", "held_out_caption_accuracy"}}) {
    std::ifstream fl(failures / (std::string(name) + ".jsonl"));
    REQUIRE(fl.good());
    std::size_t n_failed = 0;
    for (std::string line; std::getline(fl, line); ++n_failed) CHECK(nlohmann::json::parse(line)["parsed"].is_array());
    CHECK(static_cast<double>(n_failed) == doctest::Approx(4 * (1 - jf[key]["whole"].get<double>())));
    CHECK(t::fs::exists(failures / (std::string(name) + ".png")) == (n_failed > 0));
  }
  r = t::run_vae("eval --run " + run.string() + " --n 2 --cfg 1 --top-k 5 --top-p 0.5 --temperature 0.5");
  INFO(r.output);
  REQUIRE(r.status == 0);
  {
    const auto ja = nlohmann::json::parse(r.output.substr(r.output.rfind("{\"caption_accuracy\"")))["caption_accuracy"];
    CHECK(ja["cfg"] == 1.0);
    CHECK(ja["top_k"] == 5);
    CHECK(ja["top_p"] == 0.5);
    CHECK(ja["temperature"] == 0.5);
  }
  // eval's own refusals: more images than test captions, a negative guidance scale.
  r = t::run_vae("eval --run " + run.string() + " --n 33");
  CHECK(r.status != 0);
  CHECK(t::has(r.output, "--n 33 is more than the run's 32 test captions"));
  r = t::run_vae("eval --run " + run.string() + " --cfg -2");
  CHECK(r.status != 0);
  CHECK(t::has(r.output, "--cfg must be ≥ 0"));
  for (const auto& [flag, message] : std::vector<std::pair<std::string, std::string>>{
           {"--top-k 0", "--top-k must be in [1, 64]"},
           {"--top-k 65", "--top-k must be in [1, 64]"},
           {"--top-p 0", "--top-p must be in (0, 1]"},
           {"--temperature -1", "--temperature must be ≥ 0"}}) {
    r = t::run_vae("eval --run " + run.string() + " --n 1 " + flag);
    INFO(flag, r.output);
    CHECK(r.status != 0);
    CHECK(t::has(r.output, message));
  }

  // Refusals, each naming the allowed range or what the run is.
  const std::string base = "generate --run " + run.string() + " --prompt \"a red circle\" --out " + grid.string() + " ";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--top-k 0", "--top-k must be in [1, 64]"},
      {"--top-p 1.5", "--top-p must be in (0, 1]"},
      {"--cfg -1", "--cfg must be ≥ 0"},
      {"--n 0", "--n must be ≥ 1"}};
  for (const auto& [flag, message] : bad) {
    r = t::run_vae(base + flag);
    INFO(flag, r.output);
    CHECK(r.status != 0);
    CHECK(t::has(r.output, message));
  }
  const auto not_vq = t::text2img_scratch("not_vq");
  t::fs::create_directories(not_vq);
  std::ofstream(not_vq / "config.json") << R"({"model": "conv-vae"})";
  std::ofstream(not_vq / "model.safetensors") << "";
  for (const auto& [dir, message] : std::vector<std::pair<t::fs::path, std::string>>{
           {not_vq, "is a conv-vae run, not a VQ model"}, {run, "is a text2img run, not a VQ model"}}) {
    r = t::run_vae("train --model text2img --tokenizer-run " + dir.string() + " --data " + data + " --out " +
                   t::text2img_scratch("refused").string());
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK(t::has(r.output, message));
  }
  // A preset's token grid and codebook: text2img-seed models 32x32 tokens of 2048 codes, this run gives 8x8 of 64.
  r = t::run_vae("train --model text2img-seed --tokenizer-run " + vq.string() + " --data " + data + " --out " +
                 t::text2img_scratch("refused").string());
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(t::has(r.output, "--model text2img-seed models 32x32 token grids of 2048 codes (a vqgan-seed run)"));
  CHECK(t::has(r.output, "gives 8x8 tokens of 64 codes"));
  // --classifier on shapes captions: refused naming the caption, before any image is generated.
  if (t::fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    const auto cls = t::text2img_scratch("cls");
    r = t::run_vae("train --model classifier --epochs 1 --limit 256 --batch 64 --out " + cls.string());
    INFO(r.output);
    REQUIRE(r.status == 0);
    r = t::run_vae("eval --run " + run.string() + " --n 4 --classifier " + cls.string());
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK(t::has(r.output, "names no Fashion-MNIST class"));
    CHECK(!t::has(r.output, "sampling"));
  } else {
    MESSAGE("the --classifier refusal was not checked: Fashion-MNIST is not installed (dataset-fashion-mnist)");
  }
  // --failures on a run whose captions are not shapes captions (the parser reads shapes images only): refused naming
  // the run's data, before any data is loaded or any image generated, and no failures folder written.
  {
    const auto other = t::text2img_scratch("not_shapes");
    t::fs::copy(run, other, t::fs::copy_options::recursive);
    auto cfg = nlohmann::json::parse(std::ifstream(other / "config.json"));
    cfg["data"] = "folder-captions:" + (other / "no_such_folder").string();
    std::ofstream(other / "config.json") << cfg.dump();
    const auto failures_dir = other / "failures";
    r = t::run_vae("eval --run " + other.string() + " --n 4 --failures " + failures_dir.string());
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK(t::has(r.output, "--failures needs a run on shapes captions"));
    CHECK(t::has(r.output, "trained on folder-captions:"));
    CHECK(!t::has(r.output, "sampling"));
    CHECK(!t::fs::exists(failures_dir));
    t::fs::remove_all(other);
  }
  t::fs::remove(run / "optimizer.safetensors");  // as a run written before text2img runs could resume
  r = t::run_vae("train --resume " + run.string() + " --epochs 2");
  CHECK(r.status != 0);
  CHECK(t::has(r.output, "has no optimizer.safetensors"));
  r = t::run_vae("sample --run " + run.string() + " --out " + grid.string());
  CHECK(r.status != 0);
  CHECK(t::has(r.output, "is a text2img run: use vae generate"));
  t::fs::remove_all(run.parent_path());
}

TEST_CASE("text2img-seed on the cpu: 128x128 shapes as 32x32 tokens of 2048 codes, two steps, one image generated") {
  namespace t = cli_text2img_test;
  // The VQ tokenizer is a vq-vae of the same grid and codebook (a vqgan-seed step at 128x128 takes seconds by itself).
  const auto vq = t::text2img_scratch("seed_vq"), run = t::text2img_scratch("seed_t2i");
  const std::string data = "shapes:size=128,n=4,test=2";
  auto r = t::train_tiny_tokenizer(vq, data, 2048);
  INFO(r.output);
  REQUIRE(r.status == 0);
  r = t::train_tiny_prior("text2img-seed", vq, data, run);
  INFO(r.output);
  if (t::has(r.output, "this build has no caption tokenizer")) {
    CHECK(r.status != 0);
    return;
  }
  REQUIRE(r.status == 0);
  CHECK(t::has(r.output, "to 32x32 token grids (2048 codes)"));
  CHECK(t::has(r.output, "+ 1024 image tokens"));
  const auto metrics = t::read_metrics(run);
  REQUIRE(metrics.size() == 1);
  CHECK(metrics[0]["step"] == 2);
  CHECK(std::isfinite(metrics[0]["test_token_nll"].get<double>()));
  std::ifstream in(run / "config.json");
  const auto config = nlohmann::json::parse(in);
  CHECK(config["model"] == "text2img-seed");
  CHECK(config["image_height"] == 32);
  CHECK(config["image_vocab"] == 2048);
  // --threads 1: each sampled token is a small step, which two OpenMP threads on a loaded machine slow down many times
  const auto out = run.parent_path() / "seed";
  r = t::run_vae("generate --run " + run.string() + " --prompt \"a large red square\" --n 1 --cfg 1 --threads 1 --out " +
                 out.string() + "/");
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto img = vae::io::read_image((out / "0000.png").string());
  CHECK(img.width == 128);
  CHECK(img.height == 128);
  // and the other preset refuses this run's tokens, naming both
  r = t::run_vae("train --model text2img-shapes --tokenizer-run " + vq.string() + " --data " + data + " --out " +
                 t::text2img_scratch("refused").string());
  CHECK(r.status != 0);
  CHECK(t::has(r.output, "--model text2img-shapes models 8x8 token grids of 1024 codes (a vq-vae-shapes-f8 run)"));
  CHECK(t::has(r.output, "gives 32x32 tokens of 2048 codes"));
  t::fs::remove_all(run.parent_path());
}

TEST_CASE("text2img-shapes: its learning-rate schedule and clipping reach config.json unless given; other grids refused") {
  namespace t = cli_text2img_test;
  // Its tokenizer preset, vq-vae-shapes-f8 (1024 codes; 4 scenes, small codes): 64x64 scenes to 8x8 tokens in a second.
  const auto vq = t::text2img_scratch("shapes_vq"), run = t::text2img_scratch("shapes_t2i");
  const std::string data = "shapes:size=64,n=4,test=2";
  auto r = t::run_vae("train --model vq-vae-shapes-f8 --data " + data + " --code-dim 16 --epochs 1 --batch 2 --out " +
                      vq.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  r = t::train_tiny_prior("text2img-shapes", vq, data, run);
  INFO(r.output);
  if (t::has(r.output, "this build has no caption tokenizer")) {
    CHECK(r.status != 0);
    return;
  }
  REQUIRE(r.status == 0);
  CHECK(t::has(r.output, "to 8x8 token grids (1024 codes)"));
  {
    std::ifstream in(run / "config.json");
    const auto config = nlohmann::json::parse(in);
    CHECK(config["model"] == "text2img-shapes");
    CHECK(config["lr"] == 1e-3);
    CHECK(config["warmup_steps"] == 200);
    CHECK(config["lr_decay"] == "cosine");
    CHECK(config["grad_clip"] == 1.0);
  }
  // its runs sample with guidance 1.5 and nucleus 0.8 unless --cfg / --top-p say otherwise (the text2img preset's
  // runs: 3 and 0.95, below)
  struct sampler {
    const char* flags;
    double guidance, top_p;
  };
  for (const auto& [flags, guidance, top_p] :
       {sampler{"", 1.5, 0.8}, sampler{" --cfg 3", 3.0, 0.8}, sampler{" --top-p 0.95", 1.5, 0.95}}) {
    r = t::run_vae("eval --run " + run.string() + " --n 2" + flags);
    INFO(flags, ": ", r.output);
    REQUIRE(r.status == 0);
    CHECK(t::has(r.output, vae::cat("sampling with guidance ", guidance, ", top-k 100, top-p ", top_p, ", temperature 1")));
    const auto j = nlohmann::json::parse(r.output.substr(r.output.rfind("{\"caption_accuracy\"")));
    CHECK(j["caption_accuracy"]["cfg"] == guidance);
    CHECK(j["caption_accuracy"]["top_p"] == doctest::Approx(top_p));
  }
  // and so does vae generate: no flags draw the images --cfg 1.5 --top-p 0.8 draw, bit for bit, and not those of
  // --cfg 3 or --top-p 0.95
  {
    std::map<std::string, std::string> png;
    for (const std::string flags : {"", "--cfg 1.5 --top-p 0.8 ", "--cfg 3 ", "--top-p 0.95 "}) {
      const auto file = run.parent_path() / ("guidance" + std::to_string(png.size()) + ".png");
      r = t::run_vae("generate --run " + run.string() + " --prompt \"a large red circle\" --n 1 --threads 1 " + flags +
                     "--out " + file.string());
      INFO(flags, r.output);
      REQUIRE(r.status == 0);
      png[flags] = t::file_bytes(file);
    }
    CHECK(!png[""].empty());
    CHECK(png[""] == png["--cfg 1.5 --top-p 0.8 "]);
    CHECK(png[""] != png["--cfg 3 "]);
    CHECK(png[""] != png["--top-p 0.95 "]);
  }
  // flags given win over the preset's schedule
  t::fs::remove_all(run);
  r = t::train_tiny_prior("text2img-shapes", vq, data, run, "--lr 3e-4 --warmup-steps 0 --lr-decay none --grad-clip 0");
  INFO(r.output);
  REQUIRE(r.status == 0);
  {
    std::ifstream in(run / "config.json");
    const auto config = nlohmann::json::parse(in);
    CHECK(config["lr"] == 3e-4);
    CHECK(config["warmup_steps"] == 0);
    CHECK(config["lr_decay"] == "none");
    CHECK(config["grad_clip"] == 0.0);
  }
  // the text2img preset keeps its constant learning rate
  r = t::train_tiny_prior("text2img", vq, data, run.parent_path() / "any");
  INFO(r.output);
  REQUIRE(r.status == 0);
  {
    std::ifstream in(run.parent_path() / "any" / "config.json");
    const auto config = nlohmann::json::parse(in);
    CHECK(config["lr"] == 3e-4);
    CHECK(config["lr_decay"] == "none");
    CHECK(config["grad_clip"] == 0.0);
  }
  r = t::run_vae("eval --run " + (run.parent_path() / "any").string() + " --n 2");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(t::has(r.output, "sampling with guidance 3, top-k 100, top-p 0.95, "));
  t::fs::remove_all(run.parent_path());
}
