// The CLI's preset registry (tools/cli/preset_registry.hpp), walked entry by entry: names unique, every image preset
// builds on the cpu with the parameter count it had before the table existed, every text2img preset's token grid is
// what its VQ preset gives, every entry shows in `vae presets` and `vae train --help`, flags a preset does not take
// and unknown names are refused naming what is accepted. A new entry is checked by this walk without a new line here.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>

#include "../e2e/e2e_support.hpp"
#include "cli/preset_registry.hpp"
#include "cli/presets.hpp"

namespace preset_registry_test {

using namespace vae::cli;
using vae::cat;

// The message of the vae::error that f throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const vae::error& e) {
    return e.message();
  }
  return "";
}

// The image each kind is built for here: Fashion-MNIST's 1x28x28, RGB 16x16 for the f = 4 vqgans, 32x32 for f = 8.
image_shape shape_for(const preset& p) {
  if (p.kind != preset_kind::vqgan) return {1, 28, 28};
  return p.vqgan.factor() == 4 ? image_shape{3, 16, 16} : image_shape{3, 32, 32};
}

// The preset's run config as `vae train --model NAME` makes it with no other flag (ch 32 for every vqgan, to keep
// the f = 8 model small here; the classifier: 10 classes).
run_config config_for(const preset& p) {
  run_config c;
  c.model = std::string(p.name);
  apply_preset_defaults(p, c, [](std::string_view) { return false; });
  if (p.codes > 0) c.codebook_size = p.codes;
  c.ch = 32;
  c.classes = 10;
  return c;
}

// Trainable parameters of each image preset at shape_for / config_for, as the CLI built them before the registry
// (the base commit's `vae train --epochs 0` printed the same counts): a builder that reads an entry differently from
// the old hand-written code fails here. A new image preset adds its count.
const std::map<std::string, std::int64_t> parameters_before = {
    {"mlp-ae", 1083696},      {"conv-ae", 270561},      {"mlp-vae", 1091920},    {"conv-vae", 370945},
    {"vq-vae", 445505},       {"vq-vae-2048", 445505},  {"vqgan", 1079971},      {"vqgan-shapes", 1079971},
    {"vqgan-seed", 1079971},  {"vqgan-f8-2048", 4864099}, {"classifier", 968586},  {"vq-vae-shapes", 445505},
    {"vq-vae-shapes-f8", 510081}};

TEST_CASE("preset registry: unique names, a description and a kind's builder for each; the same models as before") {
  std::set<std::string_view> names;
  std::size_t built = 0, text2img = 0;
  for (const auto& p : presets()) {
    INFO(p.name);
    CHECK(names.insert(p.name).second);
    CHECK(!p.description.empty());
    CHECK(find_preset(p.name) == &p);
    std::set<std::string_view> defaulted;
    for (const auto& d : p.defaults) {
      CHECK(p.accepts(d.flag));              // a default for a flag it refuses would be dead
      CHECK(defaulted.insert(d.flag).second);  // a second default for one flag would never be read
    }
    for (const auto& r : p.required) CHECK(p.accepts(r.flag));
    if (p.kind == preset_kind::text2img) {
      ++text2img;
      if (p.text2img.grid == 0) continue;  // any VQ run
      // The grid and codebook it demands are what its VQ preset makes of the preset's own images.
      const auto* vq = find_preset(p.text2img.vq_preset);
      REQUIRE(vq != nullptr);
      REQUIRE((vq->kind == preset_kind::vqgan || vq->kind == preset_kind::vq));
      const auto vc = config_for(*vq);
      CHECK(vc.codebook_size == p.text2img.codebook);
      const auto factor = vq->token_factor();
      const auto data = parse_default(p, "--data", std::string());
      CHECK(data.starts_with(cat("shapes:size=", p.text2img.grid * factor, ",")));
      CHECK(parse_default(*vq, "--data", std::string()).starts_with(cat("shapes:size=", p.text2img.grid * factor, ",")));
      continue;
    }
    const auto c = config_for(p);
    vae::generator init(0);
    auto m = make_runner(c, shape_for(p), init);
    REQUIRE(m != nullptr);
    CHECK(m->trainable_size() > 0);
    REQUIRE(parameters_before.contains(std::string(p.name)));
    CHECK(m->trainable_size() == parameters_before.at(std::string(p.name)));
    ++built;
  }
  CHECK(names.size() == presets().size());
  CHECK(built == parameters_before.size());
  CHECK(text2img == 3);
}

