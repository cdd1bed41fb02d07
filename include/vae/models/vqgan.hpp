// VQGAN<Encoder, Decoder, Quantizer, Discriminator, GanLoss, Perceptual>: a VQ autoencoder trained against a patch
// discriminator with taming-transformers' adaptive weight, two optimizers stepped in taming's order.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "vae/adversarial/adaptive_weight.hpp"
#include "vae/adversarial/disc_start.hpp"
#include "vae/adversarial/gan_loss.hpp"
#include "vae/adversarial/lecam.hpp"
#include "vae/adversarial/perceptual.hpp"
#include "vae/core/concepts.hpp"
#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/core/tensor.hpp"
#include "vae/decoders/adaptive_weight_decoder.hpp"
#include "vae/dist/communicator.hpp"
#include "vae/dist/gradient_sync.hpp"
#include "vae/layers/conv2d.hpp"
#include "vae/ops/axpy.hpp"
#include "vae/ops/losses.hpp"
#include "vae/quantizers/quantizer.hpp"
#include "vae/train/optimizer.hpp"

namespace vae {

// Which pixel distance is the reconstruction term (taming: L1).
enum class reconstruction_loss { l1, l2 };

struct vqgan_options {
  reconstruction_loss reconstruction = reconstruction_loss::l1;
  double perceptual_weight = 1.0;        // × the Perceptual policy's loss (ignored by NoPerceptual)
  adaptive_weight_options adaptive{};    // disc_weight 0.8, eps 1e-4, clamp [0, 1e4]
  disc_start_schedule disc_start{};      // disc_factor 0 before it (taming's adopt_weight)
  std::int64_t total_steps = 0;          // the training's length, for a disc_start given as a fraction
  bool reuse_reconstruction = false;     // D step on the AE step's x̂ instead of a fresh one by the updated AE
  lecam_options lecam{0.0, 0.99};        // LeCam regularisation of the D loss (weight 0: off)
};

// Every term of one training step, as logged.
struct vqgan_step_stats {
  std::int64_t step = 0;
  double rec_l1 = 0;          // mean |x − x̂| (taming's rec_loss without perceptual)
  double rec_l2 = 0;          // mean (x − x̂)²
  double perceptual = 0;      // the Perceptual policy's loss (0 with NoPerceptual)
  double nll = 0;             // the reconstruction term the AE minimises: rec + perceptual_weight·perceptual
  double quantizer_loss = 0;  // the quantizer's own loss (codebook + β·commitment, or β·commitment for EMA)
  double g_loss = 0;          // GanLoss::generator on D(x̂)
  double d_weight = 0;        // the adaptive λ (disc_weight included)
  double disc_factor = 0;     // 0 before disc_start
  double ae_loss = 0;         // nll + d_weight·disc_factor·g_loss + quantizer_loss
  double d_loss = 0;          // disc_factor·(L_D + LeCam)
  double lecam = 0;           // the LeCam term inside d_loss (before disc_factor)
  double logits_real = 0;     // mean D(x) in the D step
  double logits_fake = 0;     // mean D(x̂) in the D step
  double rec_grad_norm = 0;   // ‖∇_{W_L} nll‖
  double gan_grad_norm = 0;   // ‖∇_{W_L} g_loss‖
  std::int64_t codes_used = 0;      // over quantizer().stats() since its last reset
  double codebook_perplexity = 0;   // the same span
};

// A policy bundle (DESIGN §1, VQGAN row). Encoder: x [N, C, H, W] → h [N, z_channels, h, w]; quant_conv 1×1
// (z_channels → embed_dim); Quantizer on embed_dim; post_quant_conv 1×1 (embed_dim → z_channels); Decoder (an
// AdaptiveWeightDecoder: the adaptive weight reads its last layer) → x̂ with x's shape; Discriminator: a Layer
// x → logits (any shape). Parameter names follow taming's VQModel: "encoder.", "quant_conv.", "quantize.embedding."
// (the quantizer's names: "quantize.embedding.weight"), "post_quant_conv.", "decoder."; the discriminator's, in
// its own store, "loss.discriminator." (attach a store to discriminator_part()).
//
// One train_step is taming's VQModel.training_step with VQLPIPSWithDiscriminator, both optimizers:
//  (a) AE step. x̂ = decoder(post_quant_conv(quantize(quant_conv(encoder(x))))); nll = L1 (or L2) + perceptual;
//      g = GanLoss::generator(D(x̂)), whose gradient in x̂ D's backward gives. The two gradients at the decoder's
//      last weight are taken apart, each by a weight-gradient product of the last layer alone for its own output
//      gradient (∂nll/∂x̂, ∂g/∂x̂; no input gradient, nothing stored), λ = adaptive_weight(‖∇_{W_L} nll‖,
//      ‖∇_{W_L} g‖); then ONE backward of the combined output gradient ∂nll/∂x̂ + λ·disc_factor·∂g/∂x̂ runs through
//      the decoder, post_quant_conv, the quantizer (straight-through, its own loss terms at weight 1) and the
//      encoder — the gradient of the total, since every parameter gradient is linear in the output gradient.
//      D's backward here only carries the gradient to x̂: the discriminator store's gradients are cleared
//      afterwards, so D receives no gradient from this step. AE optimizer step.
//  (b) D step on x̂' = a fresh reconstruction by the updated AE (quantizer in evaluation mode for it, so an EMA
//      codebook is not updated twice and the usage statistics count the batch once; `reuse_reconstruction` takes
//      the AE step's x̂ instead), D(x) and D(x̂') run as two separate batches (BatchNorm in training mode, as taming):
//      d_loss = disc_factor·(L_D_real + L_D_fake [+ LeCam]); no AE gradient is taken. D optimizer step.
// A non-finite rec, g_loss, λ or d_loss throws vae::error naming the term and the step, before the optimizer step
// that would use it. The codebook weight is 1 (taming's default): the quantizer's loss enters at its own weights.
//
// Data-parallel (set_data_parallel): each rank runs the step on its share of the global batch. The two last-layer
// gradients behind λ are averaged over ranks before their norms (λ is then the global batch's), the AE gradients
// go to `ae` as the backward finishes each part and are averaged before the AE step, D's are averaged before the D
// step, and LeCam's running logits follow the mean over ranks; a discriminator with BatchNorm needs its statistics
// synchronised too (vae::set_communicator on it, the caller's part).
template <Layer Encoder, AdaptiveWeightDecoder Decoder, Quantizer Q, Layer Discriminator,
          class G = HingeLoss<typename Encoder::value_type, typename Encoder::backend>, class P = NoPerceptual>
  requires std::same_as<typename Decoder::value_type, typename Encoder::value_type> &&
           std::same_as<typename Q::value_type, typename Encoder::value_type> &&
           std::same_as<typename Discriminator::value_type, typename Encoder::value_type> &&
           GanLoss<G> && std::same_as<typename G::value_type, typename Encoder::value_type> &&
           PerceptualLoss<P, typename Encoder::value_type, typename Encoder::backend>
class VQGAN {
 public:
  using value_type = typename Encoder::value_type;
  using backend = typename Encoder::backend;
  using T = value_type;
  using B = backend;
  using tensor_type = tensor<T, B>;

