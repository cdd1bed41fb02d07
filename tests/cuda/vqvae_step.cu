// VQVAE<ResNetEncoder, ResNetDecoder, VectorQuantizer or EMAVectorQuantizer, cuda> against the same model on cpu
// from the same seed (the vq-vae preset's architecture, scaled down): identical initial weights, then 3 Adam train
// steps (total loss, its reconstruction and quantizer parts, tokens, code counts, every gradient and parameter after
// each step), evaluation (eval MSE, tokens, decode of the tokens, decode_tokens(encode_tokens(x)) == reconstruct(x) on
// the device), the quantizer alone (loss terms' routing, frozen assignment, lookup, the refused options, k-means initialisation
// and dead-code restarts), and a
// device parameter store through safetensors. Written for a GPU machine: here it is compiled by nvcc and skipped
// (exit 77) without a device.
//
// Tokens must be EQUAL on both sides: the distances of the two sides differ by float rounding (cuBLAS vs the cpu
// GEMM), so a row whose two nearest codes are within rounding of each other could legitimately pick differently.
// Rather than tolerate such rows (after which every later gradient would differ), the test measures on the cpu side,
// before comparing, each row's margin between its nearest and second-nearest code and requires it to exceed
// margin_floor: a fixture with a near-tie fails with a message that says so (change the seed), and with clear
// margins any token difference is a kernel bug.
#include "vae/backend/cuda/kernels.cuh"
#include "vae/decoders/resnet_decoder.hpp"
#include "vae/encoders/resnet_encoder.hpp"
#include "vae/models/vqvae.hpp"
#include "vae/quantizers/ema_vector_quantizer.hpp"
#include "vae/quantizers/vector_quantizer.hpp"
#include "vae/train/adam.hpp"
#include "vae/train/checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <type_traits>
#include <vector>

#include "cuda_test_support.cuh"

using namespace vae;

namespace vqvae_step_test {

using cuda_test::require_close;

// Tolerances as tests/cuda/vae_step.cu (cuda_test::step_tolerance, same reasons: the layers' float sums differ in
// order between cuBLAS and the cpu GEMM; the quantizer's own terms are summed in double on both sides; Adam with
// eps = 1e-3 is Lipschitz in the gradient). margin_floor: the smallest relative gap (d2 − d1)/(|d1| + 1) between a
// row's two nearest codes that the fixture must keep, above the ~2e-6 (float: 2‖z‖·|δz| with ‖z‖² ~ 0.8 and the
// encoders' ~1e-6 relative difference) by which the two sides' distances can differ.
template <class T>
struct vq_tolerance : cuda_test::step_tolerance<T> {
  static constexpr double margin_floor = std::is_same_v<T, float> ? 1e-5 : 1e-9;
};
using cuda_test::check_scalar;

// The smallest relative gap between the nearest and the second-nearest code over the rows of dist [M, K].
template <class T>
double smallest_margin(const tensor<T>& dist) {
  const std::int64_t M = dist.dim(0), K = dist.dim(1);
  double smallest = std::numeric_limits<double>::infinity();
  for (std::int64_t r = 0; r < M; ++r) {
    double d1 = std::numeric_limits<double>::infinity(), d2 = d1;
    for (std::int64_t k = 0; k < K; ++k) {
      const double v = dist[r * K + k];
      if (v < d1) {
        d2 = d1;
        d1 = v;
      } else if (v < d2) {
        d2 = v;
      }
    }
    smallest = std::min(smallest, (d2 - d1) / (std::abs(d1) + 1.0));
  }
  return smallest;
}

// Host tokens and device tokens equal, after the fixture's margin check on the host distances.
template <class T>
void require_same_tokens(const tensor<std::int32_t, cuda>& device, const tensor<std::int32_t>& host,
                         const tensor<T>& host_dist, const std::string& label) {
  const double margin = smallest_margin(host_dist);
  MESSAGE(label << ": smallest nearest/second-nearest relative margin " << margin);
  REQUIRE_MESSAGE(margin > vq_tolerance<T>::margin_floor,
                  label << ": the fixture has a near-tie between two codes (margin " << margin
                        << "); the two sides may pick either: change the seed");
  REQUIRE(device.shape() == host.shape());
  const auto d = to<cpu>(device);
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < host.numel(); ++i) differ += d[i] != host[i];
  CHECK_MESSAGE(differ == 0, label << ": " << differ << " of " << host.numel() << " tokens differ");
}

