// Tests for data/shapes.hpp: determinism per seed, pure colours, the geometry rules, captions and their parser, hold-outs.
#include "vae/data/shapes.hpp"

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

using namespace vae;
using namespace vae::data;

namespace shapes_test {
// The colour (0 = black, 1 + colour index) of pixel (x, y) of image i, or -1 when it is no pure colour.
inline int pixel_colour(const tensor<float>& images, std::int64_t i, int x, int y) {
  const std::int64_t s = images.dim(2), plane = s * s;
  const float* p = images.data() + i * 3 * plane + y * s + x;
  const std::array<float, 3> v = {p[0], p[plane], p[2 * plane]};
  if (v[0] == 0 && v[1] == 0 && v[2] == 0) return 0;
  for (std::size_t c = 0; c < all_shape_colours.size(); ++c)
    if (rgb(all_shape_colours[c]) == v) return static_cast<int>(c) + 1;
  return -1;
}
}  // namespace shapes_test
using namespace shapes_test;

TEST_CASE("shapes: the same seed gives the same images; scene i does not depend on N or on where the batch starts") {
  const auto a = generate_shapes(40, 7);
  const auto b = generate_shapes(40, 7);
  const auto tail = generate_shapes(15, 7, {}, 25);
  const auto other = generate_shapes(40, 8);
  REQUIRE(a.images.numel() == 40 * 3 * 64 * 64);
  CHECK(std::equal(a.images.data(), a.images.data() + a.images.numel(), b.images.data()));
  CHECK(a.captions == b.captions);
  CHECK(std::equal(tail.images.data(), tail.images.data() + tail.images.numel(), a.images.data() + 25 * 3 * 64 * 64));
  for (int i = 0; i < 15; ++i) CHECK(tail.captions[static_cast<std::size_t>(i)] == a.captions[static_cast<std::size_t>(25 + i)]);
  CHECK(!std::equal(a.images.data(), a.images.data() + a.images.numel(), other.images.data()));
  CHECK(generate_shapes(0, 7).images.dim(0) == 0);
}

TEST_CASE("shapes: pure colours on black, objects as their scenes say, apart, in distinct colours, relations clear") {
  for (int s : {32, 64, 128}) {
    CAPTURE(s);
    shapes_options opt;
    opt.image_size = s;
    const std::int64_t n = s == 128 ? 300 : 600;
    const auto b = generate_shapes(n, 11, opt);
    std::set<std::string> seen;  // every value of every attribute appears
    std::int64_t two = 0, checked_pixels = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const auto& sc = b.scenes[static_cast<std::size_t>(i)];
      REQUIRE((sc.objects.size() == 1 || sc.objects.size() == 2));
      CHECK(sc.image_size == s);
      // every pixel is black or the colour of the object whose mask holds it
      std::vector<int> expect(static_cast<std::size_t>(s * s), 0);
      for (const auto& o : sc.objects) {
        CHECK(o.extent == (o.size == shape_size::small ? std::lround(s / 5.0) : std::lround(2 * s / 5.0)));
        CHECK(o.x0 >= 1);
        CHECK(o.y0 >= 1);
        CHECK(o.x0 + o.extent <= s - 1);
        CHECK(o.y0 + o.extent <= s - 1);
        for_each_shape_pixel(o.kind, o.extent, [&](int dx, int dy) {
          auto& e = expect[static_cast<std::size_t>((o.y0 + dy) * s + o.x0 + dx)];
          CHECK(e == 0);  // no overlap
          e = static_cast<int>(o.colour) + 1;
        });
        seen.insert(name(o.kind));
        seen.insert(name(o.colour));
        seen.insert(name(o.size));
      }
      for (int y = 0; y < s; ++y)
        for (int x = 0; x < s; ++x) {
          const int got = pixel_colour(b.images, i, x, y);
          if (got != expect[static_cast<std::size_t>(y * s + x)]) {
            FAIL_CHECK("image ", i, " pixel (", x, ", ", y, ") is ", got, ", expected ", expect[static_cast<std::size_t>(y * s + x)]);
          }
          ++checked_pixels;
        }
      if (sc.objects.size() == 2) {
        ++two;
        const auto &p = sc.objects[0], &q = sc.objects[1];
        CHECK(p.colour != q.colour);
        const int gap = std::max(std::max(q.x0 - (p.x0 + p.extent), p.x0 - (q.x0 + q.extent)),
                                 std::max(q.y0 - (p.y0 + p.extent), p.y0 - (q.y0 + q.extent)));
        CHECK(gap >= 2);
        const double dx = p.cx - q.cx, dy = p.cy - q.cy;
        CHECK(std::abs(std::abs(dx) - std::abs(dy)) >= s / 8.0);
        const shape_relation want = std::abs(dy) > std::abs(dx) ? (dy < 0 ? shape_relation::above : shape_relation::below)
                                                                : (dx < 0 ? shape_relation::left_of : shape_relation::right_of);
        CHECK(sc.relation == want);
        seen.insert(name(sc.relation));
      } else {
        CHECK(sc.relation == shape_relation::none);
      }
    }
    CHECK(checked_pixels == n * s * s);
    CHECK(seen.size() == 3 + 7 + 2 + 4);
    // half of the scenes have two objects (binomial: 4 standard deviations of n = 300 is 0.115)
    CHECK(std::abs(static_cast<double>(two) / static_cast<double>(n) - 0.5) < 0.12);
  }
}

