// vqgan_runner: the CLI's face of a VQGAN — images padded and scaled to [-1, 1] as vqgan.py, both optimizers stepped
// inside train_step, the discriminator's weights and Adam state in their own checkpoint files beside the AE's.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/distributed.hpp"
#include "cli/runner.hpp"
#include "vae/dist/gradient_reducer.hpp"
#include "vae/models/vqgan.hpp"
#include "vae/train/adam.hpp"
#include "vae/train/checkpoint.hpp"

namespace vae::cli {

// The discriminator's checkpoint files, beside model.safetensors / optimizer.safetensors.
inline constexpr const char* discriminator_file = "discriminator.safetensors";
inline constexpr const char* discriminator_optimizer_file = "discriminator_optimizer.safetensors";

namespace detail {
// [N, C, h, w] intensities in [0, 1] → [N, C, side, side] in [-1, 1], the image centred and the border intensity 0
// (the background: −1 after scaling), as vqgan.py's to_img.
inline void pad_to_model(const tensor<float>& x, std::int64_t side, tensor<float>& out) {
  const std::int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  const std::int64_t top = (side - h) / 2, left = (side - w) / 2;
  out.resize({n, c, side, side});
  out.fill(-1.0f);
  for (std::int64_t p = 0; p < n * c; ++p)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t xx = 0; xx < w; ++xx)
        out.data()[(p * side + top + y) * side + left + xx] = 2.0f * x.data()[(p * h + y) * w + xx] - 1.0f;
}
// The inverse for pictures: the centre h×w of [N, C, side, side] in [-1, 1], back to [0, 1] (not clamped).
inline void crop_from_model(const tensor<float>& y, std::int64_t h, std::int64_t w, tensor<float>& out) {
  const std::int64_t n = y.dim(0), c = y.dim(1), side = y.dim(2);
  const std::int64_t top = (side - h) / 2, left = (side - w) / 2;
  out.resize({n, c, h, w});
  for (std::int64_t p = 0; p < n * c; ++p)
    for (std::int64_t yy = 0; yy < h; ++yy)
      for (std::int64_t xx = 0; xx < w; ++xx)
        out.data()[(p * h + yy) * w + xx] = 0.5f * (y.data()[(p * side + top + yy) * side + left + xx] + 1.0f);
}
}  // namespace detail

// The side a vqgan preset pads images to: the next power of two (28 → 32, as vqgan.py).
inline std::int64_t vqgan_padded_side(const image_shape& s) {
  std::int64_t side = 1;
  while (side < std::max(s.h, s.w)) side *= 2;
  return side;
}

template <class Model>
class vqgan_runner final : public runner_on<typename Model::backend> {
  using B = typename Model::backend;
  using base = runner_on<B>;