TEST_CASE("preset registry: a preset's defaults reach the run config (vqgan-shapes, vq-vae-shapes, vqgan)") {
  const auto shapes = config_for(preset_named("vqgan-shapes"));
  CHECK(shapes.epochs == 4);
  CHECK(shapes.lr == 3e-4);
  CHECK(shapes.warmup_steps == 100);
  CHECK(shapes.lr_decay == "cosine");
  CHECK(shapes.disc_weight == 0.1);
  CHECK(shapes.disc_start == 500);
  CHECK(shapes.batch == 8);
  CHECK(shapes.kmeans_init);
  CHECK(shapes.dead_code_restart);
  CHECK(shapes.restart_draw == "uniform");
  // the local tokenizer of the shapes: 16x16 tokens of 1024 codes on 64x64 scenes, like vqgan-shapes
  const auto local = config_for(preset_named("vq-vae-shapes"));
  CHECK(local.data == "shapes:size=64,n=8000,test=200");
  CHECK(local.codebook_size == 1024);
  CHECK(local.epochs == 12);
  CHECK(local.batch == 32);
  CHECK(local.kmeans_init);
  CHECK(local.dead_code_restart);
  CHECK(preset_named("vq-vae-shapes").vq_downsamplings == 2);
  // the same scenes and codebook on an 8x8 grid: a third downsampling, the encoder's first conv at 32 channels
  const auto coarse = config_for(preset_named("vq-vae-shapes-f8"));
  CHECK(coarse.data == local.data);
  CHECK(coarse.codebook_size == 1024);
  CHECK(preset_named("vq-vae-shapes-f8").vq_downsamplings == 3);
  // vqgan.py's lr 2e-4, constant; its disc weight 0.8 collapsed the reconstructions at disc_start, so 0.1
  const auto fashion = config_for(preset_named("vqgan"));
  CHECK(fashion.lr == 2e-4);
  CHECK(fashion.lr_decay == "none");
  CHECK(fashion.warmup_steps == 0);
  CHECK(fashion.disc_weight == 0.1);
  CHECK(fashion.disc_start == 1500);
  CHECK(fashion.batch == 64);
  CHECK(fashion.kmeans_init);
  CHECK(fashion.restart_draw == "uniform");
}

TEST_CASE("preset registry: --restart-draw takes uniform or error, and refuses anything else naming both") {
  run_config c;
  CHECK(restart_draw_of(c) == vae::restart_draw::uniform);
  c.restart_draw = "error";
  CHECK(restart_draw_of(c) == vae::restart_draw::squared_error);
  c.restart_draw = "sometimes";
  CHECK(error_of([&] { restart_draw_of(c); }).starts_with("--restart-draw 'sometimes': choose uniform"));
  c.restart_draw = "error";
  c.dead_code_restart = false;  // --no-restart
  CHECK(error_of([&] { restart_draw_of(c); }).starts_with("--restart-draw error chooses how dead codes restart, but --no-restart"));
  c.restart_draw = "uniform";  // the default says nothing about restarts, so it stands beside --no-restart
  CHECK(restart_draw_of(c) == vae::restart_draw::uniform);
}

TEST_CASE("preset registry: flags a preset does not take and unknown names are refused naming what it accepts") {
  std::size_t refused = 0;
  for (const auto& p : presets()) {
    // Some flag that another preset takes and this one does not.
    for (const auto& other : presets())
      for (const auto flag : other.options) {
        if (p.accepts(flag)) continue;
        const auto e = error_of([&] { check_accepts(p, flag, "1"); });
        INFO(p.name, " ", flag, ": ", e);
        CHECK(e.starts_with(cat(flag, " (1) applies to ")));
        CHECK(e.find(cat("only, not to ", p.name)) != std::string::npos);
        CHECK(e.find(cat(other.name)) != std::string::npos);
        for (const auto own : p.options) CHECK(e.find(own) != std::string::npos);
        ++refused;
      }
    for (const auto flag : p.options) CHECK(error_of([&] { check_accepts(p, flag, "1"); }).empty());
  }
  CHECK(refused > 50);
  CHECK(error_of([] { check_accepts(*find_preset("mlp-vae"), "--res-blocks", "2"); })
            .starts_with("--res-blocks (2) applies to conv-ae and conv-vae only, not to mlp-vae"));
  const auto unknown = error_of([] { (void)preset_named("vqgan-shape"); });
  CHECK(unknown.starts_with("unknown model 'vqgan-shape' (did you mean vqgan-shapes?): choose mlp-ae, conv-ae"));
  for (const auto& p : presets()) CHECK(unknown.find(p.name) != std::string::npos);
  CHECK(error_of([] { (void)preset_named("zzzzzzzzzzzz"); }).find("did you mean") == std::string::npos);
}

TEST_CASE("preset registry: vae presets and vae train --help list every entry; the tool refuses an unaccepted flag") {
  namespace t = vae::test::e2e;
  const auto listing = t::run_vae("presets");
  REQUIRE(listing.status == 0);
  const auto help = t::run_vae("train --help");
  REQUIRE(help.status == 0);
  for (const auto& p : presets()) {
    INFO(p.name);
    CHECK(listing.output.find(cat(p.name, " ")) != std::string::npos);
    CHECK(listing.output.find(p.description) != std::string::npos);
    CHECK(help.output.find(p.name) != std::string::npos);
    for (const auto flag : p.options) CHECK(help.output.find(flag) != std::string::npos);  // a flag the CLI has
  }
  const auto r = t::run_vae("train --model vq-vae --latent 4 --out /nonexistent/never");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("--latent (4) applies to mlp-ae, conv-ae, mlp-vae and conv-vae only, not to vq-vae; vq-vae takes "
                      "--quantizer, --codebook-size") != std::string::npos);
  const auto fixed = t::run_vae("train --model vq-vae-2048 --codebook-size 16 --out /nonexistent/never");
  CHECK(fixed.output.find("--codebook-size (16) applies to ") != std::string::npos);
  const auto t2i = t::run_vae("train --model text2img --latent 4 --out /nonexistent/never");
  CHECK(t2i.output.find("not to text2img") != std::string::npos);
}

}  // namespace preset_registry_test
