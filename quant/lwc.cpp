#include "quant/lwc.h"

#include "autograd/functions.h"
#include "engine/ops.h"
#include "engine/dist/process_group.h"
#include "nn/data_parallel.h"
#include "nn/optim/optimizer.h"
#include "quant/quant_linear.h"

namespace qs::quant {

namespace ag = qs::autograd;
namespace e = qs::engine;

namespace {

std::vector<std::pair<std::string, QuantLinear*>> quant_layers(nn::Module& block, const std::string& prefix) {
  std::vector<std::pair<std::string, QuantLinear*>> out;
  for (auto& [path, m] : block.named_modules()) {
    if (auto* q = dynamic_cast<QuantLinear*>(m)) out.emplace_back(prefix + "." + path, q);
  }
  return out;
}

double mse(const e::Tensor& a, const e::Tensor& b) { return e::mean(e::pow(a - b, 2.0)).item<double>(); }

}  // namespace

std::vector<LwcBlockReport> calibrate_lwc(nn::Llama& model, const e::Tensor& calib, const e::Tensor& heldout,
                                          const LwcConfig& c) {
  QS_CHECK(calib.dim() == 2 && heldout.dim() == 2, "calibrate_lwc: token ids must be (N, T), got {} and {}",
           e::describe(calib), e::describe(heldout));
  model.set_requires_grad(false);
  auto& layers = model.child<nn::ModuleList>("layers");
  e::Tensor x, xh;
  {
    ag::NoGrad no_grad;
    x = model.embed(calib).data();
    xh = model.embed(heldout).data();
  }
  const e::Tensor pos = e::arange(0, static_cast<double>(calib.size(1)));
  const e::Tensor pos_h = e::arange(0, static_cast<double>(heldout.size(1)));
  std::vector<LwcBlockReport> reports;
  for (int64_t i = 0; i < layers.size(); ++i) {
    auto& block = layers.at<nn::TransformerBlock>(i);
    auto qls = quant_layers(block, "layers." + std::to_string(i));
    auto run = [&](const e::Tensor& in, const e::Tensor& p) { return block.forward(ag::Var(in), p).data(); };
    e::Tensor target, target_h;
    LwcBlockReport report{i, 0.0, 0.0};
    {
      ag::NoGrad no_grad;
      for (auto& [path, q] : qls) q->set_bypass(true);
      target = run(x, pos);
      target_h = run(xh, pos_h);
      for (auto& [path, q] : qls) q->set_bypass(false);
      report.mse_minmax = mse(run(xh, pos_h), target_h);
    }
    if (!qls.empty()) {
      std::vector<std::pair<std::string, ag::Var>> clips;
      for (auto& [path, q] : qls) {
        q->enable_clipping(c.clip_init);
        clips.emplace_back(path + ".clip_upper", q->parameter("clip_upper"));
        clips.emplace_back(path + ".clip_lower", q->parameter("clip_lower"));
      }
      nn::AdamW opt({nn::ParamGroup{"clip", clips, c.lr, 0.0}});
      // With several processes each rank fits its share of every
      // mini-batch's rows; the mean over a share, weighted by its size,
      // averages to the mini-batch's mean (nn/data_parallel.h).
      e::dist::ProcessGroup& group = e::dist::world();
      std::vector<ag::Var> clip_params;
      for (auto& [path, p] : clips) clip_params.push_back(p);
      nn::GradientSync sync(clip_params, group);
      const int64_t n = x.size(0);
      for (int64_t epoch = 0; epoch < c.epochs; ++epoch) {
        for (int64_t s = 0; s < n; s += c.batch_size) {
          const int64_t t = std::min(n, s + c.batch_size);
          const e::dist::Share share = e::dist::share_of(t - s, group.rank(), group.size());
          opt.zero_grad();
          if (share.size() > 0) {
            const int64_t a = s + share.begin, b = s + share.end;
            ag::Var out = block.forward(ag::Var(x.slice(0, a, b)), pos);
            ag::Var loss = ag::mean(ag::pow(out - ag::Var(target.slice(0, a, b)), 2.0));
            if (group.size() > 1) loss = loss * (static_cast<double>(b - a) / static_cast<double>(t - s) * group.size());
            sync.backward(loss);
          }
          sync.finish();
          opt.step();
        }
      }
      for (auto& [path, q] : qls) q->freeze_grid();
    }
    ag::NoGrad no_grad;
    report.mse_lwc = mse(run(xh, pos_h), target_h);
    reports.push_back(report);
    // The next block sees what the quantized blocks so far produce.
    x = run(x, pos);
    xh = run(xh, pos_h);
  }
  return reports;
}

}  // namespace qs::quant