 public:
  vqgan_runner(Model model, image_shape s, generator& init)
      : model_(std::move(model)), shape_(s), side_(vqgan_padded_side(s)) {
    base::store_.attach(model_, init);
    auto part = model_.discriminator_part();
    d_store_.attach(part, init);
  }
  std::string family() const override { return "vqgan"; }
  void set_training(bool t) override {
    model_.set_training(t);
    this->freeze_for_evaluation(t);
  }
  // Both optimizers with taming's betas (0.5, 0.9) and the run's learning rate.
  void set_optimizer(const adam_options& o) override {
    adam_options a = o;
    a.beta1 = 0.5;
    a.beta2 = 0.9;
    base::opt_ = std::make_unique<Adam<float, B>>(a);
    d_opt_ = std::make_unique<Adam<float, B>>(a);
  }
  // Both optimizers follow the schedule (taming trains both at one rate).
  void set_learning_rate(double lr) override {
    base::optimizer().set_lr(lr);
    d_optimizer().set_lr(lr);
  }
  void zero_grad() override {
    base::store_.zero_grad();
    d_store_.zero_grad();
  }
  // The model took both optimizer steps inside train_step (taming's order needs the AE step before the D step).
  void optimizer_step() override {}
  double train_step(tensor<float>& x, generator&, std::int64_t step) override {
    detail::shape_images(x, shape_);
    detail::pad_to_model(x, side_, padded_);
    const auto s = model_.train_step(detail::to_model(padded_, xd_), step, base::store_, base::optimizer(), d_store_,
                                     d_optimizer());
    last_ = s;
    sums_["rec_l1"] += s.rec_l1;
    sums_["rec_l2"] += s.rec_l2;
    sums_["perceptual"] += s.perceptual;
    sums_["quantizer_loss"] += s.quantizer_loss;
    sums_["g_loss"] += s.g_loss;
    sums_["d_loss"] += s.d_loss;
    sums_["d_weight"] += s.d_weight;
    sums_["logits_real"] += s.logits_real;
    sums_["logits_fake"] += s.logits_fake;
    ++steps_;
    return s.ae_loss;
  }
  std::string last_loss_parts() const override {
    return cat("rec ", last_.nll, ", quantizer ", last_.quantizer_loss, ", g_loss ", last_.g_loss, ", d_weight ",
               last_.d_weight, ", d_loss ", last_.d_loss);
  }
  // Data-parallel: the quantizer's state, the discriminator's BatchNorm statistics and, inside the model's step,
  // the adaptive weight's gradients, both stores' gradient means (the AE's overlapped with its backward) and
  // LeCam's logits follow the global batch (VQGAN::set_data_parallel).
  void set_communicator(dist::collective* comm) override {
    detail::set_quantizer_communicator(model_.quantizer(), comm);
    if (comm == nullptr || comm->size() == 1) {
      model_.set_data_parallel(nullptr, nullptr, nullptr);
      return;
    }
    if constexpr (HostBackend<B>) {
      vae::set_communicator(model_.discriminator(), comm);  // SyncBatchNorm
      dist::gradient_reducer_options o;
      o.bucket_elements = distributed::bucket_elements();
      o.overlap = distributed::overlap(*comm);
      ae_reducer_ = std::make_unique<dist::gradient_reducer>(*comm, base::store_, o);
      d_reducer_ = std::make_unique<dist::gradient_reducer>(*comm, d_store_, o);
      model_.set_data_parallel(ae_reducer_.get(), d_reducer_.get(), comm);
      comm_ = comm;
    } else {
      vae::detail::throw_error("vqgan: data-parallel training runs on the cpu only for now");
    }
  }
  bool averages_own_gradients() const override { return true; }
  std::vector<parameter_store<float, cpu>*> other_host_stores() override {
    if constexpr (HostBackend<B>) return {&d_store_};
    else return {};
  }
  void reset_epoch_stats() override {
    model_.stats().reset();
    sums_.clear();
    steps_ = 0;
  }
  // Means over the epoch's steps of every logged term, the last step's disc_factor, and the codebook's usage.
  nlohmann::json epoch_stats() override {
    nlohmann::json j = detail::codebook_json(model_.stats(), "train_");
    if (comm_ != nullptr && comm_->size() > 1) {  // each rank's means over its shares → the global batch's
      std::vector<double> v;
      for (const auto& [k, x] : sums_) v.push_back(x);
      comm_->allreduce_sum(v.data(), v.size());
      std::size_t i = 0;
      for (auto& [k, x] : sums_) x = v[i++] / comm_->size();
    }
    for (const auto& [k, v] : sums_) j["train_" + k] = steps_ > 0 ? v / static_cast<double>(steps_) : 0.0;
    j["disc_factor"] = last_.disc_factor;
    return j;
  }
  // vqgan.py's evaluate: MSE in [0, 1] units over the padded side² image (and over the original crop), L1 in [−1, 1]
  // units, the codes used and their perplexity over the evaluated images.
  nlohmann::json evaluate(const tensor<float>& test, generator&, const eval_request& req) override {
    const std::int64_t n = req.limit > 0 ? std::min(req.limit, test.dim(0)) : test.dim(0);
    model_.stats().reset();
    double se = 0, se_crop = 0, ae = 0;
    const std::int64_t top = (side_ - shape_.h) / 2, left = (side_ - shape_.w) / 2;
    for (std::int64_t b = 0; b < n; b += req.batch) {
      detail::slice_rows(test, b, std::min(n, b + req.batch), x_);
      detail::shape_images(x_, shape_);
      detail::pad_to_model(x_, side_, padded_);
      reconstruct_padded(padded_, out_);
      const std::int64_t planes = padded_.dim(0) * padded_.dim(1);
      for (std::int64_t p = 0; p < planes; ++p)
        for (std::int64_t y = 0; y < side_; ++y)
          for (std::int64_t xx = 0; xx < side_; ++xx) {
            const std::int64_t i = (p * side_ + y) * side_ + xx;
            const double d = static_cast<double>(out_.data()[i]) - static_cast<double>(padded_.data()[i]);
            se += d * d;
            ae += std::abs(d);
            if (y >= top && y < top + shape_.h && xx >= left && xx < left + shape_.w) se_crop += d * d;
          }
    }
    nlohmann::json j = detail::codebook_json(model_.stats(), "");
    const double padded_pixels = static_cast<double>(n * shape_.c * side_ * side_);
    const double mse01 = se / padded_pixels / 4;  // [−1, 1] → [0, 1] units
    j["test_mse01_per_pixel"] = mse01;
    j["test_mse01_per_pixel_crop"] = se_crop / static_cast<double>(n * shape_.pixels()) / 4;
    j["test_l1_pm1_per_pixel"] = ae / padded_pixels;
    j["test_mse"] = mse01;
    j["test_loss"] = mse01;
    if (req.check_tokens) j["token_roundtrip_exact"] = detail::tokens_reproduce_reconstructions(*this, test, n, req.batch);
    j["n"] = n;
    model_.stats().reset();
    return j;
  }
  // Pixels in [0, 1] at the data's size (the centre of the padded reconstruction).
  void reconstruct(tensor<float>& x, tensor<float>& out) override {
    detail::shape_images(x, shape_);
    detail::pad_to_model(x, side_, padded_);
    reconstruct_padded(padded_, y_);
    detail::crop_from_model(y_, shape_.h, shape_.w, out);
  }
  bool has_tokens() const override { return true; }
  void encode_tokens(tensor<float>& x, tensor<std::int32_t>& tokens) override {
    detail::shape_images(x, shape_);
    detail::pad_to_model(x, side_, padded_);
    if constexpr (HostBackend<B>) {
      model_.encode_tokens(padded_, tokens);
    } else {
      model_.encode_tokens(detail::to_model(padded_, xd_), tokens_d_);
      detail::to_host(tokens_d_, tokens);
    }
  }
  void decode_tokens(const tensor<std::int32_t>& tokens, tensor<float>& out) override {
    if constexpr (HostBackend<B>) {
      model_.decode_tokens(tokens, y_);
    } else {
      model_.decode_tokens(detail::to_model(tokens, tokens_d_), yd_);
      detail::to_host(yd_, y_);
    }
    detail::crop_from_model(y_, shape_.h, shape_.w, out);
  }

