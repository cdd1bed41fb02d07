// Captioned shapes: generates a grid of the procedural text-to-image data with its captions, holds a combination out,
// and reads every image back with the caption-accuracy parser. Writes captioned_shapes.png (or the path given after
// the options) and prints the captions in grid order. `--tiny`: the same (it is small already).
//   example_captioned_shapes [--tiny] [OUT.png]
#include <cstdio>
#include <string>
#include <vae/metrics/caption_accuracy.hpp>
#include <vae/vae.hpp>

int main(int argc, char** argv) {
  std::string out = "captioned_shapes.png";
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) != "--tiny") out = argv[i];

  // 16 scenes of seed 0 at 64 x 64; red triangles held out (as a text-to-image evaluation would hold them out of
  // training and ask for them afterwards).
  vae::data::shapes_options opt;
  opt.image_size = 64;
  opt.excluded = {{vae::data::shape_kind::triangle, vae::data::shape_colour::red}};
  const auto batch = vae::data::generate_shapes(16, /*seed=*/0, opt);
  // make_grid pads with black, which would hide the cells' edges on black scenes: the padding is painted grey.
  auto grid = vae::io::make_grid(batch.images, /*nrow=*/4, /*padding=*/4);
  for (int y = 0; y < grid.height; ++y)
    for (int x = 0; x < grid.width; ++x)
      if (y % (64 + 4) < 4 || x % (64 + 4) < 4)
        for (int c = 0; c < grid.channels; ++c) grid.pixels[static_cast<std::size_t>((y * grid.width + x) * grid.channels + c)] = 96;
  vae::io::write_png(out, grid.pixels.data(), grid.width, grid.height, grid.channels);
  std::printf("%s: 4 x 4 grid of 64 x 64 scenes, row by row:\n", out.c_str());
  for (std::size_t i = 0; i < batch.captions.size(); ++i)
    std::printf("  (%zu, %zu) %s\n", i / 4 + 1, i % 4 + 1, batch.captions[i].c_str());

  // The parser reads the attributes back from the pixels; the scorer compares them with the captions.
  vae::metrics::caption_accuracy acc;
  for (std::int64_t i = 0; i < batch.images.dim(0); ++i) {
    const auto parsed = vae::metrics::parse_shapes_image(batch.images, i);
    acc.add(vae::metrics::score_caption(vae::data::parse_caption(batch.captions[static_cast<std::size_t>(i)]), parsed));
  }
  std::printf("caption accuracy of the data itself: %s\n", acc.summary().c_str());
  return acc.whole() == 1.0 ? 0 : 1;
}
