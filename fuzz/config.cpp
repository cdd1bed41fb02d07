// Fuzz target: run_config::load (config.json of a run, --config FILE); what loads must save and reload unchanged.
#include "fuzz_support.hpp"
#include "cli/run_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = vae::fuzz::write_scratch(data, size, "-config.json");
  vae::fuzz::expect_only_vae_errors([&] {
    const auto c = vae::cli::run_config::load(path);
    const auto j = c.to_json();
    vae::fuzz::require(vae::cli::run_config::from_json(j).to_json() == j, "a loaded config does not round-trip");
  });
  return 0;
}
