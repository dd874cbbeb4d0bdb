#include <cmath>
#include <vector>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"
#include "engine/cpu/vec_math.h"

namespace qs::engine::cpu {

namespace {

template <class T>
double logsumexp(const T* row, int64_t v) {
  T mx = row[0];
  for (int64_t i = 1; i < v; ++i) mx = std::max(mx, row[i]);
  // Terms in T (vectorized exp), summed in double.
  double s = 0.0;
  for (int64_t i = 0; i < v; ++i) s += static_cast<double>(fast_exp(static_cast<T>(row[i] - mx)));
  return static_cast<double>(mx) + std::log(s);
}

}  // namespace

void cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                   const Tensor& loss) {
  dispatch_floating("cross_entropy", logits.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = logits.size(0), v = logits.size(1);
    const T* lp = logits.data<T>();
    const int64_t* tp = targets.data<int64_t>();
    std::vector<double> row_loss(n, 0.0);
#pragma omp parallel for schedule(static) if (n * v >= kParallelGrain)
    for (int64_t r = 0; r < n; ++r) {
      if (tp[r] == ignore_index) continue;
      const T* row = lp + r * v;
      row_loss[r] = logsumexp(row, v) - static_cast<double>(row[tp[r]]);
    }
    double total = 0.0;
    int64_t count = 0;
    for (int64_t r = 0; r < n; ++r) {
      if (tp[r] == ignore_index) continue;
      total += row_loss[r];
      ++count;
    }
    *loss.data<T>() = static_cast<T>(count ? total / count : 0.0);
  });
}

void cross_entropy_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                            double grad, const Tensor& dlogits) {
  dispatch_floating("cross_entropy_backward", logits.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = logits.size(0), v = logits.size(1);
    const T* lp = logits.data<T>();
    const int64_t* tp = targets.data<int64_t>();
    T* gp = dlogits.data<T>();
    int64_t count = 0;
    for (int64_t r = 0; r < n; ++r) count += tp[r] != ignore_index;
    const double scale = count ? grad / count : 0.0;
#pragma omp parallel for schedule(static) if (n * v >= kParallelGrain)
    for (int64_t r = 0; r < n; ++r) {
      T* g = gp + r * v;
      if (tp[r] == ignore_index) {
        for (int64_t i = 0; i < v; ++i) g[i] = T(0);
        continue;
      }
      const T* row = lp + r * v;
      const double lse = logsumexp(row, v);
      // d/dlogits of (lse - logit[target]) = softmax - onehot
      const T lse_t = static_cast<T>(lse), scale_t = static_cast<T>(scale);
      for (int64_t i = 0; i < v; ++i) g[i] = fast_exp(row[i] - lse_t) * scale_t;
      g[tp[r]] -= static_cast<T>(scale);
    }
  });
}

}  // namespace qs::engine::cpu
