// SynthSQA in HDF5: per split, the questions as JSON (UTF-8 bytes in a u8
// tensor: HDF5 attributes stop at 64 KiB), the images u8 (M, H, W, 3) and
// the question -> image row index.
#include <nlohmann/json.hpp>

#include "data/file_cache.h"
#include "data/sqa.h"
#include "engine/io/tensor_file.h"
#include "engine/ops.h"

namespace qs::data {

namespace e = qs::engine;
using nlohmann::json;

namespace {

json to_json(const SqaQuestion& q) {
  json objects = json::array();
  for (const Object& o : q.scene.objects) {
    objects.push_back({static_cast<int>(o.shape), static_cast<int>(o.color), static_cast<int>(o.size), o.x, o.y, o.radius,
                       static_cast<int>(o.pattern)});
  }
  return {{"subject", static_cast<int>(q.subject)}, {"context_type", static_cast<int>(q.context_type)},
          {"grade", static_cast<int>(q.grade)},    {"kind", q.kind},
          {"params", q.params},                    {"question", q.question},
          {"context", q.context},                  {"choices", q.choices},
          {"answer", q.answer},                    {"lecture", q.lecture},
          {"explanation", q.explanation},          {"has_image", q.has_image},
          {"has_scene", q.has_scene},              {"canvas", q.scene.canvas},
          {"objects", objects}};
}

// An enum value read from a file: checked before the cast.
int enum_value(const json& v, int n, const char* what, const std::string& question) {
  const int x = v.get<int>();
  QS_CHECK(x >= 0 && x < n, "sqa: question '{}' has {} {} (expected 0..{})", question, what, x, n - 1);
  return x;
}

SqaQuestion from_json(const json& j) {
  SqaQuestion q;
  q.question = j.at("question").get<std::string>();
  q.subject = static_cast<Subject>(enum_value(j.at("subject"), 3, "subject", q.question));
  q.context_type = static_cast<ContextType>(enum_value(j.at("context_type"), 3, "context type", q.question));
  q.grade = static_cast<Grade>(enum_value(j.at("grade"), 2, "grade", q.question));
  q.kind = j.at("kind").get<std::string>();
  q.params = j.at("params").get<std::map<std::string, std::string>>();
  q.context = j.at("context").get<std::string>();
  q.choices = j.at("choices").get<std::vector<std::string>>();
  q.answer = j.at("answer").get<int64_t>();
  q.lecture = j.at("lecture").get<std::string>();
  q.explanation = j.at("explanation").get<std::string>();
  q.has_image = j.at("has_image").get<bool>();
  q.has_scene = j.at("has_scene").get<bool>();
  q.scene.canvas = j.at("canvas").get<int>();
  // [shape, color, size, x, y, radius] and, since patterns, the pattern.
  auto in_range = [&](const json& v, int n, const char* what) { return enum_value(v, n, what, q.question); };
  for (const json& o : j.at("objects")) {
    QS_CHECK(o.is_array() && (o.size() == 6 || o.size() == 7), "sqa: question '{}' has an object of {} fields (expected 6 or 7)",
             q.question, o.size());
    Object obj{static_cast<Shape>(in_range(o[0], 5, "shape")), static_cast<Color>(in_range(o[1], 6, "color")),
               static_cast<Size>(in_range(o[2], 2, "size")), o[3].get<double>(), o[4].get<double>(), o[5].get<double>()};
    if (o.size() == 7) obj.pattern = static_cast<Pattern>(in_range(o[6], 4, "pattern"));
    q.scene.objects.push_back(obj);
  }
  QS_CHECK(q.answer >= 0 && q.answer < static_cast<int64_t>(q.choices.size()),
           "sqa: question '{}' has answer {} outside its {} choices", q.question, q.answer, q.choices.size());
  return q;
}

e::Tensor bytes_tensor(const std::string& s) {
  e::Tensor t({static_cast<int64_t>(s.size())}, e::DType::u8);
  std::copy(s.begin(), s.end(), t.data<uint8_t>());
  return t;
}

}  // namespace

void save_sqa(const std::filesystem::path& path, const SqaDataset& d) {
  e::TensorFile f;
  auto put = [&](const std::string& split, const SqaSplit& s) {
    json qs = json::array();
    for (const SqaQuestion& q : s.questions) qs.push_back(to_json(q));
    f.tensors[split + ".questions"] = bytes_tensor(qs.dump());
    f.tensors[split + ".images"] = s.images;
    f.tensors[split + ".image_index"] = e::from_vector(s.image_index);
  };
  put("train", d.train);
  put("val", d.val);
  put("test", d.test);
  f.attributes["format"] = "synthsqa-1";
  e::save_tensor_file(path, f);
}

SqaDataset load_sqa(const std::filesystem::path& path) {
  e::TensorFile f = e::load_tensor_file(path);
  QS_CHECK(f.attributes.count("format") && f.attributes["format"] == "synthsqa-1",
           "sqa: {} is not a SynthSQA file (no format attribute 'synthsqa-1')", path.string());
  auto get = [&](const std::string& split) {
    SqaSplit s;
    for (const char* part : {".questions", ".images", ".image_index"}) {
      QS_CHECK(f.tensors.count(split + part), "sqa: {} lacks the tensor '{}{}'", path.string(), split, part);
    }
    const e::Tensor& bytes = f.tensors.at(split + ".questions");
    const std::string text(reinterpret_cast<const char*>(bytes.data<uint8_t>()), static_cast<std::size_t>(bytes.numel()));
    json qs;
    try {
      qs = json::parse(text);
      for (const json& q : qs) s.questions.push_back(from_json(q));
    } catch (const json::exception& ex) {
      fail("sqa: {}: the {} questions are corrupt ({})", path.string(), split, ex.what());
    }
    s.images = f.tensors.at(split + ".images");
    s.image_index = e::to_vector<int64_t>(f.tensors.at(split + ".image_index"));
    QS_CHECK(s.image_index.size() == s.questions.size(), "sqa: {}: {} has {} questions but {} image indices",
             path.string(), split, s.questions.size(), s.image_index.size());
    for (int64_t i : s.image_index) {
      QS_CHECK(i < s.images.size(0), "sqa: {}: {} image index {} out of range ({} images)", path.string(), split, i,
               s.images.size(0));
    }
    return s;
  };
  return {get("train"), get("val"), get("test")};
}

SqaDataset cached_sqa(const SqaConfig& config, const std::filesystem::path& dir) {
  return cached_file(dir / ("sqa_" + config.key() + ".h5"), [&config] { return make_sqa(config); }, save_sqa, load_sqa);
}

}  // namespace qs::data
