// expect-error: no_kernel_for<vae::linear_op, toy_backend>
// An op on a backend that has no kernel for it must not compile, and the diagnostic must name both the op and the
// backend. The control uses the cpu kernel of the same op.
#include "vae/ops/linear.hpp"

struct toy_backend {};

int main() {
#if defined(VAE_FAILTEST_CONTROL)
  using k = vae::kernel<vae::linear_op, vae::cpu>;
#else
  using k = vae::kernel<vae::linear_op, toy_backend>;
#endif
  return static_cast<int>(sizeof(k));
}
