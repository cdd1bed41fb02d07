// gradient_reducer: the data-parallel gradient mean of a host parameter_store in buckets, each bucket's allreduce
// started as soon as the backward has finished every gradient in it and run on a communication thread while the
// backward goes on (PyTorch DDP's reducer), then divided by the world size.
#pragma once
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/parameters.hpp"
#include "vae/dist/communicator.hpp"
#include "vae/dist/gradient_sync.hpp"

namespace vae::dist {

struct gradient_reducer_options {
  // Floats per bucket (one allreduce each). Buckets are cut from the END of the store's trainable range: models
  // register parameters in forward order and their backward finishes the last ones first.
  std::size_t bucket_elements = std::size_t{1} << 22;
  // Start a bucket's allreduce on the communication thread when it is ready (true), or run every bucket in finish()
  // (false: the reduction after the backward, for comparison). Without a communicator that allows a second thread
  // (collective::allows_background_thread), buckets run on the calling thread when they become ready.
  bool overlap = true;
  // Testing aid: remember each bucket's contents when it is declared ready and, in finish(), throw if the backward
  // wrote any of it afterwards (a ready() called too early). Needs a world of one (the allreduce changes nothing).
  bool verify = false;
};

class gradient_reducer final : public gradient_sync<float> {
 public:
  gradient_reducer(collective& comm, parameter_store<float, cpu>& store, gradient_reducer_options o = {})
      : comm_(comm), store_(store), o_(o) {
    check(!o_.verify || comm.size() == 1, "gradient_reducer: verify needs a world of one rank");
    grads_ = store.grads();
    n_ = static_cast<std::size_t>(store.trainable_size());
    const std::size_t step = o_.bucket_elements > 0 ? o_.bucket_elements : std::max<std::size_t>(n_, 1);
    for (std::size_t end = n_; end > 0;) {
      const std::size_t begin = end > step ? end - step : 0;
      buckets_.push_back({begin, end});
      end = begin;
    }
    background_ = o_.overlap && comm.size() > 1 && comm.allows_background_thread();
    if (background_) worker_ = std::thread([this] { work(); });
  }
  gradient_reducer(const gradient_reducer&) = delete;
  gradient_reducer& operator=(const gradient_reducer&) = delete;
  ~gradient_reducer() override {
    if (!worker_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  void ready(const float* grad, std::size_t n) override {
    if (!active()) return;
    check(grad >= grads_ && grad + n <= grads_ + n_, [&] {
      return cat("gradient_reducer::ready: ", n, " gradients outside this store's trainable range (a model declared "
                 "a gradient of another store ready)");
    });
    const std::size_t begin = static_cast<std::size_t>(grad - grads_), end = begin + n;
    for (const auto& [b, e] : declared_)
      check(end <= b || begin >= e, [&] {
        return cat("gradient_reducer::ready: gradients [", begin, ", ", end, ") were declared ready twice in one step");
      });
    declared_.emplace_back(begin, end);
    if (!o_.overlap) return;
    for (std::size_t k = 0; k < buckets_.size(); ++k) {
      auto& bk = buckets_[k];
      const std::size_t lo = std::max(begin, bk.begin), hi = std::min(end, bk.end);
      if (lo >= hi) continue;
      bk.ready += hi - lo;
      if (bk.ready == bk.end - bk.begin) {
        launch(k);
        ++early_;
      }
    }
  }

  void finish() override {
    if (!active()) {
      declared_.clear();
      return;
    }
    // Gradients no backward wrote this step and never declared (a frozen part): cleared, as the optimizer sees them.
    store_.grads();
    last_early_ = early_;
    for (std::size_t k = 0; k < buckets_.size(); ++k)
      if (!buckets_[k].launched) launch(k);
    if (background_) {
      std::unique_lock<std::mutex> lock(m_);
      done_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
      if (error_) {
        auto e = std::exchange(error_, nullptr);
        reset();
        std::rethrow_exception(e);
      }
    }
    if (o_.verify) {
      try {
        verify();
      } catch (...) {
        reset();  // the next step starts clean
        throw;
      }
    }
    reset();
  }

  // Whether gradients were declared ready since the last finish(): their allreduces may be in flight, and the
  // caller must not start another collective until finish() (the ranks would meet in different collectives).
  bool in_step() const { return !declared_.empty(); }
  // Buckets started before finish() in the last step (a measure of the overlap the model's hooks allow).
  std::size_t early_buckets() const { return last_early_; }
  std::size_t buckets() const { return buckets_.size(); }
  bool background() const { return background_; }

 private:
  struct bucket {
    std::size_t begin, end, ready = 0;
    bool launched = false;
  };

  bool active() const { return comm_.size() > 1 || o_.verify; }

  void launch(std::size_t k) {
    auto& bk = buckets_[k];
    bk.launched = true;
    if (o_.verify) {
      snapshots_.emplace_back(k, std::vector<float>(grads_ + bk.begin, grads_ + bk.end));
      return;
    }
    if (!background_) {
      reduce(bk);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(m_);
      queue_.push_back(k);
    }
    cv_.notify_one();
  }

  // Sum over ranks, then the mean (as allreduce_mean: exact scaling for a power-of-two world).
  void reduce(const bucket& bk) {
    float* d = grads_ + bk.begin;
    const std::size_t n = bk.end - bk.begin;
    comm_.allreduce_sum(d, n);
    const float inv = 1.0f / static_cast<float>(comm_.size());
    for (std::size_t i = 0; i < n; ++i) d[i] *= inv;
  }

  void work() {
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      const std::size_t k = queue_.front();
      queue_.pop_front();
      busy_ = true;
      const bool skip = error_ != nullptr;  // after a failed allreduce the ranks are out of step: no more
      lock.unlock();
      try {
        if (!skip) reduce(buckets_[k]);
      } catch (...) {
        error_ = std::current_exception();
      }
      lock.lock();
      busy_ = false;
      if (queue_.empty()) done_cv_.notify_all();
    }
  }

  void verify() {
    for (const auto& [k, before] : snapshots_) {
      const auto& bk = buckets_[k];
      for (std::size_t i = 0; i < before.size(); ++i)
        check(before[i] == grads_[bk.begin + i] || (before[i] != before[i] && grads_[bk.begin + i] != grads_[bk.begin + i]),
              [&] {
                return cat("gradient_reducer: gradient ", bk.begin + i, " changed after its bucket [", bk.begin, ", ",
                           bk.end, ") was declared ready (", before[i], " then ", grads_[bk.begin + i],
                           "): the model calls ready() before its backward is done with it");
              });
    }
  }

  void reset() {
    early_ = 0;
    for (auto& bk : buckets_) bk.ready = 0, bk.launched = false;
    declared_.clear();
    snapshots_.clear();
  }

  collective& comm_;
  parameter_store<float, cpu>& store_;
  gradient_reducer_options o_;
  float* grads_ = nullptr;
  std::size_t n_ = 0;
  std::vector<bucket> buckets_;
  std::vector<std::pair<std::size_t, std::size_t>> declared_;
  std::vector<std::pair<std::size_t, std::vector<float>>> snapshots_;
  std::size_t early_ = 0, last_early_ = 0;
  bool background_ = false;
  std::thread worker_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  std::deque<std::size_t> queue_;
  bool busy_ = false, stop_ = false;
  std::exception_ptr error_;
};

}  // namespace vae::dist
