// IDX reader (the MNIST / Fashion-MNIST format): big-endian header, unsigned-byte data, plain or gzipped, strictly validated.
#pragma once
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/shape.hpp"
#include "vae/core/tensor.hpp"

namespace vae::data {

namespace detail {
inline std::string hex(unsigned v, int digits) {
  static constexpr char d[] = "0123456789abcdef";
  std::string s = "0x";
  for (int i = digits - 1; i >= 0; --i) s.push_back(d[(v >> (4 * i)) & 0xF]);
  return s;
}
}  // namespace detail

// Reads a whole file, inflating it when it is gzip-compressed (detected by content, not by the name).
// A truncated or corrupt gzip stream is an error naming the file. Caps the inflated size at `max_bytes`.
inline std::vector<unsigned char> read_file_maybe_gzip(const std::string& path,
                                                       std::size_t max_bytes = std::size_t{1} << 34) {
  std::error_code ec;
  check(std::filesystem::is_regular_file(path, ec),
        [&] { return cat("cannot open '", path, "': no such file"); });
  gzFile f = gzopen(path.c_str(), "rb");
  check(f != nullptr, [&] { return cat("cannot open '", path, "': ", std::strerror(errno)); });
  gzbuffer(f, 1 << 17);
  std::vector<unsigned char> out;
  // Reads of 64 KiB doubling up to 1 MiB: a labels file is not given (and zeroed) a megabyte it does not use.
  unsigned chunk = 1u << 16;
  while (true) {
    const std::size_t old = out.size();
    out.resize(old + chunk);
    const int got = gzread(f, out.data() + old, chunk);
    chunk = std::min(chunk * 2, 1u << 20);
    if (got < 0) {
      int code = 0;
      const std::string why = gzerror(f, &code);
      gzclose(f);
      vae::detail::throw_error(cat("cannot read '", path, "': ", why, " (corrupt gzip data?)"));
    }
    out.resize(old + static_cast<std::size_t>(got));
    if (got == 0) break;
    if (out.size() > max_bytes) {
      gzclose(f);
      vae::detail::throw_error(cat("'", path, "' inflates to more than ", max_bytes, " bytes"));
    }
  }
  // gzread reports a stream cut short only through gzerror (Z_BUF_ERROR: "unexpected end of file").
  int code = Z_OK;
  const std::string why = gzerror(f, &code);
  const bool direct = gzdirect(f) != 0;
  gzclose(f);
  check(code == Z_OK || code == Z_STREAM_END, [&] {
    return cat("cannot read '", path, "': ", why, direct ? "" : " (truncated or corrupt .gz file)");
  });
  return out;
}

// One IDX array: the element type code (0x08 = unsigned byte), its dimensions, and its bytes.
struct idx_array {
  int type_code = 0x08;
  vae::shape dims;
  std::vector<std::uint8_t> data;
};

// Parses IDX bytes. Accepts only unsigned-byte data (type 0x08), rank 1..6. Rejects: a short header, a
// nonzero first two bytes, another element type, a dimension product that overflows, a data section shorter
// (truncated) or longer (trailing bytes) than the product. `origin` names the file in errors.
inline idx_array parse_idx(const std::vector<unsigned char>& b, const std::string& origin) {
  auto fail = [&](const std::string& why) { vae::detail::throw_error(cat("IDX file '", origin, "': ", why)); };
  if (b.size() < 4) fail(cat("file is ", b.size(), " bytes, too short for the 4-byte magic (truncated?)"));
  const unsigned magic = static_cast<unsigned>(b[0]) << 24 | static_cast<unsigned>(b[1]) << 16 |
                         static_cast<unsigned>(b[2]) << 8 | b[3];
  if (b[0] != 0 || b[1] != 0)
    fail(cat("bad magic ", detail::hex(magic, 8), " (an IDX file starts with two zero bytes; wrong file or still compressed?)"));
  if (b[2] != 0x08)
    fail(cat("element type ", detail::hex(b[2], 2), " is not supported (only 0x08, unsigned byte, as in MNIST)"));
  const int rank = b[3];
  if (rank < 1 || rank > static_cast<int>(shape::max_rank)) fail(cat("rank ", rank, " is outside 1..6"));
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(rank);
  if (b.size() < header) fail(cat("file is ", b.size(), " bytes, shorter than its ", header, "-byte header (truncated)"));
  std::vector<std::int64_t> dims;
  std::uint64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    const unsigned char* p = b.data() + 4 + 4 * i;
    const std::uint64_t d = static_cast<std::uint64_t>(p[0]) << 24 | static_cast<std::uint64_t>(p[1]) << 16 |
                            static_cast<std::uint64_t>(p[2]) << 8 | p[3];
    if (d != 0 && count > (std::numeric_limits<std::uint64_t>::max() >> 1) / d)
      fail("the product of the dimensions overflows");
    count *= d;
    dims.push_back(static_cast<std::int64_t>(d));
  }
  idx_array out;
  out.dims = shape(dims);
  const std::uint64_t have = b.size() - header;
  if (have != count)
    fail(cat("data section is ", have, " bytes but dimensions ", out.dims, " need ", count,
             have < count ? " (truncated file)" : " (trailing bytes)"));
  out.type_code = b[2];
  out.data.assign(b.begin() + static_cast<std::ptrdiff_t>(header), b.end());
  return out;
}

// Reads an IDX file, gzipped or not.
inline idx_array read_idx(const std::string& path) { return parse_idx(read_file_maybe_gzip(path), path); }

// Reads an image file (magic 0x00000803: [N, H, W] unsigned bytes) as tensor<uint8> [N, H, W].
inline tensor<std::uint8_t> read_idx_images(const std::string& path) {
  auto a = read_idx(path);
  check(a.dims.rank() == 3, [&] {
    return cat("IDX file '", path, "': expected images (magic 0x00000803, 3 dimensions), got ", a.dims.rank(),
               " dimension(s) ", a.dims);
  });
  tensor<std::uint8_t> t(a.dims);
  if (!a.data.empty()) std::memcpy(t.data(), a.data.data(), a.data.size());
  return t;
}

// Reads a label file (magic 0x00000801: [N] unsigned bytes) as int32 class indices.
inline std::vector<std::int32_t> read_idx_labels(const std::string& path) {
  const auto a = read_idx(path);
  check(a.dims.rank() == 1, [&] {
    return cat("IDX file '", path, "': expected labels (magic 0x00000801, 1 dimension), got ", a.dims.rank(),
               " dimensions ", a.dims);
  });
  return {a.data.begin(), a.data.end()};
}

}  // namespace vae::data
