// safetensors read/write (the format PyTorch's safetensors package uses), with strict header validation.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/io/atomic_file.hpp"

namespace vae::io {

enum class dtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

inline std::size_t dtype_size(dtype t) {
  switch (t) {
    case dtype::f64: case dtype::i64: return 8;
    case dtype::f32: case dtype::i32: return 4;
    case dtype::f16: case dtype::bf16: case dtype::i16: return 2;
    case dtype::i8: case dtype::u8: case dtype::boolean: return 1;
  }
  return 0;
}
inline const char* dtype_name(dtype t) {
  switch (t) {
    case dtype::f64: return "F64"; case dtype::f32: return "F32"; case dtype::f16: return "F16";
    case dtype::bf16: return "BF16"; case dtype::i64: return "I64"; case dtype::i32: return "I32";
    case dtype::i16: return "I16"; case dtype::i8: return "I8"; case dtype::u8: return "U8";
    case dtype::boolean: return "BOOL";
  }
  return "?";
}
inline bool parse_dtype(const std::string& s, dtype& out) {
  for (dtype t : {dtype::f64, dtype::f32, dtype::f16, dtype::bf16, dtype::i64, dtype::i32, dtype::i16, dtype::i8,
                  dtype::u8, dtype::boolean})
    if (s == dtype_name(t)) {
      out = t;
      return true;
    }
  return false;
}
template <class T> constexpr dtype dtype_of();
template <> constexpr dtype dtype_of<double>() { return dtype::f64; }
template <> constexpr dtype dtype_of<float>() { return dtype::f32; }
template <> constexpr dtype dtype_of<std::int64_t>() { return dtype::i64; }
template <> constexpr dtype dtype_of<std::int32_t>() { return dtype::i32; }
template <> constexpr dtype dtype_of<std::uint8_t>() { return dtype::u8; }

namespace detail {
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) bits = sign;
    else {  // subnormal: renormalise
      int e = -1;
      std::uint32_t m = mant;
      do { ++e; m <<= 1; } while ((m & 0x400u) == 0);
      bits = sign | static_cast<std::uint32_t>(127 - 15 - e) << 23 | (m & 0x3FFu) << 13;
    }
  } else if (exp == 31) bits = sign | 0x7F800000u | mant << 13;
  else bits = sign | (exp + 112) << 23 | mant << 13;
  return std::bit_cast<float>(bits);
}

// Whether integer type T holds `v` exactly: a whole, finite value inside T's range. Converting anything else
// (NaN, 1e31 or 3.5 stored as float, 2^40 stored as int64) to T would be undefined or silently wrong.
template <class T, class Src>
bool holds_exactly(Src v) {
  if constexpr (std::is_floating_point_v<Src>) {
    const long double x = v;  // T's bounds are powers of two, exact in long double
    const long double lo = static_cast<long double>(std::numeric_limits<T>::min());
    const long double hi = std::ldexp(1.0L, std::numeric_limits<T>::digits);
    return std::isfinite(x) && x == std::trunc(x) && x >= lo && x < hi;
  } else {
    return std::in_range<T>(v);
  }
}

// One stored element as T; an integer T must hold it exactly (see holds_exactly), else a vae::error names it.
template <class T, class Src>
T element_as(Src v, std::size_t i) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, Src>) {
    if (!holds_exactly<T>(v))
      vae::detail::throw_error(cat("element ", i, " is ", +v, ", which cannot be read as a ", sizeof(T) * 8, "-bit ",
                                   std::is_signed_v<T> ? "signed" : "unsigned",
                                   " integer (it must be a whole number in range; save the array with an integer dtype)"));
  }
  return static_cast<T>(v);
}

template <class Src, class T>
void convert(const unsigned char* src, T* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    Src v;
    std::memcpy(&v, src + i * sizeof(Src), sizeof(Src));
    dst[i] = element_as<T>(v, i);
  }
}
}  // namespace detail

// One tensor of a safetensors file: name, dtype, shape and its raw little-endian bytes.
struct stored_tensor {
  std::string name;
  dtype type = dtype::f32;
  vae::shape dims;
  std::vector<unsigned char> bytes;