  VQGAN(Encoder encoder, Decoder decoder, Q quantizer, Discriminator discriminator, std::int64_t z_channels,
        std::int64_t embed_dim, vqgan_options options = {}, G gan = G{}, P perceptual = P{})
      : enc_(std::move(encoder)), quant_conv_(z_channels, embed_dim, 1), q_(std::move(quantizer)),
        post_quant_conv_(embed_dim, z_channels, 1), dec_(std::move(decoder)), disc_(std::move(discriminator)),
        gan_(std::move(gan)), perc_(std::move(perceptual)), o_(options), lecam_(options.lecam) {}

  // The autoencoder's parameters (one store, the AE optimizer's).
  template <class Visitor>
  void visit_parameters(const std::string& prefix, Visitor&& visit) {
    enc_.visit_parameters(prefix + "encoder.", visit);
    quant_conv_.visit_parameters(prefix + "quant_conv.", visit);
    q_.visit_parameters(prefix + "quantize.embedding.", visit);
    post_quant_conv_.visit_parameters(prefix + "post_quant_conv.", visit);
    dec_.visit_parameters(prefix + "decoder.", visit);
  }
  // The discriminator's parameters, for a second store: d_store.attach(model.discriminator_part(), rng).
  struct discriminator_part_t {
    VQGAN* model;
    template <class Visitor>
    void visit_parameters(const std::string& prefix, Visitor&& visit) {
      model->disc_.visit_parameters(prefix + "loss.discriminator.", visit);
    }
  };
  discriminator_part_t discriminator_part() { return {this}; }

