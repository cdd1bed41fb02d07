// EMAVectorQuantizer (VQ-VAE appendix, Sonnet's VectorQuantizerEMA): codebook from exponential moving averages.
#pragma once
#include "vae/quantizers/vector_quantizer.hpp"

namespace vae {

// Nearest code as VectorQuantizer, but the codebook is a non-trainable buffer (saved, never optimised)
// updated in every training forward, after z_q and the loss were taken from the pre-update codebook:
//   N_k ← λN_k + (1−λ)n_k,  S_k ← λS_k + (1−λ)Σ_{z→k} z,  Ñ_k = (N_k + ε)/(ΣN + Kε)·ΣN,  E_k = S_k / Ñ_k
// with λ = options.ema_decay (0.99), ε = options.ema_eps (1e-5). The moving averages start (first training
// forward, after optional k-means) at N_k = 1 and S_k = E_k, so the first update does not blow up unused
// codes; a restarted code gets the same reset. loss() = β·‖z − sg[e]‖² (CommitmentLoss only).
// Parameter names: "weight", "ema_cluster_size", "ema_embed_sum", "initted" (all trainable=false).
template <class T = float, class B = cpu>
class EMAVectorQuantizer : public detail::vq_base<T, B, true> {
 public:
  using detail::vq_base<T, B, true>::vq_base;
};

}  // namespace vae
