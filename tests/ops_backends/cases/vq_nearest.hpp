// Cases of ops/vq_nearest.hpp: code norms, distances and the nearest code of each row, on whole numbers (every
// product and sum exact in float, so ties are exact ties broken by the lowest index on every backend).
#pragma once
#include "../case_support.hpp"
#include "vae/ops/vq_nearest.hpp"

namespace vae::op_cases {

struct vq_nearest_case {
  static constexpr const char* op = "vq_nearest_op";
  static constexpr const char* name = "vq_nearest";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.exact = true, .reference = {0, 0}};
  using config = vq_nearest_dims;
  static std::vector<config> configs() { return {{9, 7, 3}, {4, 300, 2}, {1, 1, 5}}; }
  static std::string describe(const config& d) { return cat(d.rows, " rows, ", d.codes, " codes of ", d.dim); }
  static op_signature signature(const config& d) {
    return {{{.name = "z", .numel = d.rows * d.dim, .how = fill::integer, .scale = 2},
             {.name = "codes", .numel = d.codes * d.dim, .how = fill::integer, .scale = 2}},
            {{.name = "code_norms", .numel = d.codes},
             {.name = "dist", .numel = d.rows * d.codes},
             {.name = "idx", .numel = d.rows, .type = element::index}}};
  }
  template <class B, class T>
  static void forward(const config& d, op_buffers<T, B>& io) {
    ops::vq_code_norms<B>(d, io.in(1), io.out(0));
    ops::vq_nearest<B>(d, io.in(0), io.in(1), io.out(0), io.out(1), io.out_index(2));
  }
  static std::vector<std::vector<double>> reference(const config& d, const std::vector<std::vector<double>>& in) {
    std::vector<double> norms(d.codes), dist(d.rows * d.codes), idx(d.rows);
    for (std::int64_t k = 0; k < d.codes; ++k)
      for (std::int64_t j = 0; j < d.dim; ++j) norms[k] += in[1][k * d.dim + j] * in[1][k * d.dim + j];
    for (std::int64_t r = 0; r < d.rows; ++r) {
      double zz = 0;
      for (std::int64_t j = 0; j < d.dim; ++j) zz += in[0][r * d.dim + j] * in[0][r * d.dim + j];
      for (std::int64_t k = 0; k < d.codes; ++k) {
        double ze = 0;
        for (std::int64_t j = 0; j < d.dim; ++j) ze += in[0][r * d.dim + j] * in[1][k * d.dim + j];
        dist[r * d.codes + k] = zz - 2 * ze + norms[k];
        if (dist[r * d.codes + k] < dist[r * d.codes + static_cast<std::int64_t>(idx[r])])
          idx[r] = static_cast<double>(k);
      }
    }
    return {norms, dist, idx};
  }
};

}  // namespace vae::op_cases
