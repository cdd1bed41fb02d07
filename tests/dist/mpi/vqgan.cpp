// VQGAN::set_data_parallel under mpiexec -n 2: each rank trains on half of every global batch (its discriminator's
// BatchNorm synchronised, its gradients through overlapping reducers) and, at every step, the AE and D gradients the
// optimizers receive, λ, the losses and the logits equal one process's on the whole batch to float rounding. The
// optimizer is plain SGD, so that the comparison of later steps is not blurred by Adam turning rounding-level
// gradients into whole steps.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../models/vqgan_support.hpp"
#include "vae/dist/gradient_reducer.hpp"
#include "vae/dist/mpi_communicator.hpp"
#include "vae/train/sgd.hpp"

namespace dist_vqgan_test {
using namespace vae;

dist::mpi_communicator& world() {
  static dist::mpi_communicator c(60.0);
  return c;
}

// SGD that keeps the gradients it stepped with.
vqgan_test::spy_optimizer<SGD<float>> spy_sgd() { return {SGD<float>({.lr = 0.05}), {}}; }

// Rows [begin, end) of an [N, C, H, W] batch.
tensor<float> rows(const tensor<float>& x, std::int64_t begin, std::int64_t end) {
  const std::int64_t per = x.numel() / x.dim(0);
  tensor<float> out(shape{end - begin, x.dim(1), x.dim(2), x.dim(3)});
  std::copy(x.data() + begin * per, x.data() + end * per, out.data());
  return out;
}

// Largest |a − b| over the largest |b|: the gradients' agreement relative to their scale (0 when both are all zero,
// as D's before the discriminator starts).
double relative_gap(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double gap = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    gap = std::max(gap, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return scale > 0 ? gap / scale : gap;
}

}  // namespace dist_vqgan_test

TEST_CASE("VQGAN, 2 ranks on halves of each batch: the gradients, λ, losses and BatchNorm statistics of one process") {
  using namespace dist_vqgan_test;
  auto& comm = world();
  REQUIRE(comm.size() == 2);
  vqgan_options o;
  o.disc_start = disc_start_schedule::at_step(1);  // step 0 without the GAN, steps 1–3 with it
  using rig_t = vqgan_test::rig<>;
  rig_t one(o, vqgan_test::make_disc()), mine(o, vqgan_test::make_disc());  // the same initial parameters
  dist::gradient_reducer_options ro;
  ro.bucket_elements = 16;  // several buckets, so that the AE hooks start some during the backward
  dist::gradient_reducer ae(comm, mine.ae, ro), d(comm, mine.d, ro);
  vae::set_communicator(mine.m.discriminator(), &comm);
  mine.m.set_data_parallel(&ae, &d, &comm);
  auto one_ae = spy_sgd(), one_d = spy_sgd(), my_ae = spy_sgd(), my_d = spy_sgd();
  const auto x = vqgan_test::blobs(8);
  const auto share = rows(x, 4 * comm.rank(), 4 * comm.rank() + 4);
  for (std::int64_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    const auto s1 = one.m.train_step(x, i, one.ae, one_ae, one.d, one_d);
    const auto s2 = mine.m.train_step(share, i, mine.ae, my_ae, mine.d, my_d);
    // λ from the averaged last-layer gradients is the global batch's; the logits are averaged over ranks.
    CHECK(s2.d_weight == doctest::Approx(s1.d_weight).epsilon(1e-5));
    CHECK(s2.rec_grad_norm == doctest::Approx(s1.rec_grad_norm).epsilon(1e-5));
    CHECK(s2.gan_grad_norm == doctest::Approx(s1.gan_grad_norm).epsilon(1e-5));
    CHECK(s2.logits_real == doctest::Approx(s1.logits_real).epsilon(1e-5));
    CHECK(s2.logits_fake == doctest::Approx(s1.logits_fake).epsilon(1e-5));
    // Each rank's loss terms are means over its own half: their mean over ranks is one process's.
    double terms[3] = {s2.ae_loss, s2.d_loss, s2.g_loss};
    comm.allreduce_sum(terms, 3);
    CHECK(terms[0] / 2 == doctest::Approx(s1.ae_loss).epsilon(1e-5));
    CHECK(terms[1] / 2 == doctest::Approx(s1.d_loss).epsilon(1e-5));
    CHECK(terms[2] / 2 == doctest::Approx(s1.g_loss).epsilon(1e-5));
    // The gradients each optimizer stepped with: one process's, to float rounding (1e-5 of the largest).
    CHECK(relative_gap(my_ae.seen, one_ae.seen) < 1e-5);
    CHECK(relative_gap(my_d.seen, one_d.seen) < 1e-5);
    CHECK(ae.early_buckets() > 0);  // the AE's hooks started buckets during its backward
  }
  // Parameters and buffers (BatchNorm running statistics, its count) after 4 SGD steps.
  for (auto [a, b] : {std::pair{&mine.ae, &one.ae}, std::pair{&mine.d, &one.d}}) {
    std::vector<float> va(a->values(), a->values() + a->size()), vb(b->values(), b->values() + b->size());
    CHECK(relative_gap(va, vb) < 1e-5);
  }
  // Control: the same steps without the data-parallel wiring (each rank alone on its half) are another optimisation,
  // which these bounds tell apart.
  rig_t alone(o, vqgan_test::make_disc());
  auto alone_ae = spy_sgd(), alone_d = spy_sgd();
  alone.m.train_step(share, 0, alone.ae, alone_ae, alone.d, alone_d);
  alone.m.train_step(share, 1, alone.ae, alone_ae, alone.d, alone_d);
  rig_t one2(o, vqgan_test::make_disc());
  auto one2_ae = spy_sgd(), one2_d = spy_sgd();
  one2.m.train_step(x, 0, one2.ae, one2_ae, one2.d, one2_d);
  one2.m.train_step(x, 1, one2.ae, one2_ae, one2.d, one2_d);
  CHECK(relative_gap(alone_d.seen, one2_d.seen) > 1e-3);  // 100 times the bound above, at least
  CHECK(relative_gap(alone_ae.seen, one2_ae.seen) > 1e-3);
}