void require_same_stats(const codebook_stats& device, const codebook_stats& host, const std::string& label) {
  CHECK(device.total() == host.total());
  CHECK_MESSAGE(device.counts() == host.counts(), label << ": code counts differ");
  CHECK(device.codes_used() == host.codes_used());
  check_scalar(device.perplexity(), host.perplexity(), 1e-12, label + " perplexity");
}

// Aliases: the comma of VectorQuantizer<float, cuda> would split the CHECK macros' arguments.
using device_vq = VectorQuantizer<float, cuda>;
using device_ema_vq = EMAVectorQuantizer<float, cuda>;

struct vq_sizes {
  std::int64_t channels = 1, image = 8, hidden = 8, res_hidden = 4, code_dim = 4, codes = 16, batch = 6;
  double code_spread = 1.0;  // the codebook is set to mean(z_e) + code_spread·sd(z_e)·N(0, 1) per dimension
};

// A fresh encoder's outputs for uniform-noise images are tightly clustered (sd ~0.02 around a mean of ~0.5 per
// dimension), far from the default U(−1/K, 1/K) codes: every row would pick the same code. Codes drawn around the
// outputs make the fixture use several (6 of 16 at seed 7; measured on the cpu side, which also measured the
// margins: smallest 3e-5 for K = 16 with spread 1, 1.7e-5 for K = 300 with spread 3).
template <class Model, class T>
void spread_codebook(Model& host, parameter_store<T, cpu>& store, const tensor<T>& x, double spread) {
  const auto& ze = host.encoder().forward(x);
  const std::int64_t N = ze.dim(0), D = ze.dim(1), hw = ze.dim(2) * ze.dim(3);
  std::vector<double> mean(static_cast<std::size_t>(D), 0.0), sd(static_cast<std::size_t>(D), 0.0);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < D; ++c)
      for (std::int64_t p = 0; p < hw; ++p) {
        const double v = ze[(n * D + c) * hw + p];
        mean[c] += v;
        sd[c] += v * v;
      }
  for (std::int64_t c = 0; c < D; ++c) {
    mean[c] /= static_cast<double>(N * hw);
    sd[c] = std::sqrt(std::max(0.0, sd[c] / static_cast<double>(N * hw) - mean[c] * mean[c]));
  }
  bool found = false;
  generator codes(99);
  for (const auto& e : store.entries())
    if (e.name == "codebook.weight") {
      found = true;
      T* v = store.value_tensor().data() + e.offset;
      for (std::int64_t k = 0; k < e.shape[0]; ++k)
        for (std::int64_t c = 0; c < D; ++c) v[k * D + c] = static_cast<T>(mean[c] + spread * sd[c] * codes.normal());
    }
  REQUIRE(found);
}

resnet_encoder_options encoder_options(const vq_sizes& s) {
  resnet_encoder_options o;
  o.in_channels = s.channels;
  o.hidden = s.hidden;
  o.res_hidden = s.res_hidden;
  o.code_dim = s.code_dim;
  return o;
}
resnet_decoder_options decoder_options(const vq_sizes& s) {
  resnet_decoder_options o;
  o.code_dim = s.code_dim;
  o.hidden = s.hidden;
  o.res_hidden = s.res_hidden;
  o.out_channels = s.channels;
  return o;
}

template <class T, class B, template <class, class> class Q = VectorQuantizer>
using vq_model = VQVAE<ResNetEncoder<T, B>, ResNetDecoder<T, B>, Q<T, B>, T, B>;

