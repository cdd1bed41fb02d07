// The options of load_dataset (size, channels, held-out split, limit, value checks) and the default data directory.
#pragma once
#include <cstdint>
#include <string>

#include "vae/data/value_checks.hpp"

namespace vae::data {

struct load_options {
  int image_size = 0;  // 0 = keep the source's size; > 0 = centre-crop to a square and resize to image_size²
  int channels = 0;    // 0 = keep; 1 or 3 = convert
  double test_fraction = 1.0 / 7.0;  // held-out share, used only when the source has no test split; [0, 1)
  std::uint64_t seed = 0;            // seeds the held-out split, fashion-mnist-captions' templates, shapes (default)
  std::int64_t limit = 0;            // 0 = all; > 0 = at most this many examples in each split
  // Float arrays (npy) are refused, naming the file, element and fix, when a value is outside this domain
  // (see value_checks.hpp); `values_for` says who needs it in that message. uint8 sources are always in [0, 1].
  value_domain values = value_domain::finite;
  std::string values_for = "the model";
};

inline constexpr const char* fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

}  // namespace vae::data
