// distributed: the CLI trainer's data-parallel side — the world (MPI when launched by mpirun, else one process), the
// shards of each global batch, the gradient mean, the start-up broadcast and the cross-rank checks.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/run_config.hpp"
#include "cli/runner.hpp"
#include "vae/core/error.hpp"
#include "vae/dist/communicator.hpp"
#include "vae/dist/gradient_reducer.hpp"
#if defined(VAE_WITH_MPI)
#include "vae/dist/mpi_communicator.hpp"
#endif

namespace vae::cli {

// How the run splits over ranks. Every rank walks the same global order (batch_sampler over the global batch with
// the run's seed, whatever the world size) and takes rows [rank·b, (rank+1)·b) of each global batch of W·b images.
// Each rank's gradient is the mean over its b images; their mean over ranks (one allreduce per bucket) is the
// gradient of the global batch's mean loss, so W ranks at global batch B follow one process at batch B to float
// rounding (the sums over ranks are added in another order than the sums over the batch).
class distributed {
 public:
  // MPI when the process was started by an MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK);
  // one process otherwise. VAE_DIST_TIMEOUT (seconds, default 300): how long a rank waits for the others in any one
  // collective before it stops with an error.
  static std::unique_ptr<distributed> start() {
    auto d = std::unique_ptr<distributed>(new distributed());
    if (launched_by_mpi()) {
#if defined(VAE_WITH_MPI)
      double timeout = 300.0;
      if (const char* t = std::getenv("VAE_DIST_TIMEOUT")) timeout = std::atof(t);
      check(timeout > 0, "VAE_DIST_TIMEOUT must be a positive number of seconds");
      auto mpi = std::make_unique<dist::mpi_communicator>(timeout);
      d->mpi_ = mpi.get();
      d->comm_ = std::move(mpi);
#else
      const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
      check(n == nullptr || std::string(n) == "1",
            "started by mpirun with several ranks, but this vae was built without MPI (configure with "
            "-DVAE_WITH_MPI=ON, needs libopenmpi-dev): every rank would train alone");
      d->comm_ = std::make_unique<dist::local_communicator>();
#endif
    } else {
      d->comm_ = std::make_unique<dist::local_communicator>();
    }
    return d;
  }

  int rank() const { return comm_->rank(); }
  int size() const { return comm_->size(); }
  bool parallel() const { return size() > 1; }
  // Rank 0 alone writes the run directory (checkpoints, metrics, pictures) and evaluates.
  bool writer() const { return rank() == 0; }
  dist::collective& comm() { return *comm_; }
  std::string describe() const { return comm_->describe(); }
  // Where this rank's progress goes: stderr on rank 0, nowhere on the others (one progress display per run).
  std::ostream& progress_stream() {
    static std::ostream discard(nullptr);
    return writer() ? std::cerr : discard;
  }

  // After an error: one process returns; a rank of a parallel run ends the whole job (the others may be waiting in
  // a collective that this rank will never join).
  [[noreturn]] void abort(int code) {
#if defined(VAE_WITH_MPI)
    if (mpi_ != nullptr && parallel()) mpi_->abort(code);
#endif
    std::exit(code);
  }

  // The global batch from the flags: --global-batch G (the same optimisation on any world size), else --batch b per
  // rank (G = W·b, PyTorch DDP's convention). A resumed run keeps its config's global batch.
  std::int64_t global_batch(std::int64_t batch, std::int64_t global_flag) const {
    if (global_flag > 0) return global_flag;
    return batch * size();
  }

