// The op registry of the ops × backends driver: every op case, and the kernels that tests outside the driver cover.
// Adding an op: its case header in cases/ (named after its ops/ header) and one line in op_registry below.
#pragma once
#include <string_view>

#include "cases/act_norm.hpp"
#include "cases/activations.hpp"
#include "cases/add.hpp"
#include "cases/avg_pool2d.hpp"
#include "cases/axpy.hpp"
#include "cases/batch_norm.hpp"
#include "cases/batched_matmul.hpp"
#include "cases/causal_attention.hpp"
#include "cases/conv2d.hpp"
#include "cases/feature_distance.hpp"
#include "cases/gaussian_latent.hpp"
#include "cases/grad_norm.hpp"
#include "cases/group_norm.hpp"
#include "cases/layer_norm.hpp"
#include "cases/likelihood_terms.hpp"
#include "cases/linear.hpp"
#include "cases/losses.hpp"
#include "cases/max_pool2d.hpp"
#include "cases/pad2d.hpp"
#include "cases/softmax.hpp"
#include "cases/to_memory_format.hpp"
#include "cases/upsample.hpp"
#include "cases/vq_nearest.hpp"
#include "cases/vq_terms.hpp"
#include "vae/testing/op_case.hpp"

namespace vae::op_cases {

template <testing::OpCase... C>
struct case_list {
  // Calls f.template operator()<C>() for every case in order.
  template <class F>
  static void for_each(F&& f) {
    (f.template operator()<C>(), ...);
  }
  static constexpr std::size_t size = sizeof...(C);
};

using op_registry = case_list<
    activation_case<activation::Identity>, activation_case<activation::ReLU>, activation_case<activation::LeakyReLU>,
    activation_case<activation::Sigmoid>, activation_case<activation::Tanh>, activation_case<activation::SiLU>,
    activation_case<activation::GELU>, activation_case<activation::GELUTanh>, activation_case<activation::Softplus>,
    act_norm_case, act_norm_initialize_case, add_case<false>, add_case<true>, avg_pool2d_case, axpy_case, dot_case,
    batch_norm_case<true>, batch_norm_case<false>, batch_norm_split_case, batched_matmul_case, causal_attention_case,
    conv2d_case, conv_transpose2d_case, feature_distance_case, posterior_split_case, reparameterize_case,
    normal_fill_case, gaussian_kl_case<false>, gaussian_kl_case<true>, grad_norm_case, group_norm_case, layer_norm_case,
    likelihood_case<false>, likelihood_case<true>, bernoulli_nll_fused_case, bernoulli_mean_case, linear_case<false>,
    linear_case<true>, linear_writing_case,
    elementwise_loss_case<losses::MSE>, elementwise_loss_case<losses::L1>, elementwise_loss_case<losses::BCEWithLogits>,
    elementwise_loss_case<losses::Hinge>, elementwise_loss_case<losses::NegatedProduct>,
    elementwise_loss_case<losses::ExcessSquared>, elementwise_loss_case<losses::DeficitSquared>, weighted_mse_case,
    cross_entropy_case, max_pool2d_case, pad2d_case, softmax_case<false>, softmax_case<true>, to_memory_format_case,
    upsample_nearest_case,
    vq_nearest_case, rows_layout_case, vq_squared_error_case, vq_codebook_case, vq_code_counts_case,
    vq_ema_update_case>;

// Kernels whose op is not a function of buffers the driver can describe (an optimizer's step over a parameter
// store): the count check accepts them when the named test file exists.
struct tested_elsewhere {
  std::string_view op, backend, test;
};
inline constexpr tested_elsewhere kernels_tested_elsewhere[] = {
    {"adam_op", "cpu", "tests/train/adam.cpp"},
    {"adam_op", "cuda", "tests/cuda/adam_step.cu"},
    {"sgd_op", "cpu", "tests/train/sgd.cpp"},
    {"sgd_op", "cuda", "tests/cuda/sgd.cu"},
};

}  // namespace vae::op_cases
