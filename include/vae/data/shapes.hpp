// Procedural captioned shapes: seeded RGB scenes of one or two filled shapes on black, with their captions and attributes.
//
// Each image is S × S (S = 32, 64 or 128; 64 by default), black, with one or two objects:
//   shape  ∈ {circle, square, triangle}   squares axis-aligned, triangles upright (apex up), no rotation
//   colour ∈ {red, green, blue, yellow, magenta, cyan, white}, pure (each channel 0 or 1), no anti-aliasing
//   size   ∈ {small, large}               a bounding box of round(S/5) or round(2S/5) pixels
// Two objects never overlap (their boxes are at least 2 pixels apart) and differ in colour. The caption names the
// first object relative to the second: "a large red circle", "a small blue square above a large yellow triangle".
// The relation (above, below, to the left of, to the right of) is read from the objects' pixel centroids and is
// only drawn when it is clear: the offset along the chosen axis exceeds the other axis's by at least S/8, so that
// a reader (or metrics/caption_accuracy.hpp's parser) cannot disagree with it.
//
// Scene i of seed s is a pure function of (s, i, options): it draws from its own range of the counter-based
// generator (core/rng.hpp), so any N, any order and any number of threads give the same images. Held-out
// combinations for text-to-image evaluation: shapes_options::excluded removes (shape, colour) pairs and
// shapes_options::accept any other scene (e.g. a relation between two given objects); both are applied by redrawing.
#pragma once
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/rng.hpp"
#include "vae/core/tensor.hpp"
#include "vae/text/words.hpp"

namespace vae::data {

enum class shape_kind : std::uint8_t { circle, square, triangle };
enum class shape_colour : std::uint8_t { red, green, blue, yellow, magenta, cyan, white };
enum class shape_size : std::uint8_t { small, large };
// How the first object of a caption stands to the second; none for one-object scenes.
enum class shape_relation : std::uint8_t { none, above, below, left_of, right_of };

inline constexpr std::array<shape_kind, 3> all_shape_kinds = {shape_kind::circle, shape_kind::square, shape_kind::triangle};
inline constexpr std::array<shape_colour, 7> all_shape_colours = {shape_colour::red,     shape_colour::green,
                                                                  shape_colour::blue,    shape_colour::yellow,
                                                                  shape_colour::magenta, shape_colour::cyan,
                                                                  shape_colour::white};

inline const char* name(shape_kind k) {
  constexpr const char* names[] = {"circle", "square", "triangle"};
  return names[static_cast<int>(k)];
}
inline const char* name(shape_colour c) {
  constexpr const char* names[] = {"red", "green", "blue", "yellow", "magenta", "cyan", "white"};
  return names[static_cast<int>(c)];
}
inline const char* name(shape_size s) { return s == shape_size::small ? "small" : "large"; }
inline const char* name(shape_relation r) {
  constexpr const char* names[] = {"", "above", "below", "to the left of", "to the right of"};
  return names[static_cast<int>(r)];
}

// The pure RGB value of a colour, each channel 0 or 1.
inline std::array<float, 3> rgb(shape_colour c) {
  constexpr std::array<std::array<float, 3>, 7> table = {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}, {1, 0, 1}, {0, 1, 1}, {1, 1, 1}}};
  return table[static_cast<std::size_t>(c)];
}

// The bounding-box side of an object of size `s` in an image of side `image_size`.
inline int shape_extent(shape_size s, int image_size) {
  return static_cast<int>(std::lround(image_size * (s == shape_size::small ? 0.2 : 0.4)));
}

// What a caption says about one object. Captions written by the generator set every field; a prompt may leave
// size or colour out ("a red circle above a square"), and then nothing is claimed about it.
struct object_description {
  std::optional<shape_kind> kind;
  std::optional<shape_colour> colour;
  std::optional<shape_size> size;
  bool operator==(const object_description&) const = default;
};

// What a caption says: one or two objects, and for two the relation of the first to the second.
struct caption_attributes {
  std::vector<object_description> objects;
  shape_relation relation = shape_relation::none;
  bool operator==(const caption_attributes&) const = default;
};

// "a large red circle", "a small blue square above a large yellow triangle" (fields left unset are left out;
// "an" before a vowel).
inline std::string caption_text(const caption_attributes& c) {
  auto object = [](const object_description& o) {
    std::string words;
    if (o.size) words += cat(" ", name(*o.size));
    if (o.colour) words += cat(" ", name(*o.colour));
    if (o.kind) words += cat(" ", name(*o.kind));
    else words += " shape";
    const char first = words[1];
    const bool vowel = first == 'a' || first == 'e' || first == 'i' || first == 'o' || first == 'u';
    return cat(vowel ? "an" : "a", words);
  };
  check(c.objects.size() == 1 || c.objects.size() == 2,
        [&] { return cat("caption_text: a caption has one or two objects, got ", c.objects.size()); });
  check((c.objects.size() == 2) == (c.relation != shape_relation::none),
        "caption_text: two objects need a relation and one object none");
  if (c.objects.size() == 1) return object(c.objects[0]);
  return cat(object(c.objects[0]), " ", name(c.relation), " ", object(c.objects[1]));
}

