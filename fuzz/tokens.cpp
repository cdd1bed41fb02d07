// Fuzz target: `vae decode --tokens FILE`'s path — parse_npy, as<int32>, a small vq-vae's decode_tokens, the PNG grid.
#include "fuzz_support.hpp"
#include "cli/vq_presets.hpp"
#include "vae/io/npy.hpp"
#include "vae/io/png.hpp"
#include "vae/quantizers/vector_quantizer.hpp"

namespace {
// A vq-vae of the CLI's architecture on 1x8x8 images (a 2x2 token grid, K = 16 codes of dimension 8), built once.
vae::cli::runner& model() {
  static auto m = [] {
    vae::cli::run_config c;
    c.model = "vq-vae";
    c.quantizer = "vq";
    c.codebook_size = 16;
    c.code_dim = 8;
    vae::generator init(0);
    const vae::cli::image_shape s{1, 8, 8};
    const vae::cli::vq_preset p(c, s);  // what make_runner builds for --quantizer vq, without the other presets
    auto r = p.build<vae::cpu>(vae::VectorQuantizer<float>(p.codes, c.code_dim, p.quantizer), s, init);
    r->set_training(false);
    return r;
  }();
  return *m;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& m = model();
  vae::fuzz::expect_only_vae_errors([&] {
    const auto tokens = vae::io::parse_npy(vae::fuzz::bytes(data, size), "fuzz-tokens.npy").as<std::int32_t>();
    vae::tensor<float> out;
    m.decode_tokens(tokens, out);
    (void)vae::io::make_grid(out, 8);
  });
  return 0;
}
