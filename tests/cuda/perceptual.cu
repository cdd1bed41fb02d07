// CUDA perceptual loss: the feature distance op against the cpu kernel, then FeaturePerceptualLoss over LPIPS
// (width/16) and over ClassifierFeatures on cuda against the same nets on the cpu (loss and input gradient).
#include "vae/adversarial/classifier_features.hpp"
#include "vae/adversarial/feature_perceptual_loss.hpp"
#include "vae/adversarial/lpips.hpp"
#include "vae/backend/cuda/kernels.cuh"

#include "cuda_test_support.cuh"

using namespace vae;
using cuda_test::random_tensor;
using cuda_test::require_close;

// The same arithmetic per position in the same channel order; the device may fuse multiply-adds (FMA): a few ulps.
TEST_CASE_TEMPLATE("cuda feature_distance matches the cpu kernel", T, float, double) {
  const double atol = std::is_same_v<T, float> ? 1e-6 : 1e-14, rtol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  generator rng(84);
  const feature_distance_dims d{3, 7, 37};
  const shape fs{3, 7, 37}, ds{3 * 37};
  auto f0 = random_tensor<T>(fs, rng), f1 = random_tensor<T>(fs, rng), w = random_tensor<T>({7}, rng);
  for (std::int64_t k = 0; k < 7; ++k) {
    w[k] = std::abs(w[k]);
    f1[k * 37 + 5] = T(0);  // a zero feature vector
  }
  const auto g0 = to<cuda>(f0), g1 = to<cuda>(f1), gw = to<cuda>(w);
  for (const bool weighted : {true, false}) {
    tensor<T> dist(ds), df(fs);
    tensor<T, cuda> gdist(ds), gdf(fs);
    ops::feature_distance<cpu>(d, f0.data(), f1.data(), weighted ? w.data() : nullptr, dist.data(), df.data(), 0.25);
    ops::feature_distance<cuda>(d, g0.data(), g1.data(), weighted ? gw.data() : nullptr, gdist.data(), gdf.data(), 0.25);
    require_close(gdist, dist, weighted ? "feature_distance weighted" : "feature_distance mean", atol, rtol);
    require_close(gdf, df, weighted ? "feature_distance weighted df1" : "feature_distance mean df1", atol, rtol);
  }
}

namespace perceptual_cu {
// The loss and gradient of one policy on both backends, with the device store holding the host store's weights.
template <class HostNet, class DeviceNet>
void compare(HostNet hnet, DeviceNet dnet, shape s, const std::string& label) {
  FeaturePerceptualLoss<HostNet> hp(std::move(hnet), 5);
  FeaturePerceptualLoss<DeviceNet> dp(std::move(dnet), 5);  // the same seed draws the same initial weights
  generator rng(85);
  auto x = random_tensor<float>(s, rng, 0.5), xrec = random_tensor<float>(s, rng, 0.5);
  tensor<float> grad;
  tensor<float, cuda> dgrad;
  const double hl = hp.loss(x, xrec, &grad);
  const double dl = dp.loss(to<cuda>(x), to<cuda>(xrec), &dgrad);
  INFO(label << ": cpu " << hl << " cuda " << dl);
  CHECK(std::abs(hl - dl) <= 1e-5 * std::abs(hl) + 1e-7);
  // Convolutions through cuBLAS against the cpu GEMM: float sums in another order, 13 layers deep.
  require_close(dgrad, grad, label + " d loss / d xrec", 1e-6, 1e-3);
}
}  // namespace perceptual_cu

TEST_CASE("cuda FeaturePerceptualLoss over LPIPS and ClassifierFeatures matches the cpu") {
  perceptual_cu::compare(LPIPS<float>({16}), LPIPS<float, cuda>({16}), {2, 3, 32, 32}, "LPIPS/16");
  classifier_features_options o;
  o.base_width = 4;
  perceptual_cu::compare(ClassifierFeatures<float>(o), ClassifierFeatures<float, cuda>(o), {2, 1, 16, 16},
                         "ClassifierFeatures");
}
