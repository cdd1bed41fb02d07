// NumPy .npy read/write (format v1/v2/v3, little-endian, C order; dtypes <f4 <f8 |u1 <i4 <i8) with strict header checks.
#pragma once
#include <bit>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/io/atomic_file.hpp"
#include "vae/io/safetensors.hpp"  // vae::io::dtype, dtype_size, dtype_of, detail::convert

namespace vae::io {

namespace npy_detail {
static_assert(std::endian::native == std::endian::little, "npy I/O assumes a little-endian host");

inline constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

// The descr strings this reader accepts and what they map to. Single-byte types may be written '|u1' or '<u1'.
inline bool parse_descr(const std::string& d, dtype& out) {
  if (d == "<f4") out = dtype::f32;
  else if (d == "<f8") out = dtype::f64;
  else if (d == "|u1" || d == "<u1" || d == "u1") out = dtype::u8;
  else if (d == "<i4") out = dtype::i32;
  else if (d == "<i8") out = dtype::i64;
  else return false;
  return true;
}
inline const char* descr_of(dtype t) {
  switch (t) {
    case dtype::f32: return "<f4";
    case dtype::f64: return "<f8";
    case dtype::u8: return "|u1";
    case dtype::i32: return "<i4";
    case dtype::i64: return "<i8";
    default: return nullptr;
  }
}

// A tiny parser for the Python dict literal of an .npy header: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class header_parser {
 public:
  header_parser(std::string_view text, std::string origin) : s_(text), origin_(std::move(origin)) {}

  void parse(std::string& descr, bool& fortran, std::vector<std::uint64_t>& dims) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_ws();
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') { ++i_; break; }
      const std::string key = string_literal();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"')
          fail(cat("'descr' is not a simple dtype string (structured dtypes are not supported): ",
                   std::string(s_.substr(i_, 40))));
        descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        if (s_.substr(i_, 4) == "True") { fortran = true; i_ += 4; }
        else if (s_.substr(i_, 5) == "False") { fortran = false; i_ += 5; }
        else fail("'fortran_order' is neither True nor False");
        have_fortran = true;
      } else if (key == "shape") {
        expect('(');
        while (true) {
          skip_ws();
          if (peek() == ')') { ++i_; break; }
          dims.push_back(integer());
          skip_ws();
          if (peek() == ',') ++i_;
          else if (peek() != ')') fail("'shape' tuple is malformed");
        }
        have_shape = true;
      } else {
        fail(cat("unexpected header key '", key, "'"));
      }
      skip_ws();
      if (peek() == ',') ++i_;
      else if (peek() != '}') fail("header dict is malformed (expected ',' or '}')");
    }
    if (!have_descr || !have_fortran || !have_shape) fail("header lacks one of 'descr', 'fortran_order', 'shape'");
    skip_ws();
    if (i_ != s_.size()) fail("header has text after the closing '}'");
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    vae::detail::throw_error(cat("npy '", origin_, "': ", why, " (header: ", std::string(s_), ")"));
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) fail(cat("expected '", c, "' at header offset ", i_));
    ++i_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail(cat("expected a quoted string at header offset ", i_));
    ++i_;
    const auto end = s_.find(q, i_);
    if (end == std::string_view::npos) fail("unterminated string in header");
    std::string out(s_.substr(i_, end - i_));
    i_ = end + 1;
    return out;
  }
  std::uint64_t integer() {
    if (!std::isdigit(static_cast<unsigned char>(peek()))) fail(cat("expected a non-negative integer in 'shape' at offset ", i_));
    std::uint64_t v = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      const auto digit = static_cast<std::uint64_t>(peek() - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) fail("a 'shape' dimension overflows 64 bits");
      v = v * 10 + digit;
      ++i_;
    }
    if (peek() == 'L') ++i_;  // Python 2 long suffix
    return v;
  }

  std::string_view s_;
  std::string origin_;
  std::size_t i_ = 0;
};
}  // namespace npy_detail

// An .npy file in memory: its dtype, shape and raw little-endian C-order bytes.
struct npy_array {
  dtype type = dtype::f32;
  vae::shape dims;
  std::vector<unsigned char> bytes;
  std::string origin;  // the file (or what parse_npy was told), named in conversion errors

  std::int64_t numel() const { return dims.numel(); }

  // Converts to tensor<T> (any of float, double, int32, int64, uint8), casting element by element.
  // A 0-d array becomes a rank-0 tensor of one element.
  template <class T>
  tensor<T> as() const {
    tensor<T> t(dims);
    const auto n = static_cast<std::size_t>(dims.numel());
    const unsigned char* p = bytes.data();
    try {
      switch (type) {
        case dtype::f32: detail::convert<float>(p, t.data(), n); break;
        case dtype::f64: detail::convert<double>(p, t.data(), n); break;
        case dtype::u8: detail::convert<std::uint8_t>(p, t.data(), n); break;
        case dtype::i32: detail::convert<std::int32_t>(p, t.data(), n); break;
        case dtype::i64: detail::convert<std::int64_t>(p, t.data(), n); break;
        default: vae::detail::throw_error(cat("npy_array::as: unsupported stored dtype ", dtype_name(type)));
      }
    } catch (const vae::error& e) {  // an element an integer T cannot hold: name the file and its dtype
      vae::detail::throw_error(
          cat("npy '", origin, "' (dtype ", npy_detail::descr_of(type), ", shape ", dims, "): ", e.message()));
    }
    return t;
  }
};

