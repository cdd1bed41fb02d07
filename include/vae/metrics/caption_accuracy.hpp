// Caption accuracy for the shapes data: parses (shape, colour, size, position) of each object from an image and scores a caption.
//
// The parser is deterministic and written for a decoder's imperfect output as well as for data/shapes.hpp's clean
// images:
//   colour   each pixel goes to the nearest corner of the RGB cube (the 7 pure colours and black are exactly its
//            corners: round every channel); a pixel farther than colour_threshold from every corner is background.
//   objects  4-connected components of one colour; components under min_area_fraction of the image are noise.
//            The remaining components of one colour are one object (the data never repeats a colour in a scene,
//            so a shape a decoder broke into pieces is still one object).
//   shape    nearest prototype in (fill of the bounding box, fill of its two top corner patches, fill of its two
//            bottom corner patches, fill of its bottom half minus fill of its top half): square (1, 1, 1, 0), circle
//            (π/4, 0, 0, 0), upright triangle (1/2, 0, 3/4, 1/2). Measured over the object's core pixels (two or
//            more 4-neighbours of its colour), so that one stray pixel on a small object's edge does not widen its box.
//   size     large when the longer side of the bounding box reaches 0.3 of the image side (small objects span
//            0.2, large 0.4).
//   relation from the pixel centroids, along the axis of the larger offset (relation_between, no margin).
// score_caption matches the caption's objects to parsed objects (the assignment that agrees on most attributes,
// colour first) and scores each attribute the caption states; a caption is right as a whole when every stated
// attribute and the relation are right and the image holds exactly as many objects as the caption names.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/data/shapes.hpp"

