// Swapping a VQGAN's GAN loss and perceptual net at compile time: the same encoder, decoder, quantizer and
// discriminator trained with (HingeLoss, LPIPS) and with (NonSaturatingLoss, the library's classifier features).
// The perceptual nets load real weights when given — `--lpips FILE` (tools/convert_lpips.py) and `--classifier RUN`
// (a `vae train --model classifier` run) — and otherwise keep seeded random weights, which shows the slot, not LPIPS's
// quality. Fashion-MNIST padded to 32×32 in [−1, 1]; `--tiny`: 64 images, 2 steps of 4 images each, narrower nets.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vae/vae.hpp>

namespace {

// [N, 1, 28, 28] intensities → [N, 1, 32, 32] in [−1, 1], the border at −1 (intensity 0).
vae::tensor<float> padded_signed(const vae::tensor<float>& x) {
  const std::int64_t n = x.dim(0);
  vae::tensor<float> y(vae::shape{n, 1, 32, 32}, -1.f);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t r = 0; r < 28; ++r)
      for (std::int64_t c = 0; c < 28; ++c) y.data()[(i * 32 + r + 2) * 32 + c + 2] = 2 * x.data()[(i * 28 + r) * 28 + c] - 1;
  return y;
}

// Trains one VQGAN<..., GanLoss, Perceptual> for `steps` steps and prints its terms.
template <class GanLoss, class Perceptual>
void train(const char* label, Perceptual perceptual, const vae::tensor<float>& images, int steps, bool tiny) {
  // taming's blocks at a small size (`--tiny`: 16 channels in GroupNorms of 8 groups, to run in a second or two).
  vae::vqgan_encoder_options enc;
  enc.ch = tiny ? 16 : 32, enc.ch_mult = {1, 2}, enc.num_res_blocks = 1, enc.attn_resolutions = {}, enc.in_channels = 1;
  enc.resolution = 32, enc.z_channels = 16, enc.norm_groups = tiny ? 8 : 32;
  vae::vqgan_decoder_options dec;
  dec.ch = enc.ch, dec.out_channels = 1, dec.ch_mult = {1, 2}, dec.num_res_blocks = 1, dec.attn_resolutions = {};
  dec.resolution = 32, dec.z_channels = 16, dec.norm_groups = enc.norm_groups;
  vae::vqgan_options o;
  o.disc_start = vae::disc_start_schedule::at_step(steps / 2);  // the discriminator counts from half-way
  o.perceptual_weight = 1.0;

  // The only line that differs between the two runs: the GanLoss and Perceptual policies.
  using Model = vae::VQGAN<vae::VQGANEncoder<float>, vae::VQGANDecoder<float>, vae::VectorQuantizer<float>,
                           vae::PatchDiscriminator<float>, GanLoss, Perceptual>;
  Model model(vae::VQGANEncoder<float>(enc), vae::VQGANDecoder<float>(dec), vae::VectorQuantizer<float>(64, 16),
              vae::PatchDiscriminator<float>({.in_channels = 1, .ndf = 16, .n_layers = 2}), 16, 16, o, GanLoss{},
              std::move(perceptual));
  vae::generator rng(0);
  vae::parameter_store<float> ae, d;
  ae.attach(model, rng);
  auto part = model.discriminator_part();
  d.attach(part, rng);
  vae::Adam<float> ae_opt({.lr = 2e-4, .beta1 = 0.5, .beta2 = 0.9}), d_opt({.lr = 2e-4, .beta1 = 0.5, .beta2 = 0.9});

  vae::data::batch_sampler sampler(images.dim(0), tiny ? 4 : 16, /*seed=*/1, /*drop_last=*/true);
  std::vector<std::int64_t> idx;
  vae::tensor<float> batch;
  for (int step = 0; step < steps; ++step) {
    if (!sampler.next(idx)) {
      sampler.new_epoch();
      sampler.next(idx);
    }
    vae::data::gather(images, idx, batch);
    const auto s = model.train_step(batch, step, ae, ae_opt, d, d_opt);
    if (step == 0 || step + 1 == steps || step + 1 == steps / 2)
      std::printf("%s step %3d: rec L1 %.4f  perceptual %.4f  g_loss %+.4f  d_loss %.4f  lambda %.3g\n", label, step,
                  s.rec_l1, s.perceptual, s.g_loss, s.d_loss, s.d_weight);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool tiny = false;
  std::string lpips_file, classifier_run;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--tiny") tiny = true;
    else if (a == "--lpips" && i + 1 < argc) lpips_file = argv[++i];
    else if (a == "--classifier" && i + 1 < argc) classifier_run = argv[++i];
  }
  const auto data = vae::data::load_dataset("fashion-mnist", {.limit = tiny ? 64 : 2048});
  const auto images = padded_signed(data.train_images);
  const int steps = tiny ? 2 : 200;  // the discriminator from step steps / 2

  // (1) HingeLoss + LPIPS: VGG16 at full width with converted weights, else a narrow VGG with random weights.
  const std::int64_t divisor = !lpips_file.empty() ? 1 : tiny ? 16 : 8;
  vae::FeaturePerceptualLoss<vae::LPIPS<float>> lpips(vae::LPIPS<float>({.width_divisor = divisor}));
  if (!lpips_file.empty()) vae::load_lpips_weights(lpips_file, lpips.weights());
  if (lpips_file.empty()) std::printf("perceptual net 1: LPIPS (width/%lld, random weights)\n", static_cast<long long>(divisor));
  else std::printf("perceptual net 1: LPIPS (%s)\n", lpips_file.c_str());
  train<vae::HingeLoss<float>>("hinge + LPIPS          ", std::move(lpips), images, steps, tiny);

  // (2) NonSaturatingLoss + the classifier's convolutions (trained on 28×28 [0, 1] images; they take any size).
  vae::classifier_features_options co;
  co.base_width = tiny ? 8 : 16;
  if (!classifier_run.empty()) co = vae::classifier_features_options_of(classifier_run);
  vae::FeaturePerceptualLoss<vae::ClassifierFeatures<float>> features{vae::ClassifierFeatures<float>(co)};
  if (!classifier_run.empty()) vae::load_classifier_features(classifier_run, features.weights());
  std::printf("perceptual net 2: classifier features (%s)\n",
              classifier_run.empty() ? "random weights" : classifier_run.c_str());
  train<vae::NonSaturatingLoss<float>>("non-saturating + class.", std::move(features), images, steps, tiny);
}