// Parses .npy bytes; `origin` names the source in errors. Rejects: a bad magic or version, a truncated or
// malformed header, Fortran order, an unsupported or big-endian dtype, rank > 6, a size that overflows, and
// a data section whose length is not exactly shape product × element size.
inline npy_array parse_npy(const std::vector<unsigned char>& file, const std::string& origin) {
  auto fail = [&](const std::string& why) { vae::detail::throw_error(cat("npy '", origin, "': ", why)); };
  if (file.size() < 10) fail(cat("file is ", file.size(), " bytes, too short for an .npy preamble (10 bytes)"));
  if (std::memcmp(file.data(), npy_detail::magic, 6) != 0) fail("bad magic (expected \\x93NUMPY): not an .npy file");
  const int major = file[6], minor = file[7];
  std::size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<std::size_t>(file[8]) | static_cast<std::size_t>(file[9]) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (file.size() < 12) fail(cat("file is ", file.size(), " bytes, too short for a v", major, " preamble (12 bytes)"));
    std::uint32_t len = 0;
    std::memcpy(&len, file.data() + 8, 4);
    header_len = len;
    header_start = 12;
  } else {
    fail(cat("unsupported format version ", major, ".", minor, " (expected 1.x, 2.x or 3.x)"));
  }
  if (header_len > file.size() - header_start)
    fail(cat("header length ", header_len, " runs past the end of the ", file.size(), "-byte file (truncated?)"));
  const std::string_view text(reinterpret_cast<const char*>(file.data()) + header_start, header_len);
  std::string descr;
  bool fortran = false;
  std::vector<std::uint64_t> dims;
  npy_detail::header_parser(text, origin).parse(descr, fortran, dims);
  if (fortran)
    fail("fortran_order is True: only C-order arrays are supported (save with np.ascontiguousarray(a))");
  npy_array out;
  if (!npy_detail::parse_descr(descr, out.type)) {
    if (!descr.empty() && descr[0] == '>')
      fail(cat("dtype '", descr, "' is big-endian: only little-endian data is supported (use a.astype(a.dtype.newbyteorder('<')))"));
    fail(cat("unsupported dtype '", descr, "' (supported: <f4 <f8 |u1 <i4 <i8)"));
  }
  if (dims.size() > shape::max_rank) fail(cat("rank ", dims.size(), " exceeds the supported maximum of 6"));
  const std::uint64_t elem = dtype_size(out.type);
  std::uint64_t count = 1;
  std::vector<std::int64_t> sdims;
  for (const auto d : dims) {
    if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / elem / d))
      fail("shape product overflows");
    count *= d;
    sdims.push_back(static_cast<std::int64_t>(d));
  }
  out.dims = shape(sdims);
  const std::size_t data_start = header_start + header_len;
  const std::uint64_t have = file.size() - data_start, need = count * elem;
  if (have != need)
    fail(cat("data section is ", have, " bytes but shape ", out.dims, " of ", descr, " needs ", need,
             have < need ? " (truncated file)" : " (trailing bytes)"));
  out.bytes.assign(file.begin() + static_cast<std::ptrdiff_t>(data_start), file.end());
  out.origin = origin;
  return out;
}

inline npy_array read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(static_cast<bool>(in), [&] { return cat("cannot open npy file '", path, "'"); });
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  check(!in.bad(), [&] { return cat("read error on npy file '", path, "'"); });
  return parse_npy(bytes, path);
}

// Serialises to .npy bytes: version 1.0 when the header fits 65535 bytes, else 2.0; header padded to 64 bytes.
template <class T>
std::vector<unsigned char> encode_npy(const T* data, const shape& s) {
  constexpr dtype type = dtype_of<T>();
  const char* descr = npy_detail::descr_of(type);
  std::string dict = cat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (");
  for (std::size_t i = 0; i < s.rank(); ++i) dict += cat(s[i], s.rank() == 1 ? "," : (i + 1 < s.rank() ? ", " : ""));
  dict += "), }";
  int version = 1;
  std::size_t pre = 10;
  auto padded = [&] {
    std::string h = dict;
    while ((pre + h.size() + 1) % 64) h.push_back(' ');
    h.push_back('\n');
    return h;
  };
  std::string h = padded();
  if (h.size() > 65535) {
    version = 2;
    pre = 12;
    h = padded();
  }
  const std::size_t nbytes = static_cast<std::size_t>(s.numel()) * sizeof(T);
  std::vector<unsigned char> out;
  out.reserve(pre + h.size() + nbytes);
  out.insert(out.end(), npy_detail::magic, npy_detail::magic + 6);
  out.push_back(static_cast<unsigned char>(version));
  out.push_back(0);
  const auto len = static_cast<std::uint32_t>(h.size());
  out.push_back(static_cast<unsigned char>(len & 0xFF));
  out.push_back(static_cast<unsigned char>((len >> 8) & 0xFF));
  if (version == 2) {
    out.push_back(static_cast<unsigned char>((len >> 16) & 0xFF));
    out.push_back(static_cast<unsigned char>((len >> 24) & 0xFF));
  }
  out.insert(out.end(), h.begin(), h.end());
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  if (nbytes) out.insert(out.end(), p, p + nbytes);
  return out;
}

// Writes `data` (C order, shape s) to `path` atomically. T: float, double, uint8_t, int32_t, int64_t.
template <class T>
void write_npy(const std::string& path, const T* data, const shape& s) {
  const auto bytes = encode_npy(data, s);
  write_file_atomically(path, [&](file_sink& sink) { sink.write(bytes.data(), bytes.size()); });
}

template <class T>
void write_npy(const std::string& path, const tensor<T>& t) {
  write_npy(path, t.data(), t.shape());
}

}  // namespace vae::io