template <class T, class B, template <class, class> class Q = VectorQuantizer>
vq_model<T, B, Q> make_vq_model(const vq_sizes& s) {
  return vq_model<T, B, Q>(ResNetEncoder<T, B>(encoder_options(s)), ResNetDecoder<T, B>(decoder_options(s)),
                           Q<T, B>(s.codes, s.code_dim));
}

// Q = VectorQuantizer (codebook trained by its gradient) or EMAVectorQuantizer (codebook and its moving averages
// updated in every training forward; compared with the parameters, which include those buffers).
template <class T, template <class, class> class Q = VectorQuantizer>
void compare_vq_models(const vq_sizes& s, std::uint64_t data_seed, const std::string& label) {
  using tol = vq_tolerance<T>;
  auto host = make_vq_model<T, cpu, Q>(s);
  auto device = make_vq_model<T, cuda, Q>(s);
  host.quantizer().set_keep_distances(true);  // for the margin check
  generator init_host(2024), init_device(2024);
  parameter_store<T, cpu> host_store;
  parameter_store<T, cuda> device_store;
  host_store.attach(host, init_host);
  device_store.attach(device, init_device);
  REQUIRE(host_store.size() == device_store.size());
  require_close(device_store.value_tensor(), host_store.value_tensor(), label + " initial parameters", 0.0, 0.0);

  tensor<T> x({s.batch, s.channels, s.image, s.image});
  generator data(data_seed);
  data.fill_uniform(x.data(), x.numel(), 0.0, 1.0);
  const auto x_device = to<cuda>(x);
  spread_codebook(host, host_store, x, s.code_spread);
  copy_into(device_store.value_tensor(), host_store.value_tensor());

  const adam_options options{.lr = 1e-3, .eps = 1e-3};
  Adam<T, cpu> host_opt(options);
  Adam<T, cuda> device_opt(options);
  for (int step = 0; step < 3; ++step) {
    const std::string at = label + " step " + std::to_string(step);
    host_store.zero_grad();
    device_store.zero_grad();
    const double host_loss = host.train_step_loss(x, step);
    const double device_loss = device.train_step_loss(x_device, step);
    require_same_tokens(device.quantizer().indices(), host.quantizer().indices(), host.quantizer().distances(),
                        at + " tokens");
    check_scalar(device_loss, host_loss, tol::loss_rtol, at + " loss");
    check_scalar(device.last_reconstruction_loss(), host.last_reconstruction_loss(), tol::loss_rtol,
                    at + " reconstruction");
    check_scalar(device.last_quantizer_loss(), host.last_quantizer_loss(), tol::loss_rtol, at + " quantizer loss");
    CHECK(host.last_quantizer_loss() > 0);
    require_close(device_store.grad_tensor(), host_store.grad_tensor(), at + " gradients", tol::grad_atol,
                  tol::grad_rtol);
    host_opt.step(host_store);
    device_opt.step(device_store);
    require_close(device_store.value_tensor(), host_store.value_tensor(), at + " parameters", tol::param_atol,
                  tol::param_rtol);
  }
  require_same_stats(device.stats(), host.stats(), label + " training stats");
  CHECK_MESSAGE(host.stats().codes_used() >= 2, label << ": the fixture uses " << host.stats().codes_used() << " code(s)");

  host.set_training(false);
  device.set_training(false);
  host.stats().reset();
  device.stats().reset();
  check_scalar(device.eval_mse(x_device), host.eval_mse(x), tol::loss_rtol, label + " eval MSE");
  tensor<std::int32_t> host_tokens;
  tensor<std::int32_t, cuda> device_tokens;
  host.encode_tokens(x, host_tokens);
  device.encode_tokens(x_device, device_tokens);
  require_same_tokens(device_tokens, host_tokens, host.quantizer().distances(), label + " eval tokens");
  require_same_stats(device.stats(), host.stats(), label + " eval stats");

  // decode the host's tokens on both sides.
  tensor<T> host_pixels;
  tensor<T, cuda> device_pixels;
  host.decode_tokens(host_tokens, host_pixels);
  device.decode_tokens(to<cuda>(host_tokens), device_pixels);
  require_close(device_pixels, host_pixels, label + " decode_tokens", tol::grad_atol, tol::grad_rtol);
  // On the device, decoding its own tokens reproduces its reconstruction bit for bit.
  tensor<T, cuda> device_rec;
  device.reconstruct(x_device, device_rec);
  device.decode_tokens(device_tokens, device_pixels);
  require_close(device_pixels, to<cpu>(device_rec), label + " decode_tokens(encode_tokens(x)) vs reconstruct", 0.0,
                0.0);
}

}  // namespace vqvae_step_test

