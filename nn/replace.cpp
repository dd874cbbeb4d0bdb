#include "nn/replace.h"

namespace qs::nn {

namespace {
void visit(Module& m, const std::string& prefix, const PathFilter& select, const LayerFactory& make,
           std::vector<std::string>& done) {
  for (auto& [name, child] : std::vector(m.children())) {
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    if (auto layer = std::dynamic_pointer_cast<LinearLayer>(child); layer && select(path)) {
      if (auto replacement = make(layer, path)) {
        m.replace_child(name, replacement);
        done.push_back(path);
        continue;
      }
    }
    visit(*child, path, select, make, done);
  }
}
}  // namespace

std::vector<std::string> replace_linears(Module& root, const PathFilter& select, const LayerFactory& make) {
  std::vector<std::string> done;
  visit(root, "", select, make, done);
  return done;
}

}  // namespace qs::nn
