// ae_runner: the CLI runner of the autoencoder presets (reconstruction loss only), on any backend.
#pragma once
#include "cli/runner.hpp"

namespace vae::cli {

// Autoencoders: reconstruction loss only.
template <class Model>
class ae_runner final : public runner_on<typename Model::backend> {
  using B = typename Model::backend;
  using base = runner_on<B>;

 public:
  ae_runner(Model model, bool flat, image_shape s, generator& init) : model_(std::move(model)), flat_(flat), shape_(s) {
    base::store_.attach(model_, init);
  }
  std::string family() const override { return "ae"; }
  void set_training(bool t) override {
    model_.set_training(t);
    this->freeze_for_evaluation(t);
  }
  void set_gradient_sync(dist::gradient_sync<float>* sync) override { detail::set_gradient_sync(model_, sync); }
  double train_step(tensor<float>& x, generator&, std::int64_t) override {
    detail::shape_input(x, flat_, shape_);
    return model_.train_step_loss(detail::to_model(x, xd_));
  }
  nlohmann::json evaluate(const tensor<float>& test, generator&, const eval_request& req) override {
    const std::int64_t n = req.limit > 0 ? std::min(req.limit, test.dim(0)) : test.dim(0);
    double se = 0;
    for (std::int64_t b = 0; b < n; b += req.batch) {
      detail::slice_rows(test, b, std::min(n, b + req.batch), x_);
      reconstruct(x_, out_);
      detail::shape_images(x_, shape_);
      se += detail::squared_error(out_, x_);
    }
    const double mse = se / static_cast<double>(n * shape_.pixels());
    return {{"test_loss", mse}, {"test_mse", mse}, {"n", n}};
  }
  void reconstruct(tensor<float>& x, tensor<float>& out) override {
    detail::shape_input(x, flat_, shape_);
    if constexpr (HostBackend<B>) {
      model_.reconstruct(x, out);
    } else {
      model_.reconstruct(detail::to_model(x, xd_), yd_);
      detail::to_host(yd_, out);
    }
    detail::shape_images(out, shape_);
  }

 private:
  Model model_;
  bool flat_;
  image_shape shape_;
  tensor<float> x_, out_;
  tensor<float, B> xd_, yd_;  // device staging (unused on the host)
};

}  // namespace vae::cli