  void set_training(bool training) {
    vae::set_training(enc_, training);
    q_.set_training(training);
    vae::set_training(dec_, training);
    vae::set_training(disc_, training);
  }

  // Data-parallel training (above): `ae` and `d` average the stores attached to *this and discriminator_part();
  // `comm` carries the means of the step's small values. All null (the default): one process.
  void set_data_parallel(dist::gradient_sync<T>* ae, dist::gradient_sync<T>* d, dist::collective* comm) {
    check((ae == nullptr) == (d == nullptr) && (ae == nullptr) == (comm == nullptr),
          "VQGAN::set_data_parallel: give both gradient syncs and the communicator, or none");
    ae_sync_ = ae, d_sync_ = d, comm_ = comm;
  }

  // One step (a) + (b) above. The stores are those attached to *this and discriminator_part(); their gradients are
  // cleared here (they need not be zero on entry) and left cleared.
  template <class AeOptimizer, class DOptimizer>
    requires Optimizer<AeOptimizer, T, B> && Optimizer<DOptimizer, T, B>
  vqgan_step_stats train_step(const tensor_type& x, std::int64_t step, parameter_store<T, B>& ae_store,
                              AeOptimizer& ae_opt, parameter_store<T, B>& d_store, DOptimizer& d_opt) {
    vqgan_step_stats s;
    s.step = step;
    s.disc_factor = o_.disc_start.disc_factor(step, o_.total_steps);
    if constexpr (HasStep<Q>) q_.set_step(step);
    clear_grads(ae_store);
    clear_grads(d_store);

    // (a) autoencoder
    const tensor_type& xrec = forward(x);
    check(xrec.shape() == x.shape(),
          [&] { return cat("VQGAN: decoder output ", xrec.shape(), " does not match the input ", x.shape()); });
    reconstruction_terms(x, xrec, s);
    s.quantizer_loss = q_.loss();
    require_finite(s.nll, "rec_loss", step);
    const tensor_type& logits = disc_.forward(xrec);
    s.g_loss = gan_.generator(logits, &dlogits_);
    require_finite(s.g_loss, "g_loss", step);
    const tensor_type& dxrec_g = disc_.backward(dlogits_);
    const double c = adaptive_weight_at_last_layer(dxrec_g, s);
    require_finite(s.d_weight, "adaptive weight (d_weight)", step);
    s.ae_loss = s.nll + c * s.g_loss + s.quantizer_loss;
    if (c != 0) ops::axpy<B>(drec_.numel(), c, dxrec_g.data(), drec_.data(), drec_.data());
    backward(drec_);
    clear_grads(d_store);  // D's parameters take no gradient from the generator step
    if (ae_sync_ != nullptr) ae_sync_->finish();
    ae_opt.step(ae_store);
    clear_grads(ae_store);

    // (b) discriminator
    const tensor_type& xfake = o_.reuse_reconstruction ? xrec : fresh_reconstruction(x);
    const double f = s.disc_factor;
    const tensor_type& lr = disc_.forward(x);
    double d_real = gan_.discriminator_real(lr, &dlogits_);
    s.logits_real = mean_logit(lr);
    if (lecam_.active()) s.lecam += lecam_.real_term(lr, dlogits_);
    if (f != 0) {
      scale(dlogits_, f);
      disc_.backward(dlogits_);
    }
    const tensor_type& lf = disc_.forward(xfake);
    double d_fake = gan_.discriminator_fake(lf, &dlogits_);
    s.logits_fake = mean_logit(lf);
    if (lecam_.active()) s.lecam += lecam_.fake_term(lf, dlogits_);
    const double d_total = d_real + d_fake + s.lecam;
    require_finite(d_total, "d_loss", step);
    s.d_loss = f * d_total;
    if (f != 0) {
      scale(dlogits_, f);
      disc_.backward(dlogits_);
    }
    if (comm_ != nullptr) {
      d_sync_->finish();
      mean_over_ranks(s.logits_real, s.logits_fake);  // LeCam's running logits and the logs: the global batch's
    }
    lecam_.update(s.logits_real, s.logits_fake);
    d_opt.step(d_store);
    clear_grads(d_store);

    s.codes_used = q_.stats().codes_used();
    s.codebook_perplexity = q_.stats().perplexity();
    return s;
  }

