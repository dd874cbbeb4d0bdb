#include "quant/nf4.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/ops.h"

namespace qs::quant {

namespace e = qs::engine;

const std::array<float, 16> kNf4Levels{
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

namespace {
constexpr int64_t kAbsmaxBlock = 256;

uint8_t nearest_level(float x) {
  // Levels are sorted: binary search, then the closer neighbour.
  auto it = std::lower_bound(kNf4Levels.begin(), kNf4Levels.end(), x);
  if (it == kNf4Levels.begin()) return 0;
  if (it == kNf4Levels.end()) return 15;
  const auto i = static_cast<uint8_t>(it - kNf4Levels.begin());
  return (x - kNf4Levels[i - 1] <= kNf4Levels[i] - x) ? static_cast<uint8_t>(i - 1) : i;
}

float block_absmax(const Nf4Weight& q, int64_t b) {
  if (!q.double_quant) return q.absmax.data<float>()[b];
  return static_cast<float>(q.absmax_codes.data<int32_t>()[b]) * q.absmax_scale.data<float>()[b / kAbsmaxBlock] +
         q.absmax_offset;
}
}  // namespace

double Nf4Weight::bits_per_parameter() const {
  return 8.0 * static_cast<double>(bytes()) / static_cast<double>(out * in);
}

int64_t Nf4Weight::bytes() const {
  const int64_t blocks = out * in / block;
  int64_t b = out * in / 2;
  if (double_quant) {
    b += blocks + 4 * ((blocks + kAbsmaxBlock - 1) / kAbsmaxBlock) + 4;  // int8 codes, f32 scales, offset
  } else {
    b += 4 * blocks;
  }
  return b;
}

Nf4Weight nf4_quantize(const Tensor& w_in, int64_t block, bool double_quant) {
  QS_CHECK(w_in.dim() == 2, "nf4: weight must be (out, in), got {}", e::describe(w_in));
  QS_CHECK(block > 0 && block % 2 == 0 && w_in.size(1) % block == 0,
           "nf4: block size {} must be even and divide in_features {}", block, w_in.size(1));
  Tensor w = w_in.to(e::DType::f32).contiguous();
  Nf4Weight q;
  q.out = w.size(0);
  q.in = w.size(1);
  q.block = block;
  q.double_quant = double_quant;
  const int64_t n = q.out * q.in, blocks = n / block;
  const float* wp = w.data<float>();
  std::vector<float> absmax(blocks);
  q.packed = e::zeros({q.out, q.in / 2}, e::DType::u8);
  uint8_t* pp = q.packed.data<uint8_t>();
  for (int64_t b = 0; b < blocks; ++b) {
    float m = 0.0f;
    for (int64_t i = b * block; i < (b + 1) * block; ++i) m = std::max(m, std::abs(wp[i]));
    absmax[b] = m;
  }
  if (double_quant) {
    // Quantize the constants first, so codes are chosen against what dequantization will use.
    double mean = 0.0;
    for (float a : absmax) mean += a;
    q.absmax_offset = static_cast<float>(mean / static_cast<double>(blocks));
    const int64_t groups = (blocks + kAbsmaxBlock - 1) / kAbsmaxBlock;
    q.absmax_scale = e::zeros({groups});
    q.absmax_codes = e::zeros({blocks}, e::DType::i32);
    for (int64_t g = 0; g < groups; ++g) {
      float m = 0.0f;
      for (int64_t b = g * kAbsmaxBlock; b < std::min(blocks, (g + 1) * kAbsmaxBlock); ++b) {
        m = std::max(m, std::abs(absmax[b] - q.absmax_offset));
      }
      const float s = m > 0 ? m / 127.0f : 1.0f;
      q.absmax_scale.data<float>()[g] = s;
      for (int64_t b = g * kAbsmaxBlock; b < std::min(blocks, (g + 1) * kAbsmaxBlock); ++b) {
        q.absmax_codes.data<int32_t>()[b] = static_cast<int32_t>(std::nearbyint((absmax[b] - q.absmax_offset) / s));
      }
    }
  } else {
    q.absmax = e::from_vector(absmax);
  }
  for (int64_t b = 0; b < blocks; ++b) {
    const float m = block_absmax(q, b);
    const float inv = m > 0 ? 1.0f / m : 0.0f;
    for (int64_t i = b * block; i < (b + 1) * block; ++i) {
      const uint8_t code = nearest_level(wp[i] * inv);
      pp[i / 2] |= static_cast<uint8_t>((i & 1) ? code << 4 : code);
    }
  }
  return q;
}

void nf4_dequantize_rows(const Nf4Weight& q, int64_t r0, int64_t r1, float* dst) {
  const uint8_t* pp = q.packed.data<uint8_t>();
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t j = 0; j < q.in; j += q.block) {
      const int64_t first = r * q.in + j;
      const float m = block_absmax(q, first / q.block);
      for (int64_t i = first; i < first + q.block; ++i) {
        const uint8_t byte = pp[i / 2];
        dst[(r - r0) * q.in + (i - r * q.in)] = kNf4Levels[(i & 1) ? byte >> 4 : byte & 15] * m;
      }
    }
  }
}

Tensor nf4_dequantize(const Nf4Weight& q) {
  Tensor w({q.out, q.in}, e::DType::f32);
  nf4_dequantize_rows(q, 0, q.out, w.data<float>());
  return w;
}

}  // namespace qs::quant
