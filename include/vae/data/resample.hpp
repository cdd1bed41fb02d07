// Source images to float [N, C', S, S]: channel conversion and centre-crop area/bilinear resampling.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "vae/backend/cpu.hpp"
#include "vae/core/error.hpp"
#include "vae/core/tensor.hpp"
#include "vae/data/load_options.hpp"

namespace vae::data::detail {

// Per-axis resampling weights: output o reads sum_k w[o][k] * in[first[o] + k].
struct axis_weights {
  std::vector<std::int64_t> first;
  std::vector<std::vector<float>> w;
};

// Maps `len` input samples starting at `offset` (the centre crop) to `out` samples: box (area) weights when
// shrinking or keeping the size, bilinear (half-pixel centres, edge clamped) when enlarging.
inline axis_weights make_axis(std::int64_t offset, std::int64_t len, std::int64_t out) {
  axis_weights a;
  a.first.resize(static_cast<std::size_t>(out));
  a.w.resize(static_cast<std::size_t>(out));
  const double scale = static_cast<double>(len) / static_cast<double>(out);
  for (std::int64_t o = 0; o < out; ++o) {
    auto& w = a.w[static_cast<std::size_t>(o)];
    if (len >= out) {
      const double lo = o * scale, hi = (o + 1) * scale;
      const auto i0 = static_cast<std::int64_t>(std::floor(lo));
      const auto i1 = std::min<std::int64_t>(len, static_cast<std::int64_t>(std::ceil(hi)));
      a.first[static_cast<std::size_t>(o)] = offset + i0;
      for (std::int64_t i = i0; i < i1; ++i) {
        const double cover = std::min<double>(hi, static_cast<double>(i + 1)) - std::max<double>(lo, static_cast<double>(i));
        w.push_back(static_cast<float>(cover / scale));
      }
    } else {
      const double src = std::clamp((o + 0.5) * scale - 0.5, 0.0, static_cast<double>(len - 1));
      const auto i0 = static_cast<std::int64_t>(std::floor(src));
      const double f = src - static_cast<double>(i0);
      a.first[static_cast<std::size_t>(o)] = offset + i0;
      w.push_back(static_cast<float>(1.0 - f));
      if (i0 + 1 < len) w.push_back(static_cast<float>(f));
    }
  }
  return a;
}

// Resamples one h × w plane into an s × s plane (centre crop to min(h, w), then area/bilinear), separably.
inline void resample_plane(const float* in, std::int64_t h, std::int64_t w, float* out, std::int64_t s,
                           const axis_weights& ay, const axis_weights& ax, std::vector<float>& tmp) {
  (void)h;
  tmp.assign(static_cast<std::size_t>(ay.first.size() * w), 0.f);  // rows resampled first: s × w
  for (std::int64_t oy = 0; oy < s; ++oy) {
    const auto& wy = ay.w[static_cast<std::size_t>(oy)];
    const std::int64_t y0 = ay.first[static_cast<std::size_t>(oy)];
    float* t = tmp.data() + oy * w;
    for (std::size_t k = 0; k < wy.size(); ++k) {
      const float* row = in + (y0 + static_cast<std::int64_t>(k)) * w;
      for (std::int64_t x = 0; x < w; ++x) t[x] += wy[k] * row[x];
    }
  }
  for (std::int64_t oy = 0; oy < s; ++oy)
    for (std::int64_t ox = 0; ox < s; ++ox) {
      const auto& wx = ax.w[static_cast<std::size_t>(ox)];
      const float* t = tmp.data() + oy * w + ax.first[static_cast<std::size_t>(ox)];
      float acc = 0.f;
      for (std::size_t k = 0; k < wx.size(); ++k) acc += wx[k] * t[k];
      out[oy * s + ox] = acc;
    }
}

// Builds float [idx.size(), C', S, S] from a C × H × W source whose image i is read by load(i, plane_buffer)
// (which writes C·H·W floats in [0, 1]): converts channels to C' and resizes, one image per parallel iteration.
inline tensor<float> materialize(std::span<const std::int64_t> idx, std::int64_t c, std::int64_t h, std::int64_t w,
                                 const load_options& opt, const std::string& origin,
                                 const std::function<void(std::int64_t, float*)>& load) {
  const std::int64_t oc = opt.channels ? opt.channels : c;
  check(oc == c || ((c == 1 || c == 3) && (oc == 1 || oc == 3)), [&] {
    return cat("load_dataset '", origin, "': cannot convert ", c, " channels to ", oc, " (only 1 <-> 3)");
  });
  const bool resize = opt.image_size > 0 && (h != opt.image_size || w != opt.image_size);
  const std::int64_t oh = opt.image_size > 0 ? opt.image_size : h, ow = opt.image_size > 0 ? opt.image_size : w;
  const auto k = static_cast<std::int64_t>(idx.size());
  tensor<float> out(shape{k, oc, oh, ow});
  if (k == 0) return out;
  axis_weights ay, ax;
  if (resize) {
    const std::int64_t m = std::min(h, w);
    ay = make_axis((h - m) / 2, m, opt.image_size);
    ax = make_axis((w - m) / 2, m, opt.image_size);
  }
  const std::int64_t plane = h * w, oplane = oh * ow;
  std::vector<std::string> errors(static_cast<std::size_t>(k));
  parallel_for(k, k * oc * oplane * 8 + (1 << 20), [&](std::int64_t j) {
    std::vector<float> src(static_cast<std::size_t>(c * plane)), conv, tmp;
    try {
      load(idx[static_cast<std::size_t>(j)], src.data());
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(j)] = e.what();
      return;
    }
    const float* planes = src.data();
    if (oc != c) {
      conv.resize(static_cast<std::size_t>(oc * plane));
      if (oc == 3) {
        for (int ch = 0; ch < 3; ++ch) std::copy(src.begin(), src.begin() + plane, conv.begin() + ch * plane);
      } else {
        for (std::int64_t p = 0; p < plane; ++p)
          conv[static_cast<std::size_t>(p)] = 0.299f * src[static_cast<std::size_t>(p)] +
                                              0.587f * src[static_cast<std::size_t>(plane + p)] +
                                              0.114f * src[static_cast<std::size_t>(2 * plane + p)];
      }
      planes = conv.data();
    }
    float* dst = out.data() + j * oc * oplane;
    for (std::int64_t ch = 0; ch < oc; ++ch) {
      if (resize) resample_plane(planes + ch * plane, h, w, dst + ch * oplane, opt.image_size, ay, ax, tmp);
      else std::copy(planes + ch * plane, planes + (ch + 1) * plane, dst + ch * oplane);
    }
  });
  for (const auto& e : errors) check(e.empty(), e);
  return out;
}

}  // namespace vae::data::detail