TEST_CASE("shapes: squares fill their box, circles are round, triangles stand apex up") {
  for (int e : {6, 13, 26, 51}) {
    CAPTURE(e);
    std::map<shape_kind, std::vector<int>> row_width;
    for (auto k : all_shape_kinds) {
      auto& w = row_width[k];
      w.assign(static_cast<std::size_t>(e), 0);
      for_each_shape_pixel(k, e, [&](int, int dy) { ++w[static_cast<std::size_t>(dy)]; });
    }
    for (int v : row_width[shape_kind::square]) CHECK(v == e);
    const auto& tri = row_width[shape_kind::triangle];
    CHECK(tri.back() == e);        // the base is the bottom edge
    CHECK(tri.front() <= 1);       // the apex is the top
    CHECK(std::is_sorted(tri.begin(), tri.end()));
    const auto& circ = row_width[shape_kind::circle];
    for (int dy = 0; dy < e; ++dy) CHECK(circ[static_cast<std::size_t>(dy)] == circ[static_cast<std::size_t>(e - 1 - dy)]);
    CHECK(circ[static_cast<std::size_t>(e / 2)] == e);
    CHECK(circ.front() < e);
  }
}

TEST_CASE("shapes: captions read as the issue writes them and parse back to the scene's attributes") {
  caption_attributes one{{{shape_kind::circle, shape_colour::red, shape_size::large}}, shape_relation::none};
  CHECK(caption_text(one) == "a large red circle");
  caption_attributes two{{{shape_kind::square, shape_colour::blue, shape_size::small},
                          {shape_kind::triangle, shape_colour::yellow, shape_size::large}},
                         shape_relation::above};
  CHECK(caption_text(two) == "a small blue square above a large yellow triangle");
  two.relation = shape_relation::left_of;
  CHECK(caption_text(two) == "a small blue square to the left of a large yellow triangle");
  CHECK(parse_caption("a small blue square to the left of a large yellow triangle") == two);

  const auto b = generate_shapes(500, 3);
  std::set<std::string> distinct;
  for (std::size_t i = 0; i < b.scenes.size(); ++i) {
    CHECK(parse_caption(b.captions[i]) == b.scenes[i].attributes());
    distinct.insert(b.captions[i]);
  }
  CHECK(distinct.size() > 250);

  // prompts may leave out size and colour, and may use any case and spacing
  const auto p = parse_caption("  A small Red circle   above an  square. ");
  REQUIRE(p.objects.size() == 2);
  CHECK(p.objects[0] == object_description{shape_kind::circle, shape_colour::red, shape_size::small});
  CHECK(p.objects[1] == object_description{shape_kind::square, std::nullopt, std::nullopt});
  CHECK(p.relation == shape_relation::above);
  CHECK(caption_text(parse_caption("a white shape")) == "a white shape");
  CHECK(caption_text(parse_caption("an large cyan triangle")) == "a large cyan triangle");
  CHECK(caption_text(parse_caption("a white triangle below a red square")) == "a white triangle below a red square");
  CHECK(caption_text(parse_caption("a square to the right of an circle")) == "a square to the right of a circle");
}