namespace detail {
// Words as the caption grammar reads them: lower case, split on white space, a final '.' dropped.
inline std::vector<std::string> caption_words(std::string_view text) {
  auto words = text::split_words(text);
  for (auto& w : words)
    for (auto& ch : w) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!words.empty() && words.back().size() > 1 && words.back().back() == '.') words.back().pop_back();
  return words;
}
template <class E, std::size_t N>
std::optional<E> word_to(const std::string& w, const std::array<E, N>& all) {
  for (E e : all)
    if (w == name(e)) return e;
  return std::nullopt;
}
}  // namespace detail

// Reads a caption of the generator's grammar back into attributes:
//   caption  := object [relation object]        relation := above | below | to the left of | to the right of
//   object   := (a | an) [small | large] [colour] (circle | square | triangle | shape)
// Case and extra spaces do not matter; anything else is a vae::error naming the word and what was expected there.
inline caption_attributes parse_caption(std::string_view text) {
  const auto words = detail::caption_words(text);
  std::size_t i = 0;
  auto at = [&] { return i < words.size() ? words[i] : std::string("<end>"); };
  auto fail = [&](const char* expected) {
    vae::detail::throw_error(cat("parse_caption '", text, "': expected ", expected, " at word ", i + 1, ", got '", at(),
                                 "' (grammar: a|an [small|large] [red|green|blue|yellow|magenta|cyan|white] "
                                 "circle|square|triangle|shape [above|below|to the left of|to the right of <object>])"));
  };
  auto object = [&] {
    object_description o;
    if (at() != "a" && at() != "an") fail("'a' or 'an'");
    ++i;
    if (at() == "small" || at() == "large") {
      o.size = at() == "small" ? shape_size::small : shape_size::large;
      ++i;
    }
    if (auto c = detail::word_to(at(), all_shape_colours)) {
      o.colour = c;
      ++i;
    }
    if (auto k = detail::word_to(at(), all_shape_kinds)) {
      o.kind = k;
      ++i;
    } else if (at() == "shape") {
      ++i;
    } else {
      fail("a shape (circle, square, triangle or shape)");
    }
    return o;
  };
  caption_attributes c;
  c.objects.push_back(object());
  if (i == words.size()) return c;
  if (at() == "above" || at() == "below") {
    c.relation = at() == "above" ? shape_relation::above : shape_relation::below;
    ++i;
  } else if (at() == "to" && i + 3 < words.size() && words[i + 1] == "the" && words[i + 3] == "of" &&
           (words[i + 2] == "left" || words[i + 2] == "right")) {
    c.relation = words[i + 2] == "left" ? shape_relation::left_of : shape_relation::right_of;
    i += 4;
  } else {
    fail("the end or a relation (above, below, to the left of, to the right of)");
  }
  c.objects.push_back(object());
  if (i != words.size()) fail("the end of the caption");
  return c;
}

// One drawn object: its attributes, its bounding box (top-left x0, y0 and side `extent`) and the centroid of
// its pixels (x, y in pixels from the top-left corner, at pixel centres).
struct placed_shape {
  shape_kind kind = shape_kind::circle;
  shape_colour colour = shape_colour::red;
  shape_size size = shape_size::small;
  int x0 = 0, y0 = 0, extent = 0;
  double cx = 0, cy = 0;
  std::int64_t area = 0;
};

// A generated scene: one or two objects and, for two, the relation of the first to the second.
struct shapes_scene {
  int image_size = 0;
  std::vector<placed_shape> objects;
  shape_relation relation = shape_relation::none;

  caption_attributes attributes() const {
    caption_attributes c;
    for (const auto& o : objects) c.objects.push_back({o.kind, o.colour, o.size});
    c.relation = relation;
    return c;
  }
  std::string caption() const { return caption_text(attributes()); }
};

// Calls f(dx, dy) for every pixel of a `kind` filling an extent × extent box, offsets from the box's top-left.
// Pixel (dx, dy) is inside when its centre is: a circle of diameter `extent`, the whole box, or an upright
// triangle whose apex is the top edge's midpoint and whose base is the bottom edge.
template <class F>
void for_each_shape_pixel(shape_kind kind, int extent, F&& f) {
  const double e = extent, half = e / 2;
  for (int dy = 0; dy < extent; ++dy)
    for (int dx = 0; dx < extent; ++dx) {
      const double px = dx + 0.5 - half, py = dy + 0.5 - half;
      bool inside = true;
      if (kind == shape_kind::circle) inside = px * px + py * py <= half * half;
      else if (kind == shape_kind::triangle) inside = std::abs(px) <= (dy + 0.5) / e * half;
      if (inside) f(dx, dy);
    }
}

