#include "interop/merged_weights.h"

#include "engine/error.h"

namespace qs::interop {

namespace {

engine::Tensor host_f32(const engine::Tensor& t) { return t.to(engine::Device::cpu()).to(engine::DType::f32); }

bool below_any(const std::string& path, const std::vector<std::pair<std::string, const nn::LinearLayer*>>& linears) {
  for (const auto& [outer, layer] : linears) {
    if (is_below(path, outer)) return true;
  }
  return false;
}

}  // namespace

bool is_below(const std::string& path, const std::string& prefix) {
  return !prefix.empty() && path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         path[prefix.size()] == '.';
}

std::vector<std::pair<std::string, const nn::LinearLayer*>> outermost_linears(const nn::Module& model) {
  std::vector<std::pair<std::string, const nn::LinearLayer*>> out;
  for (const auto& [path, module] : model.named_modules()) {
    const auto* linear = dynamic_cast<const nn::LinearLayer*>(module);
    if (linear == nullptr || below_any(path, out)) continue;
    QS_CHECK(!path.empty(), "export: the model itself is a linear layer; export its parent");
    out.emplace_back(path, linear);
  }
  return out;
}

engine::Tensor linear_bias(const nn::Module& linear) {
  engine::Tensor bias;
  for (const auto& [name, p] : linear.named_parameters()) {
    if (name != "bias" && !name.ends_with(".bias")) continue;
    QS_CHECK(!bias.defined(), "export: a linear layer holds two biases ('{}' is the second)", name);
    bias = p.data();
  }
  return bias;
}

std::vector<MergedTensor> merged_tensors(const nn::Module& model) {
  std::vector<MergedTensor> out;
  const auto linears = outermost_linears(model);
  for (const auto& [path, linear] : linears) {
    out.push_back({path + ".weight", {linear->out_features(), linear->in_features()},
                   [linear] { return host_f32(linear->effective_weight()); }});
    if (engine::Tensor bias = linear_bias(*linear); bias.defined()) {
      out.push_back({path + ".bias", bias.shape(), [bias] { return host_f32(bias); }});
    }
  }
  for (const auto& [name, p] : model.named_parameters()) {
    if (below_any(name, linears)) continue;
    engine::Tensor data = p.data();
    out.push_back({name, data.shape(), [data] { return host_f32(data); }});
  }
  return out;
}

std::map<std::string, engine::Tensor> merged_weights(const nn::Module& model) {
  std::map<std::string, engine::Tensor> out;
  for (const MergedTensor& t : merged_tensors(model)) out[t.name] = t.make();
  return out;
}

}  // namespace qs::interop
