// Stage outliers: the observation behind QSLAW (METHOD.md) measured on our
// model: the inputs of each block's linear layers, split into text tokens and
// image tokens, on SynthSQA questions with images, through forward hooks on
// the aligned model. Per layer and token type: the outlier ratio (max over
// channels of the channel's max |x|, divided by the median channel), the
// kurtosis of all values, the share of values beyond 6 standard deviations
// and the share of channels whose max |x| exceeds 6x the median channel's
// (how dense the outliers are); with line charts of the ratio and of the
// outlier channels per layer, text against image.
#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "experiments/plot.h"
#include "experiments/stages/multimodal.h"
#include "nn/hooks.h"
#include "quant/surgery.h"

namespace qs::experiments {

namespace {

struct OutlierConfig {
  int64_t samples = 32;
  std::string layers = "layers.0-.*(q_proj|o_proj|gate_proj|down_proj)";
};

OutlierConfig read_config(ConfigSection& s) {
  OutlierConfig c;
  c.samples = s.get<int64_t>("samples", c.samples);
  c.layers = s.get<std::string>("layers", c.layers);
  quant::path_pattern(c.layers);
  QS_CHECK(c.samples > 0, "config {}: '{}' must be positive", s.file(), s.path_of("samples"));
  return c;
}

struct Rows {
  int64_t dim = 0;
  std::vector<float> values;  // tokens x dim
};

struct Stats {
  double ratio = 0, kurtosis = 0, beyond6 = 0, channels6 = 0;
  int64_t tokens = 0;
};

Stats stats_of(const Rows& r) {
  Stats s;
  if (r.values.empty()) return s;
  const int64_t n = static_cast<int64_t>(r.values.size()), d = r.dim;
  s.tokens = n / d;
  std::vector<double> channel(static_cast<std::size_t>(d), 0.0);
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = r.values[static_cast<std::size_t>(i)];
    channel[static_cast<std::size_t>(i % d)] = std::max(channel[static_cast<std::size_t>(i % d)], std::abs(v));
    mean += v;
  }
  mean /= static_cast<double>(n);
  double m2 = 0, m4 = 0;
  for (float v : r.values) {
    const double c = v - mean;
    m2 += c * c;
    m4 += c * c * c * c;
  }
  m2 /= static_cast<double>(n);
  m4 /= static_cast<double>(n);
  const double sd = std::sqrt(m2);
  int64_t beyond = 0;
  for (float v : r.values) beyond += std::abs(v - mean) > 6 * sd;
  std::vector<double> sorted = channel;
  std::nth_element(sorted.begin(), sorted.begin() + d / 2, sorted.end());
  const double median = sorted[static_cast<std::size_t>(d / 2)];
  s.ratio = median > 0 ? *std::max_element(channel.begin(), channel.end()) / median : 0.0;
  int64_t outlier_channels = 0;
  for (double m : channel) outlier_channels += median > 0 && m > 6 * median;
  s.channels6 = static_cast<double>(outlier_channels) / static_cast<double>(d);
  s.kurtosis = m2 > 0 ? m4 / (m2 * m2) : 0.0;
  s.beyond6 = static_cast<double>(beyond) / static_cast<double>(n);
  return s;
}

nlohmann::json run(StageContext& ctx) {
  OutlierConfig c = read_config(ctx.config);
  QS_CHECK(ctx.upstream.count("align"), "[outliers] needs the align stage before it (its projector)");
  MultimodalSetup setup = load_setup(ctx);
  RunLog& log = *ctx.log;
  auto model = build_llava(setup, Phase::adapt, ctx.upstream.at("align"));
  model->eval();
  data::SqaDataset sqa = load_sqa_data(setup);
  std::vector<int64_t> picked;
  for (std::size_t i = 0; i < sqa.test.questions.size() && static_cast<int64_t>(picked.size()) < c.samples; ++i) {
    if (sqa.test.questions[i].has_image) picked.push_back(static_cast<int64_t>(i));
  }
  QS_CHECK(!picked.empty(), "[outliers] the SynthSQA test split has no question with an image");
  // Collected inputs per layer: [0] text tokens, [1] image tokens.
  std::map<std::string, std::array<Rows, 2>> rows;
  engine::Tensor is_image;  // (T) u8 for the sample running now
  const quant::PathFilter select = quant::path_pattern(c.layers);
  auto hooked = nn::hook_linears(model->llm(), select, [&](const std::string& path, const autograd::Var& x, const autograd::Var&) {
    const engine::Tensor in = x.data().to(engine::Device::cpu()).contiguous();
    const int64_t t = in.size(1), d = in.size(2);
    const float* p = in.data<float>();
    const uint8_t* img = is_image.data<uint8_t>();
    auto& slot = rows[path];
    for (int64_t j = 0; j < t; ++j) {
      Rows& r = slot[img[j] ? 1 : 0];
      r.dim = d;
      r.values.insert(r.values.end(), p + j * d, p + (j + 1) * d);
    }
  });
  QS_CHECK(!hooked.empty(), "[outliers] '{}' selects no linear layer", c.layers);
  {
    autograd::NoGrad no_grad;
    for (int64_t i : picked) {
      ModelBatch b = make_batch({sqa_sample(sqa.test, i, setup)});
      is_image = engine::eq(b.batch.ids.select(0, 0), static_cast<double>(setup.image_token_id)).contiguous();
      model->forward(b.batch.ids, b.images);
    }
  }
  nn::unhook_linears(model->llm());
  nlohmann::json table = nlohmann::json::array();
  log.line(fmt::format("[outliers] inputs of {} linear layers on {} SynthSQA image questions", hooked.size(), picked.size()));
  log.line("| layer | ratio text | ratio image | kurtosis text | kurtosis image | >6σ text (‰) | >6σ image (‰) | "
           "channels >6x median text (%) | image (%) |");
  log.line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  double dense_text = 0, dense_image = 0, channels_text = 0, channels_image = 0;
  Series ratio_text{"text tokens", {}}, ratio_image{"image tokens", {}}, chan_text{"text tokens", {}},
      chan_image{"image tokens", {}};
  for (std::size_t k = 0; k < hooked.size(); ++k) {
    const std::string& path = hooked[k];
    const Stats t = stats_of(rows[path][0]), m = stats_of(rows[path][1]);
    table.push_back({{"layer", path}, {"text_ratio", t.ratio}, {"image_ratio", m.ratio}, {"text_kurtosis", t.kurtosis},
                     {"image_kurtosis", m.kurtosis}, {"text_beyond6", t.beyond6}, {"image_beyond6", m.beyond6},
                     {"text_channels6", t.channels6}, {"image_channels6", m.channels6},
                     {"text_tokens", t.tokens}, {"image_tokens", m.tokens}});
    log.line(fmt::format("| {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.2f} | {:.2f} | {:.1f} | {:.1f} |", path, t.ratio,
                         m.ratio, t.kurtosis, m.kurtosis, 1000 * t.beyond6, 1000 * m.beyond6, 100 * t.channels6,
                         100 * m.channels6));
    const double n = static_cast<double>(hooked.size()), x = static_cast<double>(k);
    dense_text += t.beyond6 / n;
    dense_image += m.beyond6 / n;
    channels_text += t.channels6 / n;
    channels_image += m.channels6 / n;
    ratio_text.points.emplace_back(x, t.ratio);
    ratio_image.points.emplace_back(x, m.ratio);
    chan_text.points.emplace_back(x, 100 * t.channels6);
    chan_image.points.emplace_back(x, 100 * m.channels6);
  }
  log.line(fmt::format("[outliers] mean share beyond 6σ: text {:.3f}‰, image {:.3f}‰; channels beyond 6x the median: "
                       "text {:.2f}%, image {:.2f}%", 1000 * dense_text, 1000 * dense_image, 100 * channels_text,
                       100 * channels_image));
  const std::string layers_axis = "hooked layer (in order: " + hooked.front() + " ... " + hooked.back() + ")";
  write_line_chart(ctx.artifacts / "outlier_ratio.svg", "max / median channel magnitude per layer", layers_axis,
                   "max / median", {ratio_text, ratio_image});
  write_line_chart(ctx.artifacts / "outlier_channels.svg", "channels above 6x the median channel per layer",
                   layers_axis, "% of channels", {chan_text, chan_image});
  log.line(fmt::format("[outliers] plots: {}, {}", (ctx.artifacts / "outlier_ratio.svg").string(),
                       (ctx.artifacts / "outlier_channels.svg").string()));
  return {{"layers", table}, {"mean_beyond6_text", dense_text}, {"mean_beyond6_image", dense_image},
          {"mean_channels6_text", channels_text}, {"mean_channels6_image", channels_image},
          {"samples", picked.size()}};
}

}  // namespace

StageDef outliers_stage() {
  return {"outliers", "activation outlier statistics of text vs image tokens (forward hooks)",
          [](ConfigSection& s) { read_config(s); }, run, {"method", "llava", "sqa"}};
}

}  // namespace qs::experiments