TEST_CASE_TEMPLATE("VQVAE<ResNet, VectorQuantizer, cuda>: 3 Adam steps, tokens, stats and decode match cpu", T, float,
                   double) {
  vqvae_step_test::compare_vq_models<T>(vqvae_step_test::vq_sizes{}, 7, "vq-vae");
}

TEST_CASE_TEMPLATE("VQVAE<ResNet, EMAVectorQuantizer, cuda>: 3 Adam steps (with EMA codebook updates) match cpu", T,
                   float, double) {
  vqvae_step_test::compare_vq_models<T, EMAVectorQuantizer>(vqvae_step_test::vq_sizes{}, 7, "ema vq-vae");
}

TEST_CASE("VQVAE<..., cuda> with three input channels and more codes than one 256-thread block") {
  vqvae_step_test::vq_sizes s;
  s.channels = 3;
  s.codes = 300;
  s.code_dim = 8;
  s.batch = 3;
  s.code_spread = 3.0;
  vqvae_step_test::compare_vq_models<float>(s, 11, "vq-vae rgb K=300");
}

TEST_CASE("VectorQuantizer<double, cuda>: loss terms route and frozen-assignment gradients match cpu") {
  using T = double;
  const std::int64_t K = 9, D = 3;
  VectorQuantizer<T, cpu> host(K, D, {.beta = 0.3});
  VectorQuantizer<T, cuda> device(K, D, {.beta = 0.3});
  generator init_host(5), init_device(5);
  parameter_store<T, cpu> host_store;
  parameter_store<T, cuda> device_store;
  host_store.attach(host, init_host);
  device_store.attach(device, init_device);
  generator rng(6);
  auto& codes = host_store.value_tensor();
  rng.fill_normal(codes.data(), codes.numel());  // codes of the same scale as z
  copy_into(device_store.value_tensor(), codes);
  const auto z = cuda_test::random_tensor<T>({2, D, 3, 2}, rng);
  const auto z_device = to<cuda>(z);
  host.set_keep_distances(true);
  device.set_keep_distances(true);
  cuda_test::require_close(device.forward(z_device), host.forward(z), "z_q", 1e-12, 1e-12);
  vqvae_step_test::require_same_tokens(device.indices(), host.indices(), host.distances(), "quantizer tokens");
  cuda_test::require_close(device.distances(), host.distances(), "distances", 1e-12, 1e-12);
  vqvae_step_test::check_scalar(device.loss(), host.loss(), 1e-12, "quantizer loss");
  vqvae_step_test::check_scalar(device.term_value<CommitmentLoss>(), host.term_value<CommitmentLoss>(), 1e-12,
                                   "commitment term");

  const auto dzq = cuda_test::random_tensor<T>(z.shape(), rng);
  host_store.zero_grad();
  device_store.zero_grad();
  cuda_test::require_close(device.backward(to<cuda>(dzq)), host.backward(dzq), "dz_e", 1e-12, 1e-12);
  cuda_test::require_close(device_store.grad_tensor(), host_store.grad_tensor(), "dcodebook", 1e-12, 1e-12);
  // Routing: CodebookLoss gives no dz_e and a codebook gradient; CommitmentLoss the reverse.
  device_store.zero_grad();
  const auto dz_cb = to<cpu>(device.backward_term<CodebookLoss>());
  CHECK(std::all_of(dz_cb.begin(), dz_cb.end(), [](T v) { return v == 0; }));
  const auto g_cb = to<cpu>(device_store.grad_tensor());
  CHECK(std::any_of(g_cb.begin(), g_cb.end(), [](T v) { return v != 0; }));
  device_store.zero_grad();
  const auto dz_cm = to<cpu>(device.backward_term<CommitmentLoss>());
  CHECK(std::any_of(dz_cm.begin(), dz_cm.end(), [](T v) { return v != 0; }));
  const auto g_cm = to<cpu>(device_store.grad_tensor());
  CHECK(std::all_of(g_cm.begin(), g_cm.end(), [](T v) { return v == 0; }));

  // Frozen assignment on the device: forward of a shifted z keeps the tokens and the straight-through offset.
  device.set_frozen_assignment(true);
  host.set_frozen_assignment(true);
  auto z2 = z;
  for (auto& v : z2) v += 0.01;
  cuda_test::require_close(device.forward(to<cuda>(z2)), host.forward(z2), "frozen z_q", 1e-12, 1e-12);
  vqvae_step_test::check_scalar(device.loss(), host.loss(), 1e-12, "frozen loss");
  device.set_frozen_assignment(false);
  host.set_frozen_assignment(false);

  // lookup reproduces the forward's z_q; a token out of range is refused with the cpu's message.
  tensor<T, cuda> looked;
  device.forward(z_device);
  tensor<std::int32_t, cuda> tokens = device.indices();
  device.lookup(tokens, looked);
  cuda_test::require_close(looked, to<cpu>(device.forward(z_device)), "lookup", 0.0, 0.0);
  tensor<std::int32_t> bad({1, 1, 2});
  bad[0] = 1;
  bad[1] = static_cast<std::int32_t>(K);
  CHECK_THROWS_WITH_AS(device.lookup(to<cuda>(bad), looked), doctest::Contains("token 9 at position 1 is outside [0, 9)"),
                       vae::error);
}