  // Converts the stored values to T (floating or integer dtypes of any width).
  template <class T>
  std::vector<T> values() const {
    const std::size_t n = static_cast<std::size_t>(dims.numel());
    std::vector<T> out(n);
    const unsigned char* p = bytes.data();
    switch (type) {
      case dtype::f64: detail::convert<double>(p, out.data(), n); break;
      case dtype::f32: detail::convert<float>(p, out.data(), n); break;
      case dtype::i64: detail::convert<std::int64_t>(p, out.data(), n); break;
      case dtype::i32: detail::convert<std::int32_t>(p, out.data(), n); break;
      case dtype::i16: detail::convert<std::int16_t>(p, out.data(), n); break;
      case dtype::i8: detail::convert<std::int8_t>(p, out.data(), n); break;
      case dtype::u8: case dtype::boolean: detail::convert<std::uint8_t>(p, out.data(), n); break;
      case dtype::f16:
        for (std::size_t i = 0; i < n; ++i) {
          std::uint16_t h;
          std::memcpy(&h, p + 2 * i, 2);
          out[i] = detail::element_as<T>(detail::half_to_float(h), i);
        }
        break;
      case dtype::bf16:
        for (std::size_t i = 0; i < n; ++i) {
          std::uint16_t h;
          std::memcpy(&h, p + 2 * i, 2);
          out[i] = detail::element_as<T>(std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16), i);
        }
        break;
    }
    return out;
  }
  template <class T>
  tensor<T> to_tensor() const {
    tensor<T> t(dims);
    const auto v = values<T>();
    std::copy(v.begin(), v.end(), t.data());
    return t;
  }
};

// A whole safetensors file in memory. load() validates everything before returning: the header length,
// the JSON, every dtype, shape (with overflow checks), and that the data offsets tile the data section
// exactly (no gaps, no overlaps, nothing past the end), as the format requires.
class safetensors_file {
 public:
  std::map<std::string, std::string> metadata;

  static safetensors_file parse(const std::vector<unsigned char>& file, const std::string& origin) {
    auto fail = [&](const std::string& why) -> void {
      vae::detail::throw_error(cat("safetensors '", origin, "': ", why));
    };
    if (file.size() < 8) fail(cat("file is ", file.size(), " bytes, too short for the 8-byte header length"));
    std::uint64_t header_len = 0;
    std::memcpy(&header_len, file.data(), 8);
    if (header_len > file.size() - 8)
      fail(cat("header length ", header_len, " exceeds the file size ", file.size(), " (truncated or not safetensors)"));
    if (header_len > 100'000'000) fail(cat("header length ", header_len, " is implausibly large"));
    const std::size_t data_start = 8 + static_cast<std::size_t>(header_len);
    const std::size_t data_size = file.size() - data_start;
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(file.begin() + 8, file.begin() + static_cast<std::ptrdiff_t>(data_start));
    } catch (const nlohmann::json::exception& e) {
      fail(cat("header is not valid JSON: ", e.what()));
    }
    if (!header.is_object()) fail("header is not a JSON object");

