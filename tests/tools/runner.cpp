// Tests for tools/cli/runner.hpp: the evaluation batch the CLI picks for each image size.
#include "cli/runner.hpp"

#include <doctest/doctest.h>

using vae::cli::eval_request;
using vae::cli::image_shape;

TEST_CASE("eval_request::batch_for: 500 Fashion-MNIST images' worth of pixels, at least one image") {
  CHECK(eval_request::batch_for({1, 28, 28}) == 500);   // the Fashion-MNIST models evaluate as before
  CHECK(eval_request::batch_for({1, 32, 32}) == 382);   // vqgan's padded Fashion-MNIST
  CHECK(eval_request::batch_for({3, 64, 64}) == 31);    // vqgan-shapes
  CHECK(eval_request::batch_for({3, 256, 256}) == 1);   // vqgan-f8-2048
  CHECK(eval_request::batch_for({3, 1024, 1024}) == 1); // never 0
}
