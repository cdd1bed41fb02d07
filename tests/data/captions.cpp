// Tests for data/captions.hpp and the captioned sources of load_dataset: templates, captions.jsonl, caption files, shapes.
#include "vae/data/captions.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "vae/data/dataset.hpp"
#include "vae/io/png.hpp"
#include "../temp_folder.hpp"

using namespace vae;
using namespace vae::data;

namespace captions_test {
namespace fs = std::filesystem;
inline fs::path scratch(const std::string& name) {
  static const vae::test::temp_folder root("vae_test_captions_");
  const auto d = root.path() / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
inline void write_image(const fs::path& p, std::uint8_t value) {
  std::vector<std::uint8_t> px(4 * 4 * 3, value);
  io::write_png(p.string(), px.data(), 4, 4, 3);
}
inline std::string load_error(const std::string& spec) {
  try {
    load_dataset(spec);
  } catch (const vae::error& e) {
    return e.what();
  }
  return "";
}
}  // namespace captions_test
using namespace captions_test;

TEST_CASE("captions: Fashion-MNIST templates with articles, reproducible per seed, and the class read back") {
  CHECK(fashion_mnist_caption(7, 1) == "a photo of a sneaker");
  CHECK(fashion_mnist_caption(9, 0) == "an ankle boot");
  CHECK(fashion_mnist_caption(1, 3) == "an image of a pair of trousers");
  CHECK(fashion_mnist_caption(0, 4) == "a black and white photo of a t-shirt");
  for (int label = 0; label < 10; ++label)
    for (std::size_t t = 0; t < fashion_mnist_templates.size(); ++t)
      CHECK(fashion_mnist_label_of(fashion_mnist_caption(label, t)) == label);
  CHECK(fashion_mnist_label_of("A T-Shirt.") == 0);
  CHECK(fashion_mnist_label_of("a shirt") == 6);
  CHECK(fashion_mnist_label_of("some trousers next to a bag") == 1);
  CHECK(!fashion_mnist_label_of("a red circle").has_value());
  CHECK_THROWS_WITH_AS(fashion_mnist_caption(10, 0), doctest::Contains("label must be 0..9, got 10"), vae::error);

  std::vector<std::int32_t> labels(300);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  const auto a = fashion_mnist_captions(labels, 4, 0);
  CHECK(a == fashion_mnist_captions(labels, 4, 0));
  CHECK(a != fashion_mnist_captions(labels, 5, 0));
  CHECK(a != fashion_mnist_captions(labels, 4, 1));
  std::set<std::string> distinct(a.begin(), a.end());
  CHECK(distinct.size() == 60);  // every template of every class appears in 300 draws
}

TEST_CASE("captions: captions.jsonl lines and caption text files") {
  const auto v = parse_captions_jsonl("{\"file\": \"a.png\", \"caption\": \"a cat\", \"extra\": 1}\n\n  \r\n"
                                      "{\"caption\": \"a dog\", \"file\": \"sub/b.jpg\"}",
                                      "x.jsonl");
  REQUIRE(v.size() == 2);
  CHECK(v[0].file == "a.png");
  CHECK(v[0].caption == "a cat");
  CHECK(v[1].file == "sub/b.jpg");
  CHECK(parse_captions_jsonl("", "x").empty());
  CHECK_THROWS_WITH_AS(parse_captions_jsonl("{\"file\": \"a.png\", \"caption\": \"a\"}\n{oops", "x.jsonl"),
                       doctest::Contains("'x.jsonl' line 2: expected a JSON object"), vae::error);
  CHECK_THROWS_WITH_AS(parse_captions_jsonl("[1, 2]", "x.jsonl"), doctest::Contains("line 1: expected a JSON object"), vae::error);
  CHECK_THROWS_WITH_AS(parse_captions_jsonl("{\"file\": \"a.png\"}", "x.jsonl"),
                       doctest::Contains("line 1: needs string members \"file\" and \"caption\""), vae::error);
  CHECK_THROWS_WITH_AS(parse_captions_jsonl("{\"file\": 3, \"caption\": \"c\"}", "x.jsonl"),
                       doctest::Contains("needs string members"), vae::error);
  CHECK_THROWS_WITH_AS(parse_captions_jsonl("{\"file\": \"\", \"caption\": \"c\"}", "x.jsonl"),
                       doctest::Contains("\"file\" is empty"), vae::error);

  CHECK(first_caption_line("\n  \r\n  a cat on a mat \r\nsecond\n") == "a cat on a mat");
  CHECK(first_caption_line("only") == "only");
  CHECK(first_caption_line(" \n\t\n").empty());
}

TEST_CASE("folder-captions: NAME.txt beside each image, or captions.jsonl; missing captions named") {
  const auto dir = scratch("txt");
  write_image(dir / "b.png", 200);
  write_image(dir / "a.png", 100);
  std::ofstream(dir / "a.txt") << "a dark square\nanother line\n";
  std::ofstream(dir / "b.txt") << "\na light square\n";
  const auto d = load_dataset("folder-captions:" + dir.string(), {.test_fraction = 0});
  REQUIRE(d.train_images.shape() == shape{2, 3, 4, 4});
  CHECK(d.train_captions == std::vector<std::string>{"a dark square", "a light square"});  // sorted by file name
  CHECK(d.train_images[0] == doctest::Approx(100 / 255.f));
  CHECK(d.train_images[3 * 16] == doctest::Approx(200 / 255.f));
  CHECK(d.test_captions.empty());
  // with a held-out split every image keeps its own caption
  write_image(dir / "c.png", 50);
  std::ofstream(dir / "c.txt") << "a black square";
  const auto split = load_dataset("folder-captions:" + dir.string(), {.test_fraction = 0.34});
  REQUIRE(split.train_captions.size() + split.test_captions.size() == 3);
  REQUIRE(split.test_captions.size() == 1);
  const std::map<std::string, float> value = {{"a dark square", 100 / 255.f}, {"a light square", 200 / 255.f}, {"a black square", 50 / 255.f}};
  CHECK(split.test_images[0] == doctest::Approx(value.at(split.test_captions[0])));
  for (std::size_t i = 0; i < split.train_captions.size(); ++i)
    CHECK(split.train_images[static_cast<std::int64_t>(i) * 48] == doctest::Approx(value.at(split.train_captions[i])));

  write_image(dir / "d.png", 10);
  write_image(dir / "e.jpg.png", 10);
  auto e = load_error("folder-captions:" + dir.string());
  CHECK(e.find("2 image(s) have no caption file beside them") != std::string::npos);
  CHECK(e.find("d.png, e.jpg.png") != std::string::npos);
  fs::remove(dir / "d.png");
  fs::remove(dir / "e.jpg.png");
  std::ofstream(dir / "c.txt") << " \n";
  CHECK(load_error("folder-captions:" + dir.string()).find("1 caption file(s) are empty: c.txt") != std::string::npos);

  const auto jl = scratch("jsonl");
  fs::create_directories(jl / "img");
  write_image(jl / "img" / "x.png", 30);
  write_image(jl / "y.png", 60);  // the text files are not read when captions.jsonl is there
  std::ofstream(jl / "captions.jsonl") << "{\"file\": \"y.png\", \"caption\": \"why\"}\n{\"file\": \"img/x.png\", \"caption\": \"ex\"}\n";
  const auto j = load_dataset("folder-captions:" + jl.string(), {.test_fraction = 0});
  CHECK(j.train_captions == std::vector<std::string>{"ex", "why"});  // sorted by path: img/x.png, y.png
  CHECK(j.train_images[0] == doctest::Approx(30 / 255.f));
  std::ofstream(jl / "captions.jsonl", std::ios::app) << "{\"file\": \"gone.png\", \"caption\": \"no\"}\n";
  e = load_error("folder-captions:" + jl.string());
  CHECK(e.find("captions.jsonl names 1 image(s) that do not exist") != std::string::npos);
  CHECK(e.find("gone.png") != std::string::npos);

  CHECK(load_error("folder-captions:" + (dir / "nope").string()).find("not a directory") != std::string::npos);
  CHECK(load_error("folder-captions:" + scratch("empty").string()).find("no .png/.jpg/.jpeg/.bmp images with captions") != std::string::npos);
  CHECK(load_error("folder-captions:").find("needs a directory") != std::string::npos);
}

TEST_CASE("shapes source: load_dataset(\"shapes:...\") is generate_shapes, the test split the scenes after the training ones") {
  const auto d = load_dataset("shapes:size=32,n=50,test=10,seed=3");
  shapes_options at32;
  at32.image_size = 32;
  const auto all = generate_shapes(60, 3, at32);
  REQUIRE(d.train_images.shape() == shape{50, 3, 32, 32});
  REQUIRE(d.test_images.shape() == shape{10, 3, 32, 32});
  CHECK(std::equal(d.train_images.data(), d.train_images.data() + d.train_images.numel(), all.images.data()));
  CHECK(std::equal(d.test_images.data(), d.test_images.data() + d.test_images.numel(), all.images.data() + 50 * 3 * 32 * 32));
  CHECK(d.train_captions == std::vector<std::string>(all.captions.begin(), all.captions.begin() + 50));
  CHECK(d.test_captions == std::vector<std::string>(all.captions.begin() + 50, all.captions.end()));
  CHECK(d.train_labels.empty());

  // the size follows image_size when it is a shapes size; seed follows load_options::seed; limit applies
  load_options o;
  o.image_size = 128;
  o.seed = 3;
  o.limit = 4;
  const auto big = load_dataset("shapes:n=50,test=10", o);
  CHECK(big.train_images.shape() == shape{4, 3, 128, 128});
  shapes_options at128;
  at128.image_size = 128;
  CHECK(big.train_captions == generate_shapes(4, 3, at128).captions);
  o.image_size = 16;  // not a shapes size: drawn at 64 and resized
  CHECK(load_dataset("shapes:n=5,test=1", o).train_images.shape() == shape{4, 3, 16, 16});
  const auto single = load_dataset("shapes:size=32,n=20,test=0,two=0");
  for (const auto& c : single.train_captions) CHECK(parse_caption(c).objects.size() == 1);
  CHECK(single.test_images.dim(0) == 0);

  const auto held = load_dataset("shapes:size=32,n=300,test=30,exclude=red-triangle+blue-circle");
  for (const auto& c : held.train_captions) {
    CHECK(c.find("red triangle") == std::string::npos);
    CHECK(c.find("blue circle") == std::string::npos);
  }
  CHECK(load_error("shapes:exclude=red-hexagon").find("exclude= takes COLOUR-SHAPE pairs joined by '+'") != std::string::npos);
  CHECK(load_error("shapes:exclude=red").find("got 'red'") != std::string::npos);
  CHECK(load_error("shapes:size=48").find("image_size must be 32, 64 or 128, got 48") != std::string::npos);
  CHECK(load_error("shapes:n=-3").find("got 'n=-3'") != std::string::npos);
  CHECK(load_error("shapes:count=3").find("keys size (32|64|128), n, test, seed") != std::string::npos);
  CHECK(load_error("shapes:n=2x").find("got 'n=2x'") != std::string::npos);
  CHECK(load_error("shapes:n=0").find("n must be in [1, 2^31)") != std::string::npos);
  CHECK(load_error("shapes:two=2").find("two_objects must be a probability") != std::string::npos);
}
