// Fuzz target: parse_idx (MNIST / Fashion-MNIST IDX bytes, already inflated).
#include "fuzz_support.hpp"
#include "vae/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vae::fuzz::expect_only_vae_errors([&] {
    const auto a = vae::data::parse_idx(vae::fuzz::bytes(data, size), "fuzz-idx");
    vae::fuzz::require(static_cast<std::int64_t>(a.data.size()) == a.dims.numel(), "data size differs from the shape");
  });
  return 0;
}