TEST_CASE("VectorQuantizer<float, cuda> and EMAVectorQuantizer<float, cuda> refuse the host-only options by name") {
  quantizer_options cosine;
  cosine.cosine = true;
  CHECK_THROWS_WITH_AS(vqvae_step_test::device_vq(8, 4, cosine),
                       doctest::Contains("VectorQuantizer<cuda>: option cosine: host backends only for now"), vae::error);
  quantizer_options proj;
  proj.codebook_dim = 2;
  CHECK_THROWS_WITH_AS(vqvae_step_test::device_vq(8, 4, proj), doctest::Contains("option codebook_dim"), vae::error);
  CHECK_THROWS_WITH_AS(vqvae_step_test::device_ema_vq(8, 4, cosine),
                       doctest::Contains("EMAVectorQuantizer<cuda>: option cosine: host backends only for now"),
                       vae::error);
  CHECK_NOTHROW(vqvae_step_test::device_vq(8, 4, quantizer_options{}));
  CHECK_NOTHROW(vqvae_step_test::device_ema_vq(8, 4, quantizer_options{}));
}

namespace vqvae_step_test {

// k-means initialisation (host k-means on the downloaded first batch) and dead-code restarts (decisions on the
// host, rows copied on the device) against cpu, in double: z_c is z's rows on both sides (a pure layout change), so
// k-means sees the same numbers and its codebook must agree exactly; the nearest codes then differ only by DGEMM
// rounding (~1e-16), far below the random rows' gaps. restart_after_steps = 1 restarts every code a batch leaves
// unused, every step.
template <template <class, class> class Q>
void compare_kmeans_and_restarts(const std::string& label) {
  using T = double;
  const std::int64_t K = 12, D = 3;
  quantizer_options o;
  o.kmeans_init = true;
  o.restart_after_steps = 1;
  o.seed = 17;
  Q<T, cpu> host(K, D, o);
  Q<T, cuda> device(K, D, o);
  generator init_host(5), init_device(5);
  parameter_store<T, cpu> host_store;
  parameter_store<T, cuda> device_store;
  host_store.attach(host, init_host);
  device_store.attach(device, init_device);
  host.set_training(true);
  device.set_training(true);
  generator data(8);
  for (int step = 0; step < 4; ++step) {
    const auto z = cuda_test::random_tensor<T>({2, D, 3, 4}, data);  // 24 rows for 12 codes
    const auto z_device = to<cuda>(z);
    const std::string at = cat(label, " step ", step);
    cuda_test::require_close(device.forward(z_device), host.forward(z), at + " z_q", 1e-12, 1e-12);
    const auto device_tokens = to<cpu>(device.indices());
    REQUIRE(device_tokens.numel() == host.indices().numel());
    CHECK_MESSAGE(std::equal(device_tokens.data(), device_tokens.data() + device_tokens.numel(), host.indices().data()),
                  at << ": tokens differ");
    // codebook, "initted", "unused_steps" (and the EMA buffers)
    cuda_test::require_close(device_store.value_tensor(), host_store.value_tensor(), at + " codebook and buffers", 1e-12, 1e-12);
    CHECK(device.total_restarts() == host.total_restarts());
  }
  MESSAGE(label << ": " << host.total_restarts() << " restarts in 4 steps");
  CHECK(host.total_restarts() > 0);  // else the case would not exercise restarts
}

}  // namespace vqvae_step_test