    safetensors_file out;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (!it->is_object()) fail("__metadata__ is not an object");
        for (auto m = it->begin(); m != it->end(); ++m) {
          if (!m->is_string()) fail(cat("__metadata__ value of '", m.key(), "' is not a string"));
          out.metadata[m.key()] = m->get<std::string>();
        }
        continue;
      }
      const auto& e = *it;
      const std::string& name = it.key();
      if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
        fail(cat("tensor '", name, "' needs dtype, shape and data_offsets"));
      stored_tensor t;
      t.name = name;
      if (!e["dtype"].is_string() || !parse_dtype(e["dtype"].get<std::string>(), t.type))
        fail(cat("tensor '", name, "' has unsupported dtype ", e["dtype"].dump()));
      if (!e["shape"].is_array() || e["shape"].size() > shape::max_rank)
        fail(cat("tensor '", name, "' has a bad shape ", e["shape"].dump(), " (an array of at most 6 sizes)"));
      std::vector<std::int64_t> dims;
      std::uint64_t count = 1;
      for (const auto& d : e["shape"]) {
        if (!d.is_number_unsigned()) fail(cat("tensor '", name, "' has a non-integer or negative dimension"));
        const std::uint64_t v = d.get<std::uint64_t>();
        if (v != 0 && count > std::numeric_limits<std::uint64_t>::max() / 8 / v)
          fail(cat("tensor '", name, "' has a shape whose size overflows"));
        count *= v;
        dims.push_back(static_cast<std::int64_t>(v));
      }
      t.dims = shape(dims);
      const auto& off = e["data_offsets"];
      if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
        fail(cat("tensor '", name, "' has bad data_offsets ", off.dump()));
      const auto begin = off[0].get<std::uint64_t>(), end = off[1].get<std::uint64_t>();
      if (begin > end || end > data_size)
        fail(cat("tensor '", name, "' has data_offsets [", begin, ", ", end, "] outside the ", data_size,
                 "-byte data section (truncated file?)"));
      if (end - begin != count * dtype_size(t.type))
        fail(cat("tensor '", name, "' spans ", end - begin, " bytes but its shape ", t.dims, " of ",
                 dtype_name(t.type), " needs ", count * dtype_size(t.type)));
      ranges.emplace_back(begin, end);
      const auto* src = file.data() + data_start + begin;
      t.bytes.assign(src, src + (end - begin));
      out.tensors_.push_back(std::move(t));
    }
    std::sort(ranges.begin(), ranges.end());
    std::uint64_t cursor = 0;
    for (const auto& [b, e] : ranges) {
      if (b != cursor) fail(cat("data offsets leave a gap or overlap at byte ", cursor));
      cursor = e;
    }
    if (cursor != data_size) fail(cat("data section has ", data_size - cursor, " trailing bytes no tensor covers"));
    return out;
  }

  static safetensors_file load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    check(static_cast<bool>(in), [&] { return cat("cannot open safetensors file '", path.string(), "'"); });
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse(bytes, path.string());
  }

  const std::vector<stored_tensor>& tensors() const { return tensors_; }
  const stored_tensor* find(const std::string& name) const {
    for (const auto& t : tensors_)
      if (t.name == name) return &t;
    return nullptr;
  }
  const stored_tensor& at(const std::string& name) const {
    const auto* t = find(name);
    check(t != nullptr, [&] { return cat("safetensors: no tensor named '", name, "'"); });
    return *t;
  }

 private:
  std::vector<stored_tensor> tensors_;
};

// Collects tensors and writes them as one safetensors file, atomically. Tensors are laid out in
// insertion order; the header is padded with spaces to a multiple of 8 bytes as the reference writer does.
class safetensors_writer {
 public:
  std::map<std::string, std::string> metadata;

  void add(const std::string& name, dtype type, const shape& dims, const void* data) {
    for (const auto& t : tensors_)
      check(t.name != name, [&] { return cat("safetensors_writer: duplicate tensor name '", name, "'"); });
    stored_tensor t{name, type, dims, {}};
    const std::size_t n = static_cast<std::size_t>(dims.numel()) * dtype_size(type);
    const auto* p = static_cast<const unsigned char*>(data);
    t.bytes.assign(p, p + n);
    tensors_.push_back(std::move(t));
  }
  template <class T>
  void add(const std::string& name, const shape& dims, const T* data) {
    add(name, dtype_of<T>(), dims, data);
  }
  template <class T>
  void add(const std::string& name, const tensor<T>& t) {
    add(name, dtype_of<T>(), t.shape(), t.data());
  }

  std::string header() const {
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    if (!metadata.empty()) h["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    for (const auto& t : tensors_) {
      h[t.name] = {{"dtype", dtype_name(t.type)},
                   {"shape", t.dims.to_vector()},
                   {"data_offsets", {offset, offset + t.bytes.size()}}};
      offset += t.bytes.size();
    }
    std::string s = h.dump();
    while (s.size() % 8) s.push_back(' ');
    return s;
  }

  void save(const std::filesystem::path& path) const {
    const std::string h = header();
    write_file_atomically(path, [&](file_sink& sink) {
      const std::uint64_t len = h.size();
      sink.write(&len, 8);
      sink.write(h);
      for (const auto& t : tensors_) sink.write(t.bytes.data(), t.bytes.size());
    });
  }

 private:
  std::vector<stored_tensor> tensors_;
};

}  // namespace vae::io