  // The AE's checkpoint, then the discriminator's beside it (refused, naming the tensor, when it does not fit).
  void save_parameters(const std::filesystem::path& file, const metadata& meta) override {
    base::save_parameters(file, meta);
    vae::save_parameters(file.parent_path() / discriminator_file, d_store_, meta);
  }
  void load_parameters(const std::filesystem::path& file) override {
    base::load_parameters(file);
    const auto d = file.parent_path() / discriminator_file;
    check(std::filesystem::exists(d), [&] {
      return cat("'", d.string(), "' is missing: a vqgan run keeps its discriminator there beside ", file.string());
    });
    vae::load_parameters(d, d_store_);
  }
  void save_optimizer_state(const std::filesystem::path& file, const metadata& meta) override {
    base::save_optimizer_state(file, meta);
    vae::save_optimizer_state(file.parent_path() / discriminator_optimizer_file, d_optimizer(), d_store_, meta);
  }
  metadata load_optimizer_state(const std::filesystem::path& file) override {
    auto meta = base::load_optimizer_state(file);
    vae::load_optimizer_state(file.parent_path() / discriminator_optimizer_file, d_optimizer(), d_store_);
    return meta;
  }

  Model& model() { return model_; }
  parameter_store<float, B>& discriminator_store() { return d_store_; }

 private:
  // x̂ in [−1, 1] of a padded host batch, in host memory.
  void reconstruct_padded(const tensor<float>& x, tensor<float>& out) {
    if constexpr (HostBackend<B>) {
      model_.reconstruct(x, out);
    } else {
      model_.reconstruct(detail::to_model(x, xd_), yd_);
      detail::to_host(yd_, out);
    }
  }
  Adam<float, B>& d_optimizer() {
    check(d_opt_ != nullptr, "vqgan_runner: set_optimizer must be called before the optimizers are used");
    return *d_opt_;
  }

  Model model_;
  image_shape shape_;
  std::int64_t side_;
  parameter_store<float, B> d_store_;
  std::unique_ptr<dist::gradient_reducer> ae_reducer_, d_reducer_;
  dist::collective* comm_ = nullptr;
  std::unique_ptr<Adam<float, B>> d_opt_;
  vqgan_step_stats last_{};
  std::map<std::string, double> sums_;
  std::int64_t steps_ = 0;
  tensor<float> x_, out_, padded_, y_;
  tensor<float, B> xd_, yd_;
  tensor<std::int32_t, B> tokens_d_;
};

}  // namespace vae::cli