TEST_CASE("shapes: parse_caption refuses what the grammar does not say, naming the word") {
  CHECK_THROWS_WITH_AS(parse_caption("a purple circle"), doctest::Contains("expected a shape (circle, square, triangle or shape) at word 2, got 'purple'"), vae::error);
  CHECK_THROWS_WITH_AS(parse_caption(""), doctest::Contains("expected 'a' or 'an' at word 1, got '<end>'"), vae::error);
  CHECK_THROWS_WITH_AS(parse_caption("a red circle near a square"), doctest::Contains("got 'near'"), vae::error);
  CHECK_THROWS_WITH_AS(parse_caption("a red circle above"), doctest::Contains("expected 'a' or 'an' at word 5"), vae::error);
  CHECK_THROWS_WITH_AS(parse_caption("a red circle above a square and more"), doctest::Contains("expected the end of the caption"), vae::error);
  CHECK_THROWS_WITH_AS(parse_caption("a red circle to the top of a square"), doctest::Contains("got 'to'"), vae::error);
}

TEST_CASE("shapes: excluded (shape, colour) pairs and an accept rule hold combinations out") {
  shapes_options opt;
  opt.image_size = 32;
  opt.excluded = {{shape_kind::triangle, shape_colour::red}, {shape_kind::circle, shape_colour::blue}};
  const auto b = generate_shapes(1000, 5, opt);
  int red_shapes = 0;
  for (const auto& sc : b.scenes)
    for (const auto& o : sc.objects) {
      CHECK(!(o.kind == shape_kind::triangle && o.colour == shape_colour::red));
      CHECK(!(o.kind == shape_kind::circle && o.colour == shape_colour::blue));
      red_shapes += o.colour == shape_colour::red;
    }
  CHECK(red_shapes > 50);  // red squares and circles are still drawn

  const auto eval = held_out_only(opt);  // the evaluation side: every scene has a red triangle or a blue circle
  int held_out_objects = 0;
  for (const auto& sc : generate_shapes(300, 6, eval).scenes) {
    int k = 0;
    for (const auto& o : sc.objects)
      k += (o.kind == shape_kind::triangle && o.colour == shape_colour::red) ||
           (o.kind == shape_kind::circle && o.colour == shape_colour::blue);
    CHECK(k >= 1);
    held_out_objects += k;
  }
  CHECK(held_out_objects >= 300);
  CHECK_THROWS_WITH_AS(held_out_only(shapes_options{}), doctest::Contains("exclude no (shape, colour) pair"), vae::error);

  shapes_options only;
  only.accept = [](const shapes_scene& s) { return s.objects.size() == 2 && s.relation == shape_relation::below; };
  const auto c = generate_shapes(100, 5, only);
  for (const auto& sc : c.scenes) CHECK(sc.relation == shape_relation::below);

  shapes_options none;
  for (auto k : all_shape_kinds)
    for (auto col : all_shape_colours) none.excluded.emplace_back(k, col);
  CHECK_THROWS_WITH_AS(generate_shapes(1, 0, none), doctest::Contains("every (shape, colour) pair is excluded"), vae::error);
  shapes_options never;
  never.accept = [](const shapes_scene&) { return false; };
  never.max_attempts = 50;
  CHECK_THROWS_WITH_AS(generate_shapes(2, 0, never), doctest::Contains("no scene found in 50 draws"), vae::error);
  shapes_options bad;
  bad.image_size = 48;
  CHECK_THROWS_WITH_AS(generate_shapes(1, 0, bad), doctest::Contains("image_size must be 32, 64 or 128, got 48"), vae::error);
  bad.image_size = 32;
  bad.two_objects = 1.5;
  CHECK_THROWS_WITH_AS(generate_shapes(1, 0, bad), doctest::Contains("two_objects must be a probability"), vae::error);
  CHECK_THROWS_WITH_AS(generate_shapes(-1, 0), doctest::Contains("n must be >= 0"), vae::error);

  shapes_options single;
  single.two_objects = 0;
  for (const auto& sc : generate_shapes(200, 1, single).scenes) CHECK(sc.objects.size() == 1);
  shapes_options pairs;
  pairs.two_objects = 1;
  for (const auto& sc : generate_shapes(200, 1, pairs).scenes) CHECK(sc.objects.size() == 2);
}
