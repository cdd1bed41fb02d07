// runner: one type-erased face for every CLI model on every backend, so train/eval/sample share one loop; each kind
// of model has its runner beside it (ae_runner.hpp, vae_runner.hpp, vq_runner.hpp, ...). Batches and results cross the
// interface as host tensors; the parameters, gradients and Adam's state live where the model runs (runner_on<B>), and
// checkpoints go through host safetensors files on every backend.
#pragma once
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/dist/communicator.hpp"
#include "vae/dist/gradient_sync.hpp"
#include "vae/quantizers/quantizer.hpp"
#include "vae/train/adam.hpp"
#include "vae/train/checkpoint.hpp"
#include "vae/train/grad_clip.hpp"

namespace vae::cli {

// The per-image data shape [C, H, W] the run was configured with.
struct image_shape {
  std::int64_t c = 1, h = 28, w = 28;
  std::int64_t pixels() const { return c * h * w; }
};

struct eval_request {
  std::int64_t limit = 0;     // evaluate the first `limit` test images (0 = all)
  std::int64_t iwae_k = 0;    // > 0: importance-sampled log p(x) with K samples (VAE only)
  std::int64_t iwae_n = 1000; //   on the first iwae_n test images
  std::int64_t batch = 500;   // images per forward (batch_for: fewer for larger images)
  bool check_tokens = false;  // vq: decode(encode(x)) must equal reconstruct(x) bit for bit on the evaluated images
  const std::vector<std::int32_t>* labels = nullptr;  // the test labels, for models that need them (classifier)

  // The evaluation batch for images of shape `s`: the pixels of 500 Fashion-MNIST images (500 of 28×28, 31 of
  // 3×64×64, 1 of 3×256×256). Every layer keeps its activation buffers at the largest batch it has seen, so an
  // evaluation batch of 500 large images would stay in a training process's memory for the rest of the run.
  static std::int64_t batch_for(const image_shape& s) {
    constexpr std::int64_t budget = 500 * 28 * 28;
    return std::max<std::int64_t>(1, budget / std::max<std::int64_t>(1, s.pixels()));
  }
};

using metadata = std::map<std::string, std::string>;

class runner {
 public:
  virtual ~runner() = default;
  virtual std::string family() const = 0;  // "ae", "vae" or "vq"
  virtual std::string device() const = 0;  // the backend the model runs on: "cpu" or "cuda"

  // The parameters and the optimizer, wherever they live.
  virtual std::int64_t trainable_size() const = 0;
  virtual void zero_grad() = 0;
  virtual void set_optimizer(const adam_options& o) = 0;
  // The learning rate of the next optimizer steps (a schedule sets it before each step).
  virtual void set_learning_rate(double lr) = 0;
  // Adam's step over the accumulated gradients, which it leaves zeroed.
  virtual void optimizer_step() = 0;
  // The first parameter whose gradient is NaN or ±inf (for the report when training stops).
  virtual std::optional<std::string> first_nonfinite_grad() = 0;
  // Checkpoints: the same host files whatever the backend (a run trained on cuda loads on cpu and back).
  virtual void save_parameters(const std::filesystem::path& file, const metadata& meta) = 0;
  virtual void load_parameters(const std::filesystem::path& file) = 0;
  virtual void save_optimizer_state(const std::filesystem::path& file, const metadata& meta) = 0;
  virtual metadata load_optimizer_state(const std::filesystem::path& file) = 0;