// The relation of an object centred at (x0, y0) to one at (x1, y1) along the axis of the larger offset (image y
// grows downwards); `margin` > 0 returns none unless that offset exceeds the other by at least `margin`.
inline shape_relation relation_between(double x0, double y0, double x1, double y1, double margin = 0) {
  const double dx = x0 - x1, dy = y0 - y1;
  if (std::abs(std::abs(dx) - std::abs(dy)) < margin) return shape_relation::none;
  if (std::abs(dy) >= std::abs(dx)) return dy < 0 ? shape_relation::above : shape_relation::below;
  return dx < 0 ? shape_relation::left_of : shape_relation::right_of;
}

struct shapes_options {
  int image_size = 64;                // 32, 64 or 128
  double two_objects = 0.5;           // probability of a two-object scene
  // (shape, colour) pairs never drawn, e.g. {{shape_kind::triangle, shape_colour::red}} holds red triangles out.
  std::vector<std::pair<shape_kind, shape_colour>> excluded{};
  // When set, only scenes for which it returns true are drawn (held-out captions, one-object-only sets, ...).
  std::function<bool(const shapes_scene&)> accept{};
  int max_attempts = 10000;           // redraws per scene before giving up (an accept that rejects everything)
};

namespace detail {
inline void check_shapes_options(const shapes_options& o) {
  check(o.image_size == 32 || o.image_size == 64 || o.image_size == 128,
        [&] { return cat("shapes: image_size must be 32, 64 or 128, got ", o.image_size); });
  check(o.two_objects >= 0 && o.two_objects <= 1,
        [&] { return cat("shapes: two_objects must be a probability in [0, 1], got ", o.two_objects); });
  check(o.max_attempts > 0, [&] { return cat("shapes: max_attempts must be > 0, got ", o.max_attempts); });
  std::size_t allowed = 0;
  for (auto k : all_shape_kinds)
    for (auto c : all_shape_colours)
      allowed += std::find(o.excluded.begin(), o.excluded.end(), std::pair{k, c}) == o.excluded.end();
  check(allowed > 0, "shapes: every (shape, colour) pair is excluded, nothing can be drawn");
}

inline void place_centroid(placed_shape& p) {
  double sx = 0, sy = 0;
  std::int64_t n = 0;
  for_each_shape_pixel(p.kind, p.extent, [&](int dx, int dy) {
    sx += p.x0 + dx + 0.5;
    sy += p.y0 + dy + 0.5;
    ++n;
  });
  p.area = n;
  p.cx = n ? sx / static_cast<double>(n) : 0;
  p.cy = n ? sy / static_cast<double>(n) : 0;
}
}  // namespace detail

// Scene `index` of the stream `seed` (a pure function of seed, index and options). Throws when `accept` or
// `excluded` leave nothing after max_attempts redraws.
inline shapes_scene sample_shapes_scene(std::uint64_t seed, std::uint64_t index, const shapes_options& opt = {}) {
  detail::check_shapes_options(opt);
  check(index < (std::uint64_t{1} << 32), [&] { return cat("shapes: scene index ", index, " is beyond 2^32"); });
  generator rng(seed);
  rng.set_offset(index << 32);  // 2^32 draws per scene: scenes never share a draw
  const int s = opt.image_size;
  const double margin = s / 8.0;
  // The number of objects is redrawn only when `accept` refuses a scene, so that the redraws for overlaps and
  // ambiguous relations (which two-object scenes need more often) do not bias it.
  auto draw_count = [&] { return rng.uniform() <= opt.two_objects && opt.two_objects > 0 ? 2 : 1; };
  int n = draw_count();
  for (int attempt = 0; attempt < opt.max_attempts; ++attempt) {
    shapes_scene scene;
    scene.image_size = s;
    bool ok = true;
    for (int k = 0; k < n && ok; ++k) {
      placed_shape p;
      p.kind = all_shape_kinds[rng.below(3)];
      if (k == 0) {
        p.colour = all_shape_colours[rng.below(7)];
      } else {  // any colour but the first object's
        auto c = static_cast<int>(rng.below(6));
        if (c >= static_cast<int>(scene.objects[0].colour)) ++c;
        p.colour = all_shape_colours[static_cast<std::size_t>(c)];
      }
      p.size = rng.below(2) ? shape_size::large : shape_size::small;
      p.extent = shape_extent(p.size, s);
      // one pixel of black between the box and the border
      p.x0 = 1 + static_cast<int>(rng.below(static_cast<std::uint64_t>(s - p.extent - 1)));
      p.y0 = 1 + static_cast<int>(rng.below(static_cast<std::uint64_t>(s - p.extent - 1)));
      ok = std::find(opt.excluded.begin(), opt.excluded.end(), std::pair{p.kind, p.colour}) == opt.excluded.end();
      detail::place_centroid(p);
      scene.objects.push_back(p);
    }
    if (!ok) continue;
    if (n == 2) {
      const auto &a = scene.objects[0], &b = scene.objects[1];
      const int gap_x = std::max(b.x0 - (a.x0 + a.extent), a.x0 - (b.x0 + b.extent));
      const int gap_y = std::max(b.y0 - (a.y0 + a.extent), a.y0 - (b.y0 + b.extent));
      if (std::max(gap_x, gap_y) < 2) continue;  // boxes closer than 2 pixels: they would touch or overlap
      scene.relation = relation_between(a.cx, a.cy, b.cx, b.cy, margin);
      if (scene.relation == shape_relation::none) continue;  // diagonal: the relation would be ambiguous
    }
    if (opt.accept && !opt.accept(scene)) {
      n = draw_count();
      continue;
    }
    return scene;
  }
  vae::detail::throw_error(cat("shapes: no scene found in ", opt.max_attempts, " draws for scene ", index, " of seed ", seed,
                               " (the options' excluded pairs or accept rule leave (almost) nothing)"));
}

