#include "quant/dequant_linear.h"

#include "engine/ops.h"

namespace qs::quant {

namespace e = qs::engine;
using engine::Tensor;

namespace {
// The dequantized tile is at most this large (plus one row): big enough that
// the GEMM on it runs near full speed (256-row tiles of a 4096-wide layer
// reached only 0.61 of the f32 product, 1024-row tiles 0.87), small enough to
// stay a bounded transient, never the whole matrix of a large layer.
constexpr int64_t kTileBytes = int64_t{16} << 20;

void for_each_tile(const DequantRows& rows, int64_t in, int64_t out, e::Device device,
                   const std::function<void(int64_t, int64_t, const Tensor&)>& body) {
  const int64_t tile_rows = std::max<int64_t>(1, std::min(out, kTileBytes / (4 * std::max<int64_t>(in, 1))));
  Tensor tile({tile_rows, in}, e::DType::f32, device);
  for (int64_t r0 = 0; r0 < out; r0 += tile_rows) {
    const int64_t r1 = std::min(out, r0 + tile_rows);
    Tensor t = tile.slice(0, 0, r1 - r0);
    rows(r0, t);
    body(r0, r1, t);
  }
}
}  // namespace

autograd::Var dequant_linear(const autograd::Var& x, int64_t in, int64_t out, DequantRows rows, const char* name) {
  Tensor x2 = x.data().to(e::DType::f32).reshape({-1, in});
  Tensor y({x2.size(0), out}, e::DType::f32, x2.device());
  for_each_tile(rows, in, out, x2.device(), [&](int64_t r0, int64_t r1, const Tensor& w) {
    e::copy_(y.slice(1, r0, r1), e::matmul(x2, w.t()));
  });
  e::Shape shape = x.shape();
  shape.back() = out;
  return autograd::make_result(y.view(shape), name, {x},
                               [rows, in, out, shape](const Tensor& g, const std::vector<bool>& needs) {
                                 if (!needs[0]) return std::vector<Tensor>{Tensor()};
                                 Tensor g2 = g.reshape({-1, out});
                                 Tensor dx = e::zeros({g2.size(0), in}, g2.dtype(), g2.device());
                                 for_each_tile(rows, in, out, g2.device(), [&](int64_t r0, int64_t r1, const Tensor& w) {
                                   dx = e::add(dx, e::matmul(g2.slice(1, r0, r1), w));
                                 });
                                 e::Shape xs = shape;
                                 xs.back() = in;
                                 return std::vector<Tensor>{dx.view(xs)};
                               });
}

}  // namespace qs::quant