namespace vae::metrics {

struct shapes_parser_options {
  double colour_threshold = 0.5;     // largest RGB distance (channels in [0, 1]) from a pure colour or black
  double min_area_fraction = 0.004;  // smaller components are noise (a small triangle covers about 0.02 of the image)
  double large_extent = 0.3;         // longer bounding-box side / image side at and above which an object is large
};

// One object found in an image.
struct parsed_shape {
  data::shape_kind kind = data::shape_kind::circle;
  data::shape_colour colour = data::shape_colour::red;
  data::shape_size size = data::shape_size::small;
  double cx = 0, cy = 0;  // pixel centroid
  std::int64_t area = 0;
  int x0 = 0, y0 = 0, width = 0, height = 0;            // bounding box of the core pixels (see parse_shapes_image)
  double fill = 0, top_corners = 0, bottom_corners = 0;  // the shape features, over the core pixels
  double halves = 0;  // fill of the bottom half of the box minus fill of its top half
};

// The objects of one image, largest first (ties in colour order).
struct parsed_scene {
  std::vector<parsed_shape> objects;
};

namespace detail {
// Fill of the pw × ph patch with top-left (x, y) in an object mask of the bounding box (row length w).
inline double patch_fill(const std::vector<std::uint8_t>& mask, int w, int x, int y, int pw, int ph) {
  int n = 0;
  for (int dy = 0; dy < ph; ++dy)
    for (int dx = 0; dx < pw; ++dx) n += mask[static_cast<std::size_t>((y + dy) * w + x + dx)];
  return static_cast<double>(n) / (pw * ph);
}
}  // namespace detail

// Parses one planar RGB image `chw` (3 × height × width, values nominally in [0, 1]).
inline parsed_scene parse_shapes_image(const float* chw, int height, int width, const shapes_parser_options& opt = {}) {
  check(height > 0 && width > 0, [&] { return cat("parse_shapes_image: expected a non-empty image, got ", width, "x", height); });
  check(opt.colour_threshold > 0 && opt.min_area_fraction >= 0 && opt.large_extent > 0,
        "parse_shapes_image: colour_threshold and large_extent must be > 0, min_area_fraction >= 0");
  const std::int64_t plane = static_cast<std::int64_t>(height) * width;
  constexpr std::uint8_t background = 255;
  // label = 3-bit RGB corner index (0 black ... 7 white), background when far from every corner or black
  std::vector<std::uint8_t> label(static_cast<std::size_t>(plane), background);
  const double t2 = opt.colour_threshold * opt.colour_threshold;
  for (std::int64_t p = 0; p < plane; ++p) {
    int corner = 0;
    double d2 = 0;
    for (int ch = 0; ch < 3; ++ch) {
      double v = chw[ch * plane + p];
      if (!std::isfinite(v)) v = 0;
      const int bit = v >= 0.5 ? 1 : 0;
      d2 += (v - bit) * (v - bit);
      corner |= bit << ch;
    }
    if (corner != 0 && d2 <= t2) label[static_cast<std::size_t>(p)] = static_cast<std::uint8_t>(corner);
  }
  // corner index (r | g << 1 | b << 2) -> colour
  constexpr std::array<int, 8> colour_of = {-1, 0, 1, 3, 2, 4, 5, 6};
  const auto min_area = static_cast<std::int64_t>(std::ceil(opt.min_area_fraction * static_cast<double>(plane)));
  // 4-connected components; kept pixels are marked in `keep` with their label
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(plane), 0);
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(plane), 0);
  std::vector<std::int64_t> stack, component;
  for (std::int64_t start = 0; start < plane; ++start) {
    const auto l = label[static_cast<std::size_t>(start)];
    if (l == background || seen[static_cast<std::size_t>(start)]) continue;
    component.clear();
    stack.assign(1, start);
    seen[static_cast<std::size_t>(start)] = 1;
    while (!stack.empty()) {
      const auto p = stack.back();
      stack.pop_back();
      component.push_back(p);
      const int y = static_cast<int>(p / width), x = static_cast<int>(p % width);
      const std::int64_t nb[4] = {x > 0 ? p - 1 : -1, x + 1 < width ? p + 1 : -1, y > 0 ? p - width : -1,
                                  y + 1 < height ? p + width : -1};
      for (auto q : nb)
        if (q >= 0 && !seen[static_cast<std::size_t>(q)] && label[static_cast<std::size_t>(q)] == l) {
          seen[static_cast<std::size_t>(q)] = 1;
          stack.push_back(q);
        }
    }
    if (static_cast<std::int64_t>(component.size()) >= std::max<std::int64_t>(min_area, 1))
      for (auto p : component) keep[static_cast<std::size_t>(p)] = l;
  }
  // The shape features are measured on core pixels, those with at least two 4-neighbours of their colour: a stray
  // pixel of the object's colour touching its edge would otherwise widen a small object's box by a pixel.
  auto is_core = [&](std::int64_t p, int l) {
    if (keep[static_cast<std::size_t>(p)] != l) return false;
    const int y = static_cast<int>(p / width), x = static_cast<int>(p % width);
    const int k = (x > 0 && keep[static_cast<std::size_t>(p - 1)] == l) + (x + 1 < width && keep[static_cast<std::size_t>(p + 1)] == l) +
                  (y > 0 && keep[static_cast<std::size_t>(p - width)] == l) +
                  (y + 1 < height && keep[static_cast<std::size_t>(p + width)] == l);
    return k >= 2;
  };
  parsed_scene scene;
  for (int corner = 1; corner < 8; ++corner) {
    int x0 = width, y0 = height, x1 = -1, y1 = -1;
    double sx = 0, sy = 0;
    std::int64_t n = 0, core_n = 0;
    for (std::int64_t p = 0; p < plane; ++p)
      if (keep[static_cast<std::size_t>(p)] == corner) {
        const int y = static_cast<int>(p / width), x = static_cast<int>(p % width);
        sx += x + 0.5, sy += y + 0.5;
        ++n;
        if (!is_core(p, corner)) continue;
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
        ++core_n;
      }
    if (core_n == 0) continue;
    parsed_shape o;
    o.colour = data::all_shape_colours[static_cast<std::size_t>(colour_of[static_cast<std::size_t>(corner)])];
    o.area = n;
    o.cx = sx / static_cast<double>(n);
    o.cy = sy / static_cast<double>(n);
    o.x0 = x0, o.y0 = y0, o.width = x1 - x0 + 1, o.height = y1 - y0 + 1;
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(o.width * o.height), 0);
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x)
        mask[static_cast<std::size_t>((y - y0) * o.width + x - x0)] =
            is_core(static_cast<std::int64_t>(y) * width + x, corner);
    o.fill = static_cast<double>(core_n) / (static_cast<double>(o.width) * o.height);
    const int c = std::max(1, static_cast<int>(std::lround(0.15 * std::min(o.width, o.height))));
    o.top_corners =
        (detail::patch_fill(mask, o.width, 0, 0, c, c) + detail::patch_fill(mask, o.width, o.width - c, 0, c, c)) / 2;
    o.bottom_corners = (detail::patch_fill(mask, o.width, 0, o.height - c, c, c) +
                        detail::patch_fill(mask, o.width, o.width - c, o.height - c, c, c)) / 2;
    const int half = o.height / 2;  // an odd height's middle row is in neither half
    o.halves = half ? (detail::patch_fill(mask, o.width, 0, o.height - half, o.width, half) -
                       detail::patch_fill(mask, o.width, 0, 0, o.width, half))
                    : 0;
    constexpr std::array<std::array<double, 4>, 3> prototype = {
        {{0.7853981633974483, 0, 0, 0}, {1, 1, 1, 0}, {0.5, 0, 0.75, 0.5}}};
    double best = 1e300;
    for (std::size_t k = 0; k < 3; ++k) {
      const double a = o.fill - prototype[k][0], b = o.top_corners - prototype[k][1], d = o.bottom_corners - prototype[k][2],
                   e = o.halves - prototype[k][3];
      const double dist = a * a + b * b + d * d + e * e;
      if (dist < best) best = dist, o.kind = data::all_shape_kinds[k];
    }
    o.size = std::max(o.width, o.height) >= opt.large_extent * std::max(width, height) ? data::shape_size::large
                                                                                        : data::shape_size::small;
    scene.objects.push_back(o);
  }
  std::stable_sort(scene.objects.begin(), scene.objects.end(),
                   [](const parsed_shape& a, const parsed_shape& b) { return a.area > b.area; });
  return scene;
}

