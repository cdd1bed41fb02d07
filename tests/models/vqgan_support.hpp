// The tiny VQGAN of the model tests (the fixture's modules of tools/fixtures/adversarial.py: Conv2d / LeakyReLU /
// Upsample / BatchNorm2d stand-ins for taming's blocks), shared by tests/models/vqgan.cpp and the 2-rank test
// tests/dist/mpi/vqgan.cpp.
#pragma once
#include <cstdint>
#include <vector>

#include "vae/layers/activations.hpp"
#include "vae/layers/batch_norm2d.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/layers/sequential.hpp"
#include "vae/layers/upsample.hpp"
#include "vae/models/vqgan.hpp"
#include "vae/quantizers/vector_quantizer.hpp"
#include "vae/train/adam.hpp"

namespace vqgan_test {
using namespace vae;

using Enc = Sequential<Conv2d<float>, LeakyReLU<float>, Conv2d<float>>;
using Body = Sequential<Upsample<float>, Conv2d<float>, LeakyReLU<float>>;
using Dec = DecoderWithOutput<Body, Conv2d<float>>;
using Disc = Sequential<Conv2d<float>, LeakyReLU<float>, Conv2d<float>, BatchNorm2d<float>, LeakyReLU<float>,
                        Conv2d<float>>;

// The fixture's modules (tools/fixtures/adversarial.py, TinyVQGAN and make_disc): x [N, 1, 8, 8] → 4×4 tokens.
inline Enc make_encoder() { return Enc(Conv2d<float>(1, 4, 3, 2, 1), LeakyReLU<float>(0.2), Conv2d<float>(4, 3, 3, 1, 1)); }
inline Dec make_decoder() {
  return Dec(Body(Upsample<float>(2), Conv2d<float>(3, 4, 3, 1, 1), LeakyReLU<float>(0.2)), Conv2d<float>(4, 1, 3, 1, 1));
}
inline Disc make_disc() {
  return Disc(Conv2d<float>(1, 4, 4, 2, 1), LeakyReLU<float>(0.2), Conv2d<float>(4, 8, 4, 1, 1, 1, 1, false),
              BatchNorm2d<float>(8), LeakyReLU<float>(0.2), Conv2d<float>(8, 1, 3, 1, 1));
}

template <class D = Disc>
struct rig {
  using model_t = VQGAN<Enc, Dec, VectorQuantizer<float>, D>;
  model_t m;
  parameter_store<float> ae, d;
  Adam<float> ae_opt, d_opt;
  explicit rig(vqgan_options o, D disc, double lr = 1e-2, std::uint64_t seed = 0)
      : m(make_encoder(), make_decoder(), VectorQuantizer<float>(6, 2), std::move(disc), 3, 2, o),
        ae_opt({.lr = lr, .beta1 = 0.5, .beta2 = 0.9}), d_opt({.lr = lr, .beta1 = 0.5, .beta2 = 0.9}) {
    generator rng(seed);
    ae.attach(m, rng);
    auto part = m.discriminator_part();
    d.attach(part, rng);
  }
  vqgan_step_stats step(const tensor<float>& x, std::int64_t i) { return m.train_step(x, i, ae, ae_opt, d, d_opt); }
};

// Smooth test images in [-1, 1]: a bright square at a position that depends on the image.
inline tensor<float> blobs(std::int64_t n) {
  tensor<float> x({n, 1, 8, 8}, -1.0f);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t y = 0; y < 3; ++y)
      for (std::int64_t c = 0; c < 3; ++c) x[((i * 8) + (i % 5) + y) * 8 + (i * 3) % 5 + c] = 1.0f;
  return x;
}

// An optimizer that records the gradients it stepped with (the Optimizer concept, forwarded to `inner`).
template <class Inner>
struct spy_optimizer {
  Inner inner;
  std::vector<float> seen;
  void step(parameter_store<float>& s) {
    seen.assign(s.grads(), s.grads() + s.trainable_size());
    inner.step(s);
  }
  void prepare(const parameter_store<float>& s) { inner.prepare(s); }
  void set_lr(double lr) { inner.set_lr(lr); }
  double lr() const { return inner.lr(); }
  std::int64_t step_count() const { return inner.step_count(); }
  void set_step_count(std::int64_t n) { inner.set_step_count(n); }
  template <class V>
  void visit_state(V&& v) {
    inner.visit_state(v);
  }
};

}  // namespace vqgan_test
