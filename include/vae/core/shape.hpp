// shape: a small fixed-capacity list of dimensions (rank ≤ 6), printable, comparable.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include "vae/core/error.hpp"

namespace vae {

class shape {
 public:
  static constexpr std::size_t max_rank = 6;

  shape() = default;
  shape(std::initializer_list<std::int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit shape(const std::vector<std::int64_t>& dims) { assign(dims.begin(), dims.end()); }

  std::size_t rank() const { return rank_; }
  std::int64_t operator[](std::size_t i) const { return dims_[i]; }
  std::int64_t& operator[](std::size_t i) { return dims_[i]; }
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + rank_; }

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (std::size_t i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }
  std::vector<std::int64_t> to_vector() const { return {begin(), end()}; }

  friend bool operator==(const shape& a, const shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (std::size_t i = 0; i < a.rank_; ++i)
      if (a.dims_[i] != b.dims_[i]) return false;
    return true;
  }
  friend std::ostream& operator<<(std::ostream& out, const shape& s) {
    out << '[';
    for (std::size_t i = 0; i < s.rank_; ++i) out << (i ? ", " : "") << s.dims_[i];
    return out << ']';
  }
  std::string str() const { return cat(*this); }

 private:
  template <class It>
  void assign(It first, It last) {
    for (; first != last; ++first) {
      check(rank_ < max_rank, "vae::shape: rank above 6 is not supported");
      check(*first >= 0, [&] { return cat("vae::shape: negative dimension ", *first); });
      dims_[rank_++] = *first;
    }
  }
  std::array<std::int64_t, max_rank> dims_{};
  std::size_t rank_ = 0;
};

}  // namespace vae