TEST_CASE("VectorQuantizer<double, cuda>: k-means initialisation and dead-code restarts match cpu") {
  vqvae_step_test::compare_kmeans_and_restarts<VectorQuantizer>("vq k-means+restarts");
}

TEST_CASE("EMAVectorQuantizer<double, cuda>: k-means initialisation and dead-code restarts match cpu") {
  vqvae_step_test::compare_kmeans_and_restarts<EMAVectorQuantizer>("ema vq k-means+restarts");
}

TEST_CASE("parameter_store<float, cuda> of a VQVAE: safetensors save downloads, load uploads, names as on cpu") {
  using T = float;
  const vqvae_step_test::vq_sizes s;
  auto trained = vqvae_step_test::make_vq_model<T, cuda>(s);
  parameter_store<T, cuda> trained_store;
  generator init(3);
  trained_store.attach(trained, init);
  fill_normal(init, trained_store.value_tensor());
  const auto path = std::filesystem::temp_directory_path() / "vae_cuda_vqvae_step_checkpoint.safetensors";
  save_parameters(path, trained_store);

  auto host = vqvae_step_test::make_vq_model<T, cpu>(s);
  parameter_store<T, cpu> host_store;
  generator other(4);
  host_store.attach(host, other);
  load_parameters(path, host_store);
  cuda_test::require_close(trained_store.value_tensor(), host_store.value_tensor(), "vqvae saved on cuda, loaded on cpu", 0.0,
                0.0);

  auto fresh = vqvae_step_test::make_vq_model<T, cuda>(s);
  parameter_store<T, cuda> fresh_store;
  generator other2(5);
  fresh_store.attach(fresh, other2);
  load_parameters(path, fresh_store);
  cuda_test::require_close(fresh_store.value_tensor(), host_store.value_tensor(), "vqvae loaded back on cuda", 0.0, 0.0);
  REQUIRE(fresh_store.entries().size() == host_store.entries().size());
  bool has_codebook = false;
  for (std::size_t i = 0; i < host_store.entries().size(); ++i) {
    CHECK(fresh_store.entries()[i].name == host_store.entries()[i].name);
    has_codebook |= host_store.entries()[i].name == "codebook.weight";
  }
  CHECK(has_codebook);
  std::filesystem::remove(path);
}
