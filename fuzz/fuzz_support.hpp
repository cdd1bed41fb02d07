// fuzz_support: the contract every fuzz target checks — bad bytes may only end in a vae::error, never a crash.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "vae/core/error.hpp"

namespace vae::fuzz {

// Runs `parse`; a vae::error is the expected answer to malformed input and is swallowed. Any other exception
// (std::bad_alloc, std::length_error, a json exception that escaped its wrapper) propagates, and libFuzzer
// reports it as a crash: the loaders promise a clear vae::error for every input.
template <class F>
void expect_only_vae_errors(F&& parse) {
  try {
    parse();
  } catch (const vae::error&) {
  }
}

// Stops the run (libFuzzer reports the input) when an invariant of a successful parse does not hold.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
    std::abort();
  }
}

// For loaders that only take a path (gzip through zlib's gzopen, config files): the input written to a file
// private to this process, rewritten on every call. In /dev/shm (memory) where there is one: /tmp on a busy disk
// made these targets ten times slower.
inline std::string write_scratch(const std::uint8_t* data, std::size_t size, const char* suffix) {
  static const std::string dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/vae-fuzz-" + std::to_string(::getpid()) + suffix;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

inline std::vector<unsigned char> bytes(const std::uint8_t* data, std::size_t size) { return {data, data + size}; }

}  // namespace vae::fuzz