// The evaluation side of a hold-out: scenes in which at least one object has a (shape, colour) pair that `train`
// excludes (and that still pass train.accept), so that a model trained with `train` is asked only for what it
// never saw. Throws when `train` excludes nothing.
inline shapes_options held_out_only(const shapes_options& train) {
  check(!train.excluded.empty(), "shapes held_out_only: the training options exclude no (shape, colour) pair");
  shapes_options eval = train;
  eval.excluded.clear();
  eval.accept = [pairs = train.excluded, accept = train.accept](const shapes_scene& s) {
    const bool held_out = std::any_of(s.objects.begin(), s.objects.end(), [&](const placed_shape& o) {
      return std::find(pairs.begin(), pairs.end(), std::pair{o.kind, o.colour}) != pairs.end();
    });
    return held_out && (!accept || accept(s));
  };
  return eval;
}

// Draws scene into `chw`, a 3 × S × S float image in [0, 1] (cleared to black first).
inline void render_shapes_scene(const shapes_scene& scene, float* chw) {
  const int s = scene.image_size;
  const std::int64_t plane = static_cast<std::int64_t>(s) * s;
  std::fill(chw, chw + 3 * plane, 0.f);
  for (const auto& o : scene.objects) {
    const auto c = rgb(o.colour);
    for_each_shape_pixel(o.kind, o.extent, [&](int dx, int dy) {
      const std::int64_t p = static_cast<std::int64_t>(o.y0 + dy) * s + (o.x0 + dx);
      for (int ch = 0; ch < 3; ++ch) chw[ch * plane + p] = c[static_cast<std::size_t>(ch)];
    });
  }
}

// N generated images with their captions and scenes.
struct shapes_batch {
  tensor<float> images;               // [N, 3, S, S] in {0, 1}
  std::vector<std::string> captions;  // captions[i] describes images[i]
  std::vector<shapes_scene> scenes;   // the attributes and geometry of each image
};

// Scenes first_index .. first_index + n − 1 of `seed`, drawn and rendered in parallel (the result does not depend
// on the thread count).
inline shapes_batch generate_shapes(std::int64_t n, std::uint64_t seed, const shapes_options& opt = {},
                                    std::uint64_t first_index = 0) {
  detail::check_shapes_options(opt);
  check(n >= 0, [&] { return cat("generate_shapes: n must be >= 0, got ", n); });
  const std::int64_t s = opt.image_size, per = 3 * s * s;
  shapes_batch b;
  b.images = tensor<float>(shape{n, 3, s, s});
  b.scenes.resize(static_cast<std::size_t>(n));
  b.captions.resize(static_cast<std::size_t>(n));
  std::vector<std::string> errors(static_cast<std::size_t>(n));
  parallel_for(n, n * per * 4 + (1 << 16), [&](std::int64_t i) {
    const auto k = static_cast<std::size_t>(i);
    try {
      b.scenes[k] = sample_shapes_scene(seed, first_index + static_cast<std::uint64_t>(i), opt);
    } catch (const vae::error& e) {  // rethrown below with its message (the location is the rethrow's)
      errors[k] = e.message();
      return;
    } catch (const std::exception& e) {
      errors[k] = e.what();
      return;
    }
    b.captions[k] = b.scenes[k].caption();
    render_shapes_scene(b.scenes[k], b.images.data() + i * per);
  });
  for (const auto& e : errors) check(e.empty(), e);
  return b;
}

}  // namespace vae::data
