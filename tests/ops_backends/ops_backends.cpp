// The ops × backends driver, cpu half: every registered op case checked by finite differences in double (a
// nonzero count of derivatives asserted), each backward's += or = on every input gradient, exact cases float
// against double with equality, cases with a host formula against it; and the count check: every kernel<Op, Backend>
// specialisation under include/vae has a registered case on that backend, and every case's op has a kernel on each
// backend that claims it. The cuda half (parity and device finite differences) is tests/cuda/ops_backends.cu.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "registry.hpp"
#include "vae/testing/op_checks.hpp"

using namespace vae;

namespace ops_backends_test {

std::uint64_t case_seed(std::size_t config_index) { return 9001 + 104729 * config_index; }

// Every case must check something on the cpu: a backward to difference, exactness, or a host formula.
template <class C>
constexpr bool checked_on_cpu = testing::DifferentiableOpCase<C> || C::checks.exact || testing::ReferencedOpCase<C>;

// (op, backend) of every `struct kernel<op[<...>], backend>` under include/vae.
std::set<std::pair<std::string, std::string>> kernel_specialisations() {
  const std::regex spec(R"(struct\s+kernel<\s*(\w+)\s*(?:<[^<>]*>)?\s*,\s*(\w+)\s*>)");
  std::set<std::pair<std::string, std::string>> found;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(VAE_SOURCE_DIR) + "/include/vae")) {
    const auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".hpp" && ext != ".cuh")) continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    for (std::sregex_iterator it(s.begin(), s.end(), spec), end; it != end; ++it) found.insert({(*it)[1], (*it)[2]});
  }
  return found;
}

}  // namespace ops_backends_test

TEST_CASE("ops x backends: every differentiable op case matches finite differences in double on the cpu") {
  std::int64_t cases = 0, derivatives = 0, all_cases = 0, cuda_cases = 0;
  std::set<std::string> ops_seen;
  op_cases::op_registry::for_each([&]<class C>() {
    all_cases += static_cast<std::int64_t>(C::configs().size());
    if (C::on_cuda) cuda_cases += static_cast<std::int64_t>(C::configs().size());
    static_assert(ops_backends_test::checked_on_cpu<C>,
                  "an op case must check something on the cpu: a backward, exact, or a reference (see the note)");
    ops_seen.insert(C::op);
    if constexpr (testing::DifferentiableOpCase<C>) {
      std::int64_t checked = 0;
      const auto configs = C::configs();
      REQUIRE_MESSAGE(!configs.empty(), std::string(C::name) << ": no configs");
      for (std::size_t i = 0; i < configs.size(); ++i) {
        const auto report = testing::check_op_gradient<C>(configs[i], ops_backends_test::case_seed(i));
        INFO(std::string(C::name) << " (" << C::describe(configs[i]) << "): " << report.summary());
        CHECK(report.ok);
        CHECK(report.checked > 0);
        checked += report.checked;
        ++cases;
      }
      derivatives += checked;
      MESSAGE(std::string(C::name) << ": " << configs.size() << " configs, " << checked << " derivatives");
    }
  });
  MESSAGE("finite differences: " << cases << " cases, " << derivatives << " derivatives checked; registry: "
                                 << op_cases::op_registry::size << " case types over " << ops_seen.size() << " ops, "
                                 << all_cases << " cases (" << cuda_cases << " claimed by cuda)");
  CHECK(derivatives > 0);
}

TEST_CASE("ops x backends: every backward adds to the gradients its case says it adds to and writes the others") {
  std::int64_t cases = 0, values = 0;
  op_cases::op_registry::for_each([&]<class C>() {
    if constexpr (testing::DifferentiableOpCase<C>) {
      const auto configs = C::configs();
      for (std::size_t i = 0; i < configs.size(); ++i) {
        const auto report = testing::check_op_accumulation<C>(configs[i], ops_backends_test::case_seed(i));
        INFO(std::string(C::name) << " (" << C::describe(configs[i]) << "): " << report.checked << " values"
                                  << report.message);
        CHECK(report.ok);
        ++cases;
        values += report.checked;
      }
    }
  });
  MESSAGE("adds or writes: " << cases << " cases, " << values << " gradient values");
  CHECK(cases > 0);
}

TEST_CASE("ops x backends: exact op cases give in float the double result rounded to float") {
  std::int64_t cases = 0;
  op_cases::op_registry::for_each([&]<class C>() {
    if constexpr (C::checks.exact) {
      const auto configs = C::configs();
      for (std::size_t i = 0; i < configs.size(); ++i) {
        const auto report = testing::check_op_exact<C>(configs[i], ops_backends_test::case_seed(i));
        INFO(std::string(C::name) << " (" << C::describe(configs[i]) << "): " << report.checked << " values"
                                  << report.message);
        CHECK(report.ok);
        ++cases;
      }
    }
  });
  MESSAGE("exact: " << cases << " cases");
  CHECK(cases > 0);
}

TEST_CASE("ops x backends: op cases with a host formula match it in double on the cpu") {
  std::int64_t cases = 0;
  op_cases::op_registry::for_each([&]<class C>() {
    if constexpr (testing::ReferencedOpCase<C>) {
      const auto configs = C::configs();
      for (std::size_t i = 0; i < configs.size(); ++i) {
        const auto report = testing::check_op_reference<C>(configs[i], ops_backends_test::case_seed(i));
        INFO(std::string(C::name) << " (" << C::describe(configs[i]) << "): " << report.checked << " values"
                                  << report.message);
        CHECK(report.ok);
        ++cases;
      }
    }
  });
  MESSAGE("reference: " << cases << " cases");
  CHECK(cases > 0);
}

TEST_CASE("ops x backends count check: each kernel specialisation has a case on its backend and each case a kernel") {
  const auto kernels = ops_backends_test::kernel_specialisations();
  std::map<std::string, std::set<std::string>> claimed;  // op → backends its cases run on
  op_cases::op_registry::for_each([&]<class C>() {
    claimed[C::op].insert("cpu");
    if (C::on_cuda) claimed[C::op].insert("cuda");
  });
  for (const auto& e : op_cases::kernels_tested_elsewhere) {
    INFO(e.op << " on " << e.backend << " is said to be tested by " << e.test);
    CHECK(std::filesystem::exists(std::string(VAE_SOURCE_DIR) + "/" + std::string(e.test)));
    CHECK(kernels.count({std::string(e.op), std::string(e.backend)}) == 1);
    claimed[std::string(e.op)].insert(std::string(e.backend));
  }
  std::map<std::string, int> per_backend;
  for (const auto& [op, backend] : kernels) {
    ++per_backend[backend];
    CHECK_MESSAGE(claimed[op].count(backend) == 1, "kernel<" << op << ", " << backend
                                                             << "> has no case in tests/ops_backends/registry.hpp that "
                                                                "runs on "
                                                             << backend);
  }
  for (const auto& [op, backends] : claimed)
    for (const auto& backend : backends)
      CHECK_MESSAGE(kernels.count({op, backend}) == 1, op << ": a registered case runs on " << backend
                                                          << " but include/vae has no kernel<" << op << ", " << backend
                                                          << ">");
  MESSAGE("kernel specialisations: cpu " << per_backend["cpu"] << ", cuda " << per_backend["cuda"] << " over "
                                         << claimed.size() << " ops");
  CHECK(kernels.size() > 0);
}