  // x̂ for x in the current mode (set_training(false) for evaluation).
  void reconstruct(const tensor_type& x, tensor_type& out) { out = forward(x); }
  // F.mse_loss(x̂, x), mean over all elements.
  double eval_mse(const tensor_type& x) {
    const auto& xh = forward(x);
    check(xh.shape() == x.shape(),
          [&] { return cat("VQGAN::eval_mse: decoder output ", xh.shape(), " does not match the input ", x.shape()); });
    return ops::mse_loss(xh, x);
  }
  void encode_tokens(const tensor_type& x, tensor<std::int32_t, B>& tokens) {
    q_.forward(quant_conv_.forward(enc_.forward(x)));
    tokens = q_.indices();
  }
  void decode_tokens(const tensor<std::int32_t, B>& tokens, tensor_type& out) {
    q_.lookup(tokens, zq_);
    out = dec_.forward(post_quant_conv_.forward(zq_));
  }

  Encoder& encoder() { return enc_; }
  Decoder& decoder() { return dec_; }
  Q& quantizer() { return q_; }
  Discriminator& discriminator() { return disc_; }
  Conv2d<T, B>& quant_conv() { return quant_conv_; }
  Conv2d<T, B>& post_quant_conv() { return post_quant_conv_; }
  G& gan_loss() { return gan_; }
  LeCamRegularizer<T, B>& lecam() { return lecam_; }
  codebook_stats& stats() { return q_.stats(); }
  const vqgan_options& options() const { return o_; }
  vqgan_options& options() { return o_; }

 private:
  const tensor_type& forward(const tensor_type& x) {
    return dec_.forward(post_quant_conv_.forward(q_.forward(quant_conv_.forward(enc_.forward(x)))));
  }

  // The updated AE's reconstruction for the D step: no gradient is taken from it, and the quantizer runs in
  // evaluation mode (no EMA update, restart or k-means) with its usage statistics left as the AE step made them.
  const tensor_type& fresh_reconstruction(const tensor_type& x) {
    const bool was_training = training_of(q_);
    const codebook_stats kept = q_.stats();
    q_.set_training(false);
    const tensor_type& out = forward(x);
    q_.set_training(was_training);
    q_.stats() = kept;
    return out;
  }
  static bool training_of(Q& q) {
    if constexpr (requires { q.training(); }) return q.training();
    else return true;
  }

  // rec_l1, rec_l2, perceptual and nll; the gradient of nll in x̂ into drec_.
  void reconstruction_terms(const tensor_type& x, const tensor_type& xrec, vqgan_step_stats& s) {
    const bool l1 = o_.reconstruction == reconstruction_loss::l1;
    s.rec_l1 = ops::l1_loss(xrec, x, l1 ? &drec_ : nullptr);
    s.rec_l2 = ops::mse_loss(xrec, x, l1 ? nullptr : &drec_);
    s.nll = l1 ? s.rec_l1 : s.rec_l2;
    if constexpr (P::enabled) {
      s.perceptual = perc_.loss(x, xrec, &dperc_);
      check_shape(dperc_.shape(), drec_.shape(), "VQGAN: perceptual gradient");
      ops::axpy<B>(drec_.numel(), o_.perceptual_weight, dperc_.data(), drec_.data(), drec_.data());
      s.nll += o_.perceptual_weight * s.perceptual;
    }
  }

