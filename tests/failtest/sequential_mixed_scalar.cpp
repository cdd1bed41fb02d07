// expect-error: Sequential: every layer must use the same scalar type
// A Sequential whose layers disagree on the scalar (float vs double) must be rejected at compile time.
#include "vae/layers/linear.hpp"
#include "vae/layers/sequential.hpp"

int main() {
#if defined(VAE_FAILTEST_CONTROL)
  vae::Sequential net(vae::Linear<float>(4, 3), vae::Linear<float>(3, 2));
#else
  vae::Sequential net(vae::Linear<float>(4, 3), vae::Linear<double>(3, 2));
#endif
  return static_cast<int>(net.size);
}
