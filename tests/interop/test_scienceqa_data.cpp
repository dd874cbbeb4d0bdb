// ScienceQA's folders as the dataset the stages train and evaluate on.
#include <filesystem>

#include "interop/scienceqa_data.h"
#include "support.h"

using namespace qs;

namespace {
const std::filesystem::path kScienceQa = std::filesystem::path(QS_FIXTURES) / "scienceqa";
}

TEST_CASE("scienceqa data: problems become questions in ScienceQA's columns, images fitted to the tower") {
  const data::SqaDataset d = interop::scienceqa_dataset({.folder = kScienceQa, .image_size = 16, .train = 10, .test = 10});
  REQUIRE(d.train.questions.size() == 2);
  REQUIRE(d.test.questions.size() == 1);
  CHECK(d.val.questions.empty());
  // pid 5: language science, grade 7, no image, no hint.
  const data::SqaQuestion& lan = d.train.questions[0];
  CHECK(lan.subject == data::Subject::lan);
  CHECK(lan.grade == data::Grade::g7_12);
  CHECK(lan.context_type == data::ContextType::no);
  CHECK(!lan.has_image);
  CHECK(d.train.image_index[0] == -1);
  // pid 12: natural science, grade 3, an image and a hint: IMG.
  const data::SqaQuestion& nat = d.train.questions[1];
  CHECK(nat.subject == data::Subject::nat);
  CHECK(nat.grade == data::Grade::g1_6);
  CHECK(nat.context_type == data::ContextType::img);
  CHECK(nat.has_image);
  CHECK(qs::test::has(nat.context, "Arctic foxes"));
  CHECK(nat.choices.size() == 3);
  CHECK(nat.answer == 1);
  CHECK(nat.params.at("pid") == "12");
  CHECK(d.train.images.shape() == engine::Shape{1, 16, 16, 3});
  CHECK(d.train.images.dtype() == engine::DType::u8);
  CHECK(d.test.questions[0].subject == data::Subject::soc);
  // The first N problems only.
  CHECK(interop::scienceqa_dataset({.folder = kScienceQa, .image_size = 16, .train = 1}).train.questions.size() == 1);
}

TEST_CASE("scienceqa data: unknown subjects and grades are refused naming the problem") {
  data::ScienceQaProblem p = data::load_scienceqa(kScienceQa, "train").front();  // pid 5
  p.subject = std::string("alchemy");
  std::string e = qs::test::error_of([&] { interop::scienceqa_question(p); });
  CHECK(qs::test::has(e, "problem 5"));
  CHECK(qs::test::has(e, "alchemy"));
  p.subject = "natural science";
  p.grade = std::string("grade13");
  CHECK(qs::test::has(qs::test::error_of([&] { interop::scienceqa_question(p); }), "grade13"));
}