  // Refuses a run whose config differs across ranks (naming the field and both values) and a world that the data
  // cannot feed: every rank needs b = G / W >= 1 images per step and the data set at least one global batch.
  void check_run(const run_config& c, std::int64_t train_images) {
    if (!parallel()) return;  // one process: the run's own checks, as without MPI
    check_same_config(c.to_json());
    check_world_fits(c.batch, train_images);
  }
  // Refuses a config (JSON fields) that differs across ranks, naming the field and both values; "threads" is a
  // per-process resource and may differ.
  void check_same_config(nlohmann::json j) {
    if (!parallel()) return;
    j.erase("threads");
    for (const auto& [key, value] : j.items()) {
      const std::string mine = value.dump();
      // Every rank sees every rank's digest, so all ranks reach the same verdict and refuse together.
      const auto differ = dist::ranks_differing(*comm_, mine);
      if (differ.empty()) continue;
      std::vector<std::uint8_t> root_value(mine.begin(), mine.end());
      std::int64_t len = static_cast<std::int64_t>(root_value.size());
      comm_->broadcast(&len, 1, 0);
      root_value.resize(static_cast<std::size_t>(len));
      comm_->broadcast(root_value.data(), root_value.size(), 0);
      std::string ranks;
      for (int r : differ) ranks += cat(ranks.empty() ? "" : ", ", r);
      const std::string theirs = rank() == 0 ? cat("rank(s) ", ranks, " another value")
                                             : cat("rank ", rank(), " has ", mine);
      vae::detail::throw_error(cat("data-parallel run refused: the config field '", key, "' (--", flag_name(key),
                                   ") differs across ranks: rank 0 has ", std::string(root_value.begin(), root_value.end()),
                                   ", ", theirs, "; start every rank with the same flags"));
    }
  }
  // Every rank needs b = G / W >= 1 images per step and the data set at least one global batch.
  void check_world_fits(std::int64_t global_batch, std::int64_t train_images) const {
    if (!parallel()) return;
    check(global_batch % size() == 0 && global_batch >= size(), [&] {
      return cat("data-parallel run refused: the global batch ", global_batch, " does not split into ", size(),
                 " equal per-rank batches (need a multiple of the world size; --global-batch or --batch per rank)");
    });
    check(train_images >= global_batch, [&] {
      return cat("data-parallel run refused: ", train_images, " training images make no global batch of ", global_batch,
                 " (", size(), " ranks x ", global_batch / size(), "): a world size of ", size(),
                 " is larger than the data set's batches allow (fewer ranks, a smaller batch or more data)");
    });
  }

  std::int64_t local_batch(std::int64_t global) const { return global / size(); }

  // This rank's rows of a global batch.
  void shard(const std::vector<std::int64_t>& global, std::vector<std::int64_t>& local) const {
    const std::size_t b = global.size() / static_cast<std::size_t>(size());
    local.assign(global.begin() + static_cast<std::ptrdiff_t>(b * rank()),
                 global.begin() + static_cast<std::ptrdiff_t>(b * (rank() + 1)));
  }

  // Rank 0's parameters and buffers (BatchNorm statistics, EMA codebooks, k-means flags) on every rank: at start
  // (after a resume's load) every rank then holds the same model. Host stores (cpu) only.
  void broadcast_parameters(runner& m) {
    for (auto* store : host_stores(m)) broadcast_parameters(*store);
  }
  void broadcast_parameters(parameter_store<float, cpu>& store) {
    if (!parallel()) return;
    comm_->broadcast(store.values(), static_cast<std::size_t>(store.size()), 0);  // values() thaws a frozen store
  }

  // Sets up the gradient mean of the model's store (after set_communicator): a gradient_reducer whose buckets
  // (VAE_DIST_BUCKET_ELEMENTS floats, default 2^18 = 1 MiB, DDP's first-bucket size) go out on a communication
  // thread as the model's backward declares them final, overlapping the rest of the backward — by default when the
  // ranks span several hosts (the network moves the bytes while the cores compute). On one host the allreduce is
  // memory copies by the same cores that run the backward, and overlapping it measured 3–5% slower than reducing
  // after the backward (docs/distributed.md), so there the buckets go after it. VAE_DIST_OVERLAP=1 or 0 forces
  // either. A model that averages its own gradients (vqgan) needs none.
  void attach(runner& m) {
    if (!parallel() || m.averages_own_gradients()) return;
    m.set_gradient_sync(attach(host_store(m)));
  }
  // The same for a model driven without a runner (text2img's prior): the sync to hand to its set_gradient_sync, or
  // null (one process, or overlap off: then average_gradients() reduces everything after the backward).
  dist::gradient_reducer* attach(parameter_store<float, cpu>& store) {
    if (!parallel()) return nullptr;
    dist::gradient_reducer_options o;
    o.bucket_elements = bucket_elements();
    o.overlap = overlap(*comm_);
    reducer_ = std::make_unique<dist::gradient_reducer>(*comm_, store, o);
    return o.overlap ? reducer_.get() : nullptr;
  }
  static bool overlap(const dist::collective& comm) {
    const char* v = std::getenv("VAE_DIST_OVERLAP");
    if (v == nullptr || *v == '\0') return comm.spans_hosts();
    check(std::string(v) == "0" || std::string(v) == "1",
          [&] { return cat("VAE_DIST_OVERLAP must be 0 or 1, got '", v, "'"); });
    return std::string(v) == "1";
  }
  static std::size_t bucket_elements() {
    const char* v = std::getenv("VAE_DIST_BUCKET_ELEMENTS");
    if (v == nullptr) return std::size_t{1} << 18;
    const long long n = std::atoll(v);
    check(n > 0, [&] { return cat("VAE_DIST_BUCKET_ELEMENTS must be a positive number of floats, got '", v, "'"); });
    return static_cast<std::size_t>(n);
  }
  // "2 of 4 buckets overlapped": how much of the last step's allreduce the backward could hide.
  std::string overlap_summary() const {
    if (reducer_ == nullptr) return "no reducer";
    return cat(reducer_->early_buckets(), " of ", reducer_->buckets(), " gradient buckets started by the backward's ready hooks",
               reducer_->background() ? " (communication thread)" : " (reduced after the backward)",
               comm_->spans_hosts() ? "; ranks on several hosts" : "; ranks on one host");
  }