// Parses image i of a batch [N, 3, H, W].
inline parsed_scene parse_shapes_image(const tensor<float>& images, std::int64_t i, const shapes_parser_options& opt = {}) {
  check(images.rank() == 4 && images.dim(1) == 3 && i >= 0 && i < images.dim(0), [&] {
    return cat("parse_shapes_image: expected RGB images [N, 3, H, W] and an index below N, got ", images.shape(), " and ", i);
  });
  const std::int64_t per = 3 * images.dim(2) * images.dim(3);
  return parse_shapes_image(images.data() + i * per, static_cast<int>(images.dim(2)), static_cast<int>(images.dim(3)), opt);
}

// How one image agrees with one caption: counts over the attributes the caption states.
struct caption_score {
  int colour_asked = 0, colour_right = 0;
  int shape_asked = 0, shape_right = 0;
  int size_asked = 0, size_right = 0;
  bool relation_asked = false, relation_right = false;
  bool count_right = false;  // the image holds exactly as many objects as the caption names
  bool whole_right = false;  // every stated attribute, the relation and the count right
  // Each stated shape and what the matched object is: the rows of caption_accuracy's shape confusion.
  struct shape_outcome {
    int size = 2;  // 0 small, 1 large, 2 not stated
    int want = 0;  // index in data::all_shape_kinds
    int got = 3;   // index in data::all_shape_kinds; 3: no object matched
  };
  std::array<shape_outcome, 2> shapes{};
  int shapes_n = 0;
};

// Scores parsed image `got` against caption `want` (see the top of this header).
inline caption_score score_caption(const data::caption_attributes& want, const parsed_scene& got) {
  const auto n = want.objects.size();
  check(n == 1 || n == 2, [&] { return cat("score_caption: a caption has one or two objects, got ", n); });
  const int m = static_cast<int>(got.objects.size());
  auto agree = [&](const data::object_description& d, int j, caption_score& s) {
    if (d.colour) ++s.colour_asked;
    if (d.kind) ++s.shape_asked;
    if (d.size) ++s.size_asked;
    if (d.kind) {
      auto& r = s.shapes[static_cast<std::size_t>(s.shapes_n++)];
      r.size = d.size ? static_cast<int>(*d.size) : 2;
      r.want = static_cast<int>(*d.kind);
      r.got = j < 0 ? 3 : static_cast<int>(got.objects[static_cast<std::size_t>(j)].kind);
    }
    if (j < 0) return;
    const auto& o = got.objects[static_cast<std::size_t>(j)];
    s.colour_right += d.colour && *d.colour == o.colour;
    s.shape_right += d.kind && *d.kind == o.kind;
    s.size_right += d.size && *d.size == o.size;
  };
  auto evaluate = [&](int j0, int j1) {
    caption_score s;
    agree(want.objects[0], j0, s);
    if (n == 2) {
      agree(want.objects[1], j1, s);
      s.relation_asked = true;
      if (j0 >= 0 && j1 >= 0) {
        const auto &a = got.objects[static_cast<std::size_t>(j0)], &b = got.objects[static_cast<std::size_t>(j1)];
        s.relation_right = data::relation_between(a.cx, a.cy, b.cx, b.cy) == want.relation;
      }
    }
    s.count_right = m == static_cast<int>(n);
    s.whole_right = s.count_right && s.colour_right == s.colour_asked && s.shape_right == s.shape_asked &&
                    s.size_right == s.size_asked && (!s.relation_asked || s.relation_right);
    return s;
  };
  auto merit = [](const caption_score& s) {
    return 8 * s.colour_right + 4 * s.shape_right + 2 * s.size_right + (s.relation_right ? 1 : 0);
  };
  caption_score best = evaluate(-1, -1);
  for (int j0 = -1; j0 < m; ++j0)
    for (int j1 = -1; j1 < (n == 2 ? m : 0); ++j1) {
      if (j0 >= 0 && j0 == j1) continue;
      const auto s = evaluate(j0, j1);
      if (merit(s) > merit(best)) best = s;
    }
  return best;
}

