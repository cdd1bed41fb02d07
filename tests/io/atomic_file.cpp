// write_file_atomically: a new file gets the content and a plain create's mode; a replaced file changes all at once;
// a writer that throws part-way (an interrupted write), or a rename that fails, leaves the old file and no temporary.
#include "vae/io/atomic_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../test_support.hpp"

namespace fs = std::filesystem;

namespace atomic_file_test {

// A fresh empty folder per case, removed at the end.
struct scratch_dir {
  fs::path path;
  explicit scratch_dir(const std::string& name)
      : path(fs::temp_directory_path() / ("vae_atomic_file_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch_dir() { fs::remove_all(path); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
    return names;
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace atomic_file_test

TEST_CASE("write_file_atomically creates the file with its content, a plain create's mode, no temporary left") {
  using namespace atomic_file_test;
  scratch_dir dir("create");
  const auto file = dir.path / "a.bin";
  const mode_t old_mask = ::umask(022);
  vae::io::write_file_atomically(file, [](vae::io::file_sink& s) {
    s.write("hello ");
    const char bytes[] = {'\0', '\x01', 'z'};
    s.write(bytes, sizeof bytes);
  });
  ::umask(old_mask);
  CHECK(slurp(file) == std::string("hello \0\x01z", 9));
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  CHECK(dir.entries() == std::vector<std::string>{"a.bin"});
}

TEST_CASE("write_text_atomically replaces an existing file's whole content") {
  using namespace atomic_file_test;
  scratch_dir dir("replace");
  const auto file = dir.path / "config.json";
  vae::io::write_text_atomically(file, "a much longer first version of the file\n");
  vae::io::write_text_atomically(file, "v2\n");
  CHECK(slurp(file) == "v2\n");
  CHECK(dir.entries() == std::vector<std::string>{"config.json"});
}

TEST_CASE("an interrupted write (the writer throws after writing part) leaves the old file and no temporary") {
  using namespace atomic_file_test;
  scratch_dir dir("interrupted");
  const auto file = dir.path / "model.safetensors";
  vae::io::write_text_atomically(file, "old content");
  bool wrote_part = false;
  CHECK_THROWS_WITH_AS(vae::io::write_file_atomically(file,
                                                      [&](vae::io::file_sink& s) {
                                                        s.write("new content, half of it");
                                                        wrote_part = true;
                                                        throw std::runtime_error("interrupted");
                                                      }),
                       "interrupted", std::runtime_error);
  CHECK(wrote_part);
  CHECK(slurp(file) == "old content");
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
  // With no old file, nothing appears.
  const auto fresh = dir.path / "fresh.bin";
  CHECK_THROWS_AS(vae::io::write_file_atomically(fresh, [](vae::io::file_sink& s) {
    s.write("x");
    throw std::runtime_error("interrupted");
  }), std::runtime_error);
  CHECK(!fs::exists(fresh));
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("write_file_atomically: a folder that does not exist, or a target that is a folder, is a vae::error") {
  using namespace atomic_file_test;
  scratch_dir dir("errors");
  const auto missing = dir.path / "no_such_folder" / "a.bin";
  CHECK_THROWS_WITH_AS(vae::io::write_text_atomically(missing, "x"),
                       doctest::Contains(("cannot create a temporary file in '" +
                                                          (dir.path / "no_such_folder").string() + "'")
                                                             .c_str()),
                       vae::error);
  // The rename onto a non-empty folder fails: the folder and its content stay, the temporary is removed.
  const auto target = dir.path / "taken";
  fs::create_directories(target);
  vae::io::write_text_atomically(target / "inside.txt", "kept");
  CHECK_THROWS_WITH_AS(vae::io::write_text_atomically(target, "x"), doctest::Contains("cannot rename"), vae::error);
  CHECK(fs::is_directory(target));
  CHECK(slurp(target / "inside.txt") == "kept");
  CHECK(dir.entries() == std::vector<std::string>{"taken"});
}