  // ‖∇_{W_L} nll‖ and ‖∇_{W_L} g‖ from the last layer's weight-gradient products for drec_ and dxrec_g, λ, and
  // c = λ·disc_factor.
  double adaptive_weight_at_last_layer(const tensor_type& dxrec_g, vqgan_step_stats& s) {
    dec_.last_layer_weight_gradient(drec_, dw_rec_);
    dec_.last_layer_weight_gradient(dxrec_g, dw_gan_);
    if (comm_ != nullptr) mean_over_ranks(dw_rec_, dw_gan_);
    s.rec_grad_norm = gradient_norm<B>(dw_rec_.data(), dw_rec_.numel());
    s.gan_grad_norm = gradient_norm<B>(dw_gan_.data(), dw_gan_.numel());
    s.d_weight = adaptive_weight(s.rec_grad_norm, s.gan_grad_norm, o_.adaptive);
    return s.d_weight * s.disc_factor;
  }

  // The whole autoencoder's backward from the gradient in x̂ (parameter gradients ADDED).
  // The parts' gradients go to the AE sync as the backward finishes them (decoder first: its allreduce then runs
  // beside the rest of the backward).
  void backward(const tensor_type& dxrec) {
    const auto& dz = dec_.backward(dxrec);
    dist::mark_gradients_ready(ae_sync_, dec_);
    const auto& dzq = post_quant_conv_.backward(dz);
    dist::mark_gradients_ready(ae_sync_, post_quant_conv_);
    const auto& dze = q_.backward(dzq);
    dist::mark_gradients_ready(ae_sync_, q_);
    enc_.backward(quant_conv_.backward(dze));
    dist::mark_gradients_ready(ae_sync_, quant_conv_);
    dist::mark_gradients_ready(ae_sync_, enc_);
  }

  // a and b replaced by their means over ranks (one allreduce; staged through the host).
  void mean_over_ranks(tensor_type& a, tensor_type& b) {
    const auto na = static_cast<std::size_t>(a.numel()), nb = static_cast<std::size_t>(b.numel());
    std::vector<T> host(na + nb);
    B::copy_to_host(host.data(), a.data(), na);
    B::copy_to_host(host.data() + na, b.data(), nb);
    comm_->allreduce_sum(host.data(), host.size());
    const T inv = T(1) / static_cast<T>(comm_->size());
    for (T& v : host) v *= inv;
    B::copy_from_host(a.data(), host.data(), na);
    B::copy_from_host(b.data(), host.data() + na, nb);
  }
  void mean_over_ranks(double& a, double& b) {
    double both[2] = {a, b};
    comm_->allreduce_sum(both, 2);
    a = both[0] / comm_->size();
    b = both[1] / comm_->size();
  }

  static void scale(tensor_type& t, double f) {
    if (f != 1.0) ops::axpy<B>(t.numel(), f - 1.0, t.data(), t.data(), t.data());
  }
  static void clear_grads(parameter_store<T, B>& store) { store.unset_grads(); }
  static void require_finite(double v, const char* term, std::int64_t step) {
    check(std::isfinite(v), [&] {
      return cat("VQGAN: ", term, " is not finite (", v, ") at step ", step,
                 "; the optimizer step that would use it was not taken");
    });
  }

  Encoder enc_;
  Conv2d<T, B> quant_conv_;
  Q q_;
  Conv2d<T, B> post_quant_conv_;
  Decoder dec_;
  Discriminator disc_;
  G gan_;
  P perc_;
  vqgan_options o_;
  LeCamRegularizer<T, B> lecam_;
  dist::gradient_sync<T>* ae_sync_ = nullptr;
  dist::gradient_sync<T>* d_sync_ = nullptr;
  dist::collective* comm_ = nullptr;
  tensor_type drec_, dperc_, dlogits_, dw_rec_, dw_gan_, zq_;
};

}  // namespace vae
