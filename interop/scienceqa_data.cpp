#include "interop/scienceqa_data.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/ops.h"
#include "vision/image_io.h"
#include "vision/preprocess.h"

namespace qs::interop {

data::SqaQuestion scienceqa_question(const data::ScienceQaProblem& p) {
  data::SqaQuestion q;
  const std::string where = fmt::format("ScienceQA problem {}", p.pid);
  if (p.subject == "natural science") {
    q.subject = data::Subject::nat;
  } else if (p.subject == "social science") {
    q.subject = data::Subject::soc;
  } else if (p.subject == "language science") {
    q.subject = data::Subject::lan;
  } else {
    fail("{}: subject '{}' is none of natural, social and language science", where, p.subject);
  }
  int grade = 0;
  QS_CHECK(p.grade.rfind("grade", 0) == 0 && std::sscanf(p.grade.c_str() + 5, "%d", &grade) == 1 && grade >= 1 &&
               grade <= 12,
           "{}: grade '{}' is not grade1 ... grade12", where, p.grade);
  q.grade = grade <= 6 ? data::Grade::g1_6 : data::Grade::g7_12;
  q.has_image = !p.image.empty();
  // ScienceQA's context columns: IMG when there is an image, TXT for a hint alone.
  q.context_type = q.has_image ? data::ContextType::img : p.hint.empty() ? data::ContextType::no : data::ContextType::txt;
  q.kind = "scienceqa";
  q.params["pid"] = p.pid;
  q.question = p.question;
  q.context = p.hint;
  q.choices = p.choices;
  q.answer = p.answer;
  q.lecture = p.lecture;
  q.explanation = p.solution;
  return q;
}

namespace {

data::SqaSplit load_split(const ScienceQaSource& s, const std::string& split, int64_t limit) {
  data::SqaSplit out;
  if (limit <= 0) {
    out.images = engine::Tensor({0, s.image_size, s.image_size, 3}, engine::DType::u8);
    return out;
  }
  std::vector<data::ScienceQaProblem> problems = data::load_scienceqa(s.folder, split);
  if (static_cast<int64_t>(problems.size()) > limit) problems.resize(static_cast<std::size_t>(limit));
  vision::PreprocessConfig fit;
  fit.size = s.image_size;
  std::vector<engine::Tensor> images;
  for (const data::ScienceQaProblem& p : problems) {
    out.questions.push_back(scienceqa_question(p));
    if (p.image.empty()) {
      out.image_index.push_back(-1);
      continue;
    }
    out.image_index.push_back(static_cast<int64_t>(images.size()));
    images.push_back(vision::fit_image(vision::load_image(data::scienceqa_image_path(s.folder, p)), fit));
  }
  out.images = engine::Tensor({static_cast<int64_t>(images.size()), s.image_size, s.image_size, 3}, engine::DType::u8);
  for (std::size_t i = 0; i < images.size(); ++i) engine::copy_(out.images.select(0, static_cast<int64_t>(i)), images[i]);
  return out;
}

}  // namespace

data::SqaDataset scienceqa_dataset(const ScienceQaSource& s) {
  QS_CHECK(s.image_size > 0, "scienceqa_dataset: image_size must be positive");
  return {load_split(s, "train", s.train), load_split(s, "val", s.val), load_split(s, "test", s.test)};
}

}  // namespace qs::interop