  virtual void set_training(bool training) = 0;
  // Supervised models (the classifier) read the labels of the next train_step's batch from set_labels.
  virtual bool needs_labels() const { return false; }
  virtual void set_labels(std::span<const std::int32_t>) {}
  // Forward + backward of one host batch [N, C, H, W] (grads ADDED; the caller zeroes and steps). Returns the loss.
  virtual double train_step(tensor<float>& x, generator& rng, std::int64_t step) = 0;
  // A short description of the last training loss's parts, for the NaN report.
  virtual std::string last_loss_parts() const { return {}; }
  virtual nlohmann::json evaluate(const tensor<float>& test, generator& rng, const eval_request& req) = 0;
  // The evaluation forward pass on one batch (VAE: per-image ELBO; others: reconstruction), for throughput.
  virtual void eval_batch(tensor<float>& x, generator& rng) {
    (void)rng;
    reconstruct(x, scratch_);
  }
  // Whether reconstruct() works (every image model but the classifier).
  virtual bool reconstructs() const { return true; }
  // Pixels in [0, 1], [N, C, H, W].
  virtual void reconstruct(tensor<float>& x, tensor<float>& out) = 0;
  virtual bool generative() const { return false; }
  virtual void sample(std::int64_t, generator&, tensor<float>&) {
    vae::detail::throw_error(cat("'", family(), "' models cannot sample: train a VAE (mlp-vae, conv-vae)"));
  }
  // Decodes `steps` latents on the line between the codes of images a and b (x holds [2, C, H, W]).
  virtual void interpolate(tensor<float>&, std::int64_t, tensor<float>&) {
    vae::detail::throw_error(cat("'", family(), "' models cannot interpolate: train a VAE"));
  }
  virtual bool has_tokens() const { return false; }
  virtual void encode_tokens(tensor<float>&, tensor<std::int32_t>&) {
    vae::detail::throw_error(cat("'", family(), "' models have no tokens: train a vq-vae"));
  }
  virtual void decode_tokens(const tensor<std::int32_t>&, tensor<float>&) {
    vae::detail::throw_error(cat("'", family(), "' models have no tokens: train a vq-vae"));
  }
  // Data-parallel training: state that training forwards update outside the gradients (EMA codebooks, k-means,
  // dead-code restarts, Gumbel noise) follows the global batch through `comm` (tools/cli/distributed.hpp).
  virtual void set_communicator(dist::collective* comm) { (void)comm; }
  // Data-parallel training: where the model declares gradients final during its backward (their allreduce then
  // overlaps the rest of it); models without that hook are averaged after the step (cli::distributed).
  virtual void set_gradient_sync(dist::gradient_sync<float>* sync) { (void)sync; }
  // Whether train_step averages its gradients over ranks itself, before its own optimizer steps (vqgan); the
  // trainer then leaves them alone.
  virtual bool averages_own_gradients() const { return false; }
  // Host parameter stores besides runner_on::store() that every rank must hold identically (vqgan's
  // discriminator): broadcast at start, compared at each checkpoint.
  virtual std::vector<parameter_store<float, cpu>*> other_host_stores() { return {}; }
  // Statistics gathered over an epoch of training steps (codebook usage); reset at each epoch start.
  virtual void reset_epoch_stats() {}
  virtual nlohmann::json epoch_stats() { return nlohmann::json::object(); }

 protected:
  tensor<float> scratch_;
};

// A runner whose parameters live on backend B: the store, Adam, and the checkpoint calls (which download from and
// upload to B's memory). store() is there for programs that drive the optimizer themselves (vae_bench).
template <class B>
class runner_on : public runner {
 public:
  std::string device() const override { return B::name; }
  parameter_store<float, B>& store() { return store_; }

  std::int64_t trainable_size() const override { return store_.trainable_size(); }
  void zero_grad() override { store_.zero_grad(); }
  void set_optimizer(const adam_options& o) override { opt_ = std::make_unique<Adam<float, B>>(o); }
  void set_learning_rate(double lr) override { optimizer().set_lr(lr); }
  void optimizer_step() override { optimizer().step_and_zero_grad(store_); }
  std::optional<std::string> first_nonfinite_grad() override { return vae::first_nonfinite_grad(store_); }
  void save_parameters(const std::filesystem::path& file, const metadata& meta) override {
    vae::save_parameters(file, store_, meta);
  }
  void load_parameters(const std::filesystem::path& file) override { vae::load_parameters(file, store_); }
  void save_optimizer_state(const std::filesystem::path& file, const metadata& meta) override {
    vae::save_optimizer_state(file, optimizer(), store_, meta);
  }
  metadata load_optimizer_state(const std::filesystem::path& file) override {
    return vae::load_optimizer_state(file, optimizer(), store_);
  }

