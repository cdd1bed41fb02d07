// vq_runner: the CLI runner of the VQ-VAE presets (MSE + quantizer loss, codebook health, tokens), on any backend.
#pragma once
#include "cli/runner.hpp"

namespace vae::cli {

// VQ-VAEs: MSE + quantizer loss; codebook health; tokens. Written for any backend (tokens cross as host int32
// tensors); instantiated on cpu, and on cuda once VQVAE runs there (tools/cli/device_runner.cu).
template <class Model>
class vq_runner final : public runner_on<typename Model::backend> {
  using B = typename Model::backend;
  using base = runner_on<B>;

 public:
  vq_runner(Model model, image_shape s, generator& init) : model_(std::move(model)), shape_(s) {
    base::store_.attach(model_, init);
  }
  std::string family() const override { return "vq"; }
  void set_training(bool t) override {
    model_.set_training(t);
    this->freeze_for_evaluation(t);
  }
  void set_gradient_sync(dist::gradient_sync<float>* sync) override { detail::set_gradient_sync(model_, sync); }
  double train_step(tensor<float>& x, generator&, std::int64_t step) override {
    detail::shape_images(x, shape_);
    return model_.train_step_loss(detail::to_model(x, xd_), step);
  }
  std::string last_loss_parts() const override {
    return cat("reconstruction ", model_.last_reconstruction_loss(), ", quantizer ", model_.last_quantizer_loss());
  }
  void set_communicator(dist::collective* comm) override { detail::set_quantizer_communicator(model_.quantizer(), comm); }
  void reset_epoch_stats() override { model_.stats().reset(); }
  nlohmann::json epoch_stats() override { return detail::codebook_json(model_.stats(), "train_"); }
  nlohmann::json evaluate(const tensor<float>& test, generator&, const eval_request& req) override {
    const std::int64_t n = req.limit > 0 ? std::min(req.limit, test.dim(0)) : test.dim(0);
    model_.stats().reset();
    double se = 0;
    for (std::int64_t b = 0; b < n; b += req.batch) {
      detail::slice_rows(test, b, std::min(n, b + req.batch), x_);
      reconstruct(x_, out_);
      se += detail::squared_error(out_, x_);
    }
    nlohmann::json j = detail::codebook_json(model_.stats(), "");
    if (req.check_tokens) j["token_roundtrip_exact"] = detail::tokens_reproduce_reconstructions(*this, test, n, req.batch);
    const double mse = se / static_cast<double>(n * shape_.pixels());
    j["test_mse"] = mse;
    j["test_loss"] = mse;
    j["n"] = n;
    model_.stats().reset();
    return j;
  }
  void reconstruct(tensor<float>& x, tensor<float>& out) override {
    detail::shape_images(x, shape_);
    if constexpr (HostBackend<B>) {
      model_.reconstruct(x, out);
    } else {
      model_.reconstruct(detail::to_model(x, xd_), yd_);
      detail::to_host(yd_, out);
    }
  }
  bool has_tokens() const override { return true; }
  void encode_tokens(tensor<float>& x, tensor<std::int32_t>& tokens) override {
    detail::shape_images(x, shape_);
    if constexpr (HostBackend<B>) {
      model_.encode_tokens(x, tokens);
    } else {
      model_.encode_tokens(detail::to_model(x, xd_), tokens_d_);
      detail::to_host(tokens_d_, tokens);
    }
  }
  void decode_tokens(const tensor<std::int32_t>& tokens, tensor<float>& out) override {
    if constexpr (HostBackend<B>) {
      model_.decode_tokens(tokens, out);
    } else {
      model_.decode_tokens(detail::to_model(tokens, tokens_d_), yd_);
      detail::to_host(yd_, out);
    }
  }

 private:
  Model model_;
  image_shape shape_;
  tensor<float> x_, out_;
  tensor<float, B> xd_, yd_;              // device staging (unused on the host)
  tensor<std::int32_t, B> tokens_d_;
};

}  // namespace vae::cli