// Accuracy over many (image, caption) pairs: per attribute over the attributes the captions state, per relation
// over two-object captions, and per whole caption over images; and which shape each stated shape was parsed as.
struct caption_accuracy {
  std::int64_t images = 0, whole_right = 0, count_right = 0;
  std::int64_t colour_asked = 0, colour_right = 0, shape_asked = 0, shape_right = 0, size_asked = 0, size_right = 0;
  std::int64_t relation_asked = 0, relation_right = 0;
  // shape_confusion[size * 3 + wanted kind][parsed kind, or 3: no object]; size 0 small, 1 large, 2 not stated.
  std::array<std::array<std::int64_t, 4>, 9> shape_confusion{};

  // "small square" (or "square" where the captions state no size) for a row of shape_confusion.
  static std::string confusion_row_name(std::size_t row) {
    const auto kind = data::name(data::all_shape_kinds[row % 3]);
    return row / 3 == 2 ? std::string(kind) : cat(data::name(static_cast<data::shape_size>(row / 3)), " ", kind);
  }
  // "small square: circle 12 of 80, missing 1; ..." over the rows with a wrong parse; empty when there is none.
  std::string shape_confusion_summary() const {
    std::string out;
    for (std::size_t row = 0; row < shape_confusion.size(); ++row) {
      const auto& r = shape_confusion[row];
      const std::int64_t total = r[0] + r[1] + r[2] + r[3];
      std::string wrong;
      for (std::size_t got = 0; got < 4; ++got)
        if (got != row % 3 && r[got] > 0)
          wrong += cat(wrong.empty() ? "" : ", ", got == 3 ? "missing" : data::name(data::all_shape_kinds[got]), " ",
                       r[got]);
      if (!wrong.empty()) out += cat(out.empty() ? "" : "; ", confusion_row_name(row), " (", total, "): ", wrong);
    }
    return out;
  }

  void add(const caption_score& s) {
    for (int k = 0; k < s.shapes_n; ++k) {
      const auto& o = s.shapes[static_cast<std::size_t>(k)];
      ++shape_confusion[static_cast<std::size_t>(o.size * 3 + o.want)][static_cast<std::size_t>(o.got)];
    }
    ++images;
    whole_right += s.whole_right;
    count_right += s.count_right;
    colour_asked += s.colour_asked, colour_right += s.colour_right;
    shape_asked += s.shape_asked, shape_right += s.shape_right;
    size_asked += s.size_asked, size_right += s.size_right;
    relation_asked += s.relation_asked, relation_right += s.relation_right;
  }
  static double ratio(std::int64_t right, std::int64_t asked) {
    return asked ? static_cast<double>(right) / static_cast<double>(asked) : 0.0;
  }
  double whole() const { return ratio(whole_right, images); }
  double colour() const { return ratio(colour_right, colour_asked); }
  double shape() const { return ratio(shape_right, shape_asked); }
  double size() const { return ratio(size_right, size_asked); }
  double relation() const { return ratio(relation_right, relation_asked); }
  double count() const { return ratio(count_right, images); }

  // "whole 0.993 (993/1000) colour 1.000 shape 0.996 size 1.000 relation 0.998 count 1.000"
  std::string summary() const {
    auto f = [](double v) {
      char b[16];
      std::snprintf(b, sizeof b, "%.4f", v);
      return std::string(b);
    };
    return cat("whole ", f(whole()), " (", whole_right, "/", images, ") colour ", f(colour()), " shape ", f(shape()),
               " size ", f(size()), " relation ", f(relation()), " (", relation_right, "/", relation_asked, ") count ",
               f(count()));
  }
};

// Scores images [N, 3, H, W] against N captions.
inline caption_accuracy score_captions(const tensor<float>& images, const std::vector<data::caption_attributes>& captions,
                                       const shapes_parser_options& opt = {}) {
  check(images.rank() == 4 && images.dim(1) == 3 && images.dim(0) == static_cast<std::int64_t>(captions.size()), [&] {
    return cat("score_captions: expected RGB images [N, 3, H, W] and N captions, got ", images.shape(), " and ",
               captions.size(), " captions");
  });
  caption_accuracy acc;
  for (std::int64_t i = 0; i < images.dim(0); ++i)
    acc.add(score_caption(captions[static_cast<std::size_t>(i)], parse_shapes_image(images, i, opt)));
  return acc;
}

}  // namespace vae::metrics
