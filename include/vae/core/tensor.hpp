// tensor<T, Backend>: owning, contiguous, row-major (NCHW) storage with a run-time shape; tensor_view: a non-owning window.
#pragma once
#include <algorithm>
#include <cstdint>
#include <utility>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/memory_format.hpp"
#include "vae/core/memory_space.hpp"
#include "vae/core/shape.hpp"

namespace vae {

// A non-owning, contiguous view of someone else's memory (a parameter slice, a batch of a dataset).
template <class T>
class tensor_view {
 public:
  tensor_view() = default;
  tensor_view(T* data, vae::shape s) : data_(data), shape_(s) {}

  T* data() const { return data_; }
  const vae::shape& shape() const { return shape_; }
  std::int64_t numel() const { return shape_.numel(); }
  std::int64_t dim(std::size_t i) const { return shape_[i]; }
  std::size_t rank() const { return shape_.rank(); }
  T& operator[](std::int64_t i) const { return data_[i]; }

 private:
  T* data_ = nullptr;
  vae::shape shape_;
};

// Owning tensor. Memory comes from the Backend; resize() keeps the allocation when the new size fits,
// so a training step that repeats the same batch shape allocates nothing after its first call.
template <class T, class Backend = cpu>
class tensor {
 public:
  using value_type = T;
  using backend = Backend;

  tensor() = default;
  explicit tensor(vae::shape s) { resize(s); }
  tensor(vae::shape s, T value) {
    resize(s);
    fill(value);
  }
  ~tensor() { Backend::deallocate(data_); }

  tensor(const tensor& other) : tensor(other.shape_) {
    Backend::copy(data_, other.data_, numel());
    format_ = other.format_;
  }
  tensor& operator=(const tensor& other) {
    if (this != &other) {
      resize(other.shape_);
      Backend::copy(data_, other.data_, numel());
      format_ = other.format_;
    }
    return *this;
  }
  tensor(tensor&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        capacity_(std::exchange(other.capacity_, 0)),
        shape_(std::exchange(other.shape_, vae::shape{0})),
        format_(std::exchange(other.format_, memory_format::channels_first)) {}
  tensor& operator=(tensor&& other) noexcept {
    if (this != &other) {
      Backend::deallocate(data_);
      data_ = std::exchange(other.data_, nullptr);
      capacity_ = std::exchange(other.capacity_, 0);
      shape_ = std::exchange(other.shape_, vae::shape{0});
      format_ = std::exchange(other.format_, memory_format::channels_first);
    }
    return *this;
  }

  // Sets the shape; reallocates only when the element count exceeds the capacity. Contents are unspecified after growth.
  void resize(vae::shape s) {
    const auto n = static_cast<std::size_t>(s.numel());
    if (n > capacity_) {
      Backend::deallocate(data_);
      data_ = nullptr;
      capacity_ = 0;
      data_ = Backend::template allocate<T>(n);
      capacity_ = n;
    }
    shape_ = s;
  }
  // Reinterprets the same elements under another shape with the same element count.
  void reshape(vae::shape s) {
    check(s.numel() == numel(),
          [&] { return cat("tensor::reshape: cannot view ", shape_, " (", numel(), " elements) as ", s); });
    shape_ = s;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  const vae::shape& shape() const { return shape_; }
  std::int64_t numel() const { return shape_.numel(); }
  std::int64_t dim(std::size_t i) const { return shape_[i]; }
  std::size_t rank() const { return shape_.rank(); }
  bool empty() const { return numel() == 0; }
  // How a 4-d activation lies in memory (core/memory_format.hpp): channels_first unless the layer that wrote it says
  // otherwise; resize and reshape keep it, the writer sets it.
  memory_format format() const { return format_; }
  void set_format(memory_format f) { format_ = f; }

  // Element access for host tensors only (device memory is not addressable from the host).
  T& operator[](std::int64_t i)
    requires HostBackend<Backend>
  {
    return data_[i];
  }
  const T& operator[](std::int64_t i) const
    requires HostBackend<Backend>
  {
    return data_[i];
  }
  T* begin() requires HostBackend<Backend> { return data_; }
  T* end() requires HostBackend<Backend> { return data_ + numel(); }
  const T* begin() const requires HostBackend<Backend> { return data_; }
  const T* end() const requires HostBackend<Backend> { return data_ + numel(); }

  void fill(T value) { Backend::fill(data_, static_cast<std::size_t>(numel()), value); }
  void zero() { fill(T(0)); }

  tensor_view<T> view() { return {data_, shape_}; }
  tensor_view<const T> view() const { return {data_, shape_}; }

 private:
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
  // An empty tensor is [0], not rank 0: a rank-0 shape has one element and would claim a null buffer holds it.
  vae::shape shape_{0};
  memory_format format_ = memory_format::channels_first;
};

// Throws a vae::error naming `what` when `actual` differs from `expected`.
inline void check_shape(const shape& actual, const shape& expected, const char* what) {
  check(actual == expected, [&] { return cat(what, ": expected shape ", expected, ", got ", actual); });
}

}  // namespace vae
