// Cases of ops/vq_terms.hpp: the [N, C, h, w] ↔ rows layout; the squared error between rows with the commitment
// gradient; the gather of codes with the codebook gradient; the per-code counts; the EMA codebook update.
#pragma once
#include "../case_support.hpp"
#include "vae/ops/vq_terms.hpp"

namespace vae::op_cases {

struct rows_layout_case {
  static constexpr const char* op = "rows_layout_op";
  static constexpr const char* name = "nchw_to_rows";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.exact = true};
  struct config {
    std::int64_t n, c, hw;
  };
  static std::vector<config> configs() { return {{2, 3, 5}, {1, 1, 7}}; }
  static std::string describe(const config& c) { return cat(c.n, "x", c.c, "x", c.hw); }
  static op_signature signature(const config& c) {
    return {{{.name = "x", .numel = c.n * c.c * c.hw}}, {{.name = "rows", .numel = c.n * c.c * c.hw}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    ops::nchw_to_rows<B>(c.n, c.c, c.hw, io.in(0), io.out(0));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::rows_to_nchw<B>(c.n, c.c, c.hw, io.seed(0), io.grad(0));
  }
};

struct vq_rows {
  std::int64_t rows, codes, dim;
};
inline std::vector<vq_rows> vq_rows_configs() { return {{7, 4, 3}, {1, 1, 2}}; }
inline std::string describe_vq_rows(const vq_rows& c) { return cat(c.rows, " rows, ", c.codes, " codes of ", c.dim); }

// value = Σ (a − b)² (double); its gradient through the commitment kernel: da += 2(a − b), db += 2(b − a).
struct vq_squared_error_case {
  static constexpr const char* op = "vq_terms_op";
  static constexpr const char* name = "vq_squared_error";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.parity_float = {1e-6, 1e-6}, .parity_double = {1e-13, 1e-12}};
  using config = vq_rows;
  static std::vector<config> configs() { return vq_rows_configs(); }
  static std::string describe(const config& c) { return describe_vq_rows(c); }
  static op_signature signature(const config& c) {
    return {{{.name = "a", .numel = c.rows * c.dim, .grad_accumulates = true},
             {.name = "b", .numel = c.rows * c.dim, .grad_accumulates = true}},
            {{.name = "value", .numel = 1, .type = element::wide, .seed_one = true}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    io.set_out_wide(0, ops::vq_squared_error<B>(c.rows, c.dim, io.in(0), io.in(1)));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::vq_commitment_grad<B>(c.rows * c.dim, 2.0, io.in(0), io.in(1), io.grad(0));
    ops::vq_commitment_grad<B>(c.rows * c.dim, 2.0, io.in(1), io.in(0), io.grad(1));
  }
};

// value = ½·s·Σ_r ‖codes[idx[r]] − z_r‖² with s = 0.8: the gather, and the codebook kernel's gradient in the codes.
struct vq_codebook_case {
  static constexpr const char* op = "vq_terms_op";
  static constexpr const char* name = "vq_gather_codebook";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.parity_float = {1e-6, 1e-6}, .parity_double = {1e-13, 1e-12}};
  using config = vq_rows;
  static std::vector<config> configs() { return vq_rows_configs(); }
  static std::string describe(const config& c) { return describe_vq_rows(c); }
  static op_signature signature(const config& c) {
    return {{{.name = "codes", .numel = c.codes * c.dim, .grad_accumulates = true},
             {.name = "z", .numel = c.rows * c.dim, .differentiable = false},
             {.name = "idx",
              .numel = c.rows,
              .type = element::index,
              .how = fill::index,
              .bound = c.codes,
              .differentiable = false}},
            {{.name = "e", .numel = c.rows * c.dim, .differentiable = false},
             {.name = "value", .numel = 1, .type = element::wide, .seed_one = true}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    ops::vq_gather<B>(c.rows, c.dim, io.in(0), io.in_index(2), io.out(0));
    io.set_out_wide(1, 0.4 * ops::vq_squared_error<B>(c.rows, c.dim, io.out(0), io.in(1)));
  }
  template <class B, class T>
  static void backward(const config& c, op_buffers<T, B>& io) {
    ops::vq_codebook_grad<B>(c.rows, c.codes, c.dim, 0.8, io.in_index(2), io.in(1), io.out(0), io.grad(0));
  }
};

// counts[k] = #{r : idx[r] = k}.
struct vq_code_counts_case {
  static constexpr const char* op = "vq_terms_op";
  static constexpr const char* name = "vq_code_counts";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{.exact = true, .reference = {0, 0}};
  using config = vq_rows;
  static std::vector<config> configs() { return {{40, 6, 1}, {1, 3, 1}}; }
  static std::string describe(const config& c) { return cat(c.rows, " rows, ", c.codes, " codes"); }
  static op_signature signature(const config& c) {
    return {{{.name = "idx",
              .numel = c.rows,
              .type = element::index,
              .how = fill::index,
              .bound = c.codes,
              .differentiable = false}},
            {{.name = "counts", .numel = c.codes, .type = element::count}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    ops::vq_code_counts<B>(c.rows, c.codes, io.in_index(0), io.out_count(0));
  }
  static std::vector<std::vector<double>> reference(const config& c, const std::vector<std::vector<double>>& in) {
    std::vector<double> counts(c.codes);
    for (const double k : in[0]) counts[static_cast<std::size_t>(k)] += 1;
    return {counts};
  }
};

// The EMA update (λ = 0.9, ε = 1e-5) of count, sum and codebook, copied to the outputs first and updated there.
struct vq_ema_update_case {
  static constexpr const char* op = "vq_terms_op";
  static constexpr const char* name = "vq_ema_update";
  static constexpr bool on_cuda = true;
  static constexpr op_case_checks checks{
      .reference = {1e-12, 1e-12}, .parity_float = {1e-5, 1e-5}, .parity_double = {1e-12, 1e-12}};
  using config = vq_rows;
  static std::vector<config> configs() { return vq_rows_configs(); }
  static std::string describe(const config& c) { return describe_vq_rows(c); }
  static op_signature signature(const config& c) {
    return {{{.name = "idx",
              .numel = c.rows,
              .type = element::index,
              .how = fill::index,
              .bound = c.codes,
              .differentiable = false},
             {.name = "z", .numel = c.rows * c.dim, .differentiable = false},
             {.name = "count", .numel = c.codes, .how = fill::positive, .scale = 3, .differentiable = false},
             {.name = "sum", .numel = c.codes * c.dim, .differentiable = false}},
            {{.name = "count", .numel = c.codes},
             {.name = "sum", .numel = c.codes * c.dim},
             {.name = "codebook", .numel = c.codes * c.dim}}};
  }
  template <class B, class T>
  static void forward(const config& c, op_buffers<T, B>& io) {
    tensor<std::int64_t, B> counts(shape{c.codes});
    ops::vq_code_counts<B>(c.rows, c.codes, io.in_index(0), counts.data());
    B::copy(io.out(0), io.in(2), static_cast<std::size_t>(c.codes));
    B::copy(io.out(1), io.in(3), static_cast<std::size_t>(c.codes * c.dim));
    ops::vq_ema_update<B>({c.rows, c.codes, c.dim, 0.9, 1e-5}, io.in_index(0), io.in(1), counts.data(), io.out(0),
                          io.out(1), io.out(2));
  }
  static std::vector<std::vector<double>> reference(const config& c, const std::vector<std::vector<double>>& in) {
    const double decay = 0.9, eps = 1e-5;
    std::vector<double> count(in[2]), sum(in[3]), codebook(c.codes * c.dim), batch(c.codes), zsum(c.codes * c.dim);
    for (std::int64_t r = 0; r < c.rows; ++r) {
      const auto k = static_cast<std::int64_t>(in[0][r]);
      batch[k] += 1;
      for (std::int64_t j = 0; j < c.dim; ++j) zsum[k * c.dim + j] += in[1][r * c.dim + j];
    }
    double n = 0;
    for (std::int64_t k = 0; k < c.codes; ++k) {
      count[k] = decay * count[k] + (1 - decay) * batch[k];
      n += count[k];
    }
    for (std::int64_t k = 0; k < c.codes; ++k)
      for (std::int64_t j = 0; j < c.dim; ++j) {
        sum[k * c.dim + j] = decay * sum[k * c.dim + j] + (1 - decay) * zsum[k * c.dim + j];
        codebook[k * c.dim + j] = sum[k * c.dim + j] / ((count[k] + eps) / (n + c.codes * eps) * n);
      }
    return {count, sum, codebook};
  }
};

}  // namespace vae::op_cases