  // The mean over ranks of each rank's accumulated gradient, before the optimizer step: waits for the buckets the
  // backward started and reduces the others.
  void average_gradients(runner& m) {
    if (!parallel() || m.averages_own_gradients()) return;
    average_gradients();
  }
  void average_gradients() {
    if (!parallel()) return;
    check(reducer_ != nullptr, "distributed::average_gradients: attach(model) was not called");
    reducer_->finish();
  }

  // The mean over ranks of a per-rank mean (each over the same number of images).
  double mean(double local) {
    if (!parallel()) return local;
    require_no_gradients_in_flight("mean");
    comm_->allreduce_sum(&local, 1);
    return local / size();
  }
  double sum(double local) {
    require_no_gradients_in_flight("sum");
    comm_->allreduce_sum(&local, 1);
    return local;
  }

  // Random draws per step: rank r takes its rows' part of the draws one process makes for the global batch
  // (`draws_per_image` each, in row order), and every rank's generator then ends where that process's would.
  void before_step(generator& rng, std::int64_t local_rows, std::int64_t draws_per_image) {
    step_start_ = rng.offset();
    rng.set_offset(step_start_ + static_cast<std::uint64_t>(rank() * local_rows * draws_per_image));
    draw_start_ = rng.offset();
  }
  void after_step(generator& rng, std::int64_t local_rows, std::int64_t draws_per_image) {
    if (!parallel()) return;
    const auto used = rng.offset() - draw_start_;
    check(used == static_cast<std::uint64_t>(local_rows * draws_per_image), [&] {
      return cat("data-parallel step: the model drew ", used, " random numbers for ", local_rows,
                 " images, expected ", local_rows * draws_per_image, " (", draws_per_image,
                 " per image); its draws cannot be split across ranks");
    });
    rng.set_offset(step_start_ + static_cast<std::uint64_t>(size() * local_rows * draws_per_image));
  }

  // Whether every rank holds the same parameters and buffers, bit for bit (a digest of the flat buffer compared with
  // rank 0's); a run whose ranks drifted apart stops here, at the checkpoint, naming the ranks.
  void check_same_parameters(runner& m, std::int64_t epoch) { check_same_parameters(host_stores(m), epoch); }
  void check_same_parameters(const std::vector<parameter_store<float, cpu>*>& stores, std::int64_t epoch) {
    if (!parallel()) return;
    std::string all;
    for (auto* store : stores) {
      const auto* bytes = reinterpret_cast<const char*>(store->values());
      all.append(bytes, bytes + static_cast<std::size_t>(store->size()) * sizeof(float));
    }
    const auto differ = dist::ranks_differing(*comm_, all);
    check(differ.empty(), [&] {
      return cat("data-parallel run: after epoch ", epoch, " the parameters of ", differ.size(),
                 " rank(s) differ from rank 0's (first: rank ", differ.empty() ? 0 : differ.front(),
                 "); the ranks drifted apart");
    });
  }


 private:
  distributed() = default;
  static bool launched_by_mpi() {
    return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
           std::getenv("PMIX_RANK") != nullptr;
  }
  static std::string flag_name(std::string key) {
    for (char& ch : key)
      if (ch == '_') ch = '-';
    return key;
  }
  parameter_store<float, cpu>& host_store(runner& m) {
    auto* host = dynamic_cast<runner_on<cpu>*>(&m);
    check(host != nullptr, [&] {
      return cat("data-parallel training runs on the cpu only for now (--device ", m.device(),
                 "): the gradients of a device model would go through dist/nccl_communicator.hpp, not wired here");
    });
    return host->store();
  }
  void require_no_gradients_in_flight(const char* what) const {
    check(reducer_ == nullptr || !reducer_->in_step(), [&] {
      return cat("distributed::", what, ": called while the step's gradient allreduces may be in flight; call "
                 "average_gradients first (every rank must meet the collectives in the same order)");
    });
  }
  std::vector<parameter_store<float, cpu>*> host_stores(runner& m) {
    std::vector<parameter_store<float, cpu>*> all{&host_store(m)};
    for (auto* s : m.other_host_stores()) all.push_back(s);
    return all;
  }

  std::unique_ptr<dist::collective> comm_;
  std::unique_ptr<dist::gradient_reducer> reducer_;
#if defined(VAE_WITH_MPI)
  dist::mpi_communicator* mpi_ = nullptr;
#endif
  std::uint64_t step_start_ = 0, draw_start_ = 0;
};

}  // namespace vae::cli