 protected:
  // Evaluation freezes a host store for inference (each Linear forward then reads its weight's transposed copy in
  // place); training thaws it (as does any write through the store: optimizer steps, loading).
  void freeze_for_evaluation(bool training) {
    if constexpr (HostBackend<B>) {
      if (training) store_.thaw();
      else store_.freeze_for_inference();
    }
  }
  Adam<float, B>& optimizer() {
    check(opt_ != nullptr, "runner: set_optimizer must be called before the optimizer is used");
    return *opt_;
  }
  parameter_store<float, B> store_;
  std::unique_ptr<Adam<float, B>> opt_;
};

namespace detail {

// Shapes a batch for the model: MLP models take [N, C·H·W], convolutional ones [N, C, H, W].
inline void shape_input(tensor<float>& x, bool flat, const image_shape& s) {
  const auto n = x.dim(0);
  x.reshape(flat ? shape{n, s.pixels()} : shape{n, s.c, s.h, s.w});
}
template <class T, class B>
void shape_images(tensor<T, B>& x, const image_shape& s) { x.reshape(shape{x.dim(0), s.c, s.h, s.w}); }

// Copies rows [begin, end) of an [N, C, H, W] tensor.
inline void slice_rows(const tensor<float>& src, std::int64_t begin, std::int64_t end, tensor<float>& dst) {
  shape s = src.shape();
  const std::int64_t row = src.numel() / src.dim(0);
  s[0] = end - begin;
  dst.resize(s);
  const float* from = src.data() + begin * row;
  float* to = dst.data();
  parallel_for(end - begin, (end - begin) * row, [&](std::int64_t r) {  // on the pool, as data::gather
    std::copy(from + r * row, from + (r + 1) * row, to + r * row);
  });
}

inline double squared_error(const tensor<float>& a, const tensor<float>& b) {
  double se = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double d = static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i]);
    se += d * d;
  }
  return se;
}

// The model's view of a host tensor: the tensor itself on a host backend, a copy in `staging` (uploaded) elsewhere.
template <class B, class T>
const tensor<T, B>& to_model(const tensor<T>& x, tensor<T, B>& staging) {
  if constexpr (HostBackend<B>) {
    return x;
  } else {
    staging.resize(x.shape());
    B::copy_from_host(staging.data(), x.data(), static_cast<std::size_t>(x.numel()));
    return staging;
  }
}
// A host copy of a model tensor (downloaded from a device backend).
template <class B, class T>
void to_host(const tensor<T, B>& y, tensor<T>& out) {
  out.resize(y.shape());
  B::copy_to_host(out.data(), y.data(), static_cast<std::size_t>(y.numel()));
}

// A quantizer's state outside the gradients (EMA statistics, k-means, restarts, Gumbel noise) follows the global
// batch through `comm`; FSQ has none.
template <class Q>
void set_quantizer_communicator(Q& q, dist::collective* comm) {
  if constexpr (requires { q.set_communicator(comm); }) q.set_communicator(comm);
  else if constexpr (requires { q.level(0).set_communicator(comm); }) {
    for (std::int64_t i = 0; i < q.levels(); ++i) q.level(i).set_communicator(comm);
  } else if constexpr (requires { q.set_share(0, 1); }) {
    q.set_share(comm ? comm->rank() : 0, comm ? comm->size() : 1);
  }
}

// Hands the data-parallel gradient sync to a host model that declares its gradients final during its backward.
template <class Model>
void set_gradient_sync(Model& m, dist::gradient_sync<float>* sync) {
  if constexpr (HostBackend<typename Model::backend> && requires { m.set_gradient_sync(sync); }) m.set_gradient_sync(sync);
}

// A VQ model's codebook statistics as the metrics name them, under `prefix` ("train_" or "").
inline nlohmann::json codebook_json(const codebook_stats& s, const std::string& prefix) {
  return {{prefix + "perplexity", s.perplexity()},
          {prefix + "codebook_usage", s.fraction_used()},
          {prefix + "codes_used", s.codes_used()},
          {prefix + "codebook_size", s.codebook_size()},
          {prefix + "dead_code_restarts", s.restarts()}};
}

// Whether decoding the tokens of the first n test images reproduces their reconstructions bit for bit (vae eval's
// token_roundtrip_exact), through the runner's own reconstruct / encode_tokens / decode_tokens.
inline bool tokens_reproduce_reconstructions(runner& r, const tensor<float>& test, std::int64_t n, std::int64_t batch) {
  tensor<std::int32_t> tokens;
  tensor<float> x, decoded, rec;
  for (std::int64_t b = 0; b < n; b += batch) {
    slice_rows(test, b, std::min(n, b + batch), x);
    r.reconstruct(x, rec);
    r.encode_tokens(x, tokens);
    r.decode_tokens(tokens, decoded);
    if (decoded.shape() != rec.shape() || !std::equal(rec.begin(), rec.end(), decoded.begin())) return false;
  }
  return true;
}

}  // namespace detail

}  // namespace vae::cli
