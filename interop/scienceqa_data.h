#pragma once
// ScienceQA's published folders as the dataset QSLAW's stages train and
// evaluate on (sqa.source): each problem becomes an SqaQuestion (subject,
// context type and grade for ScienceQA's accuracy columns; question, hint as
// the text context, choices, answer, lecture and solution), each image padded
// to a square and resized as LLaVA's preprocessing does, kept as u8 at the
// vision tower's size.
#include <filesystem>
#include <string>

#include "data/scienceqa.h"
#include "data/sqa.h"

namespace qs::interop {

// Errors name the file, the problem and the field ("subject 'physics'").
data::SqaQuestion scienceqa_question(const data::ScienceQaProblem& problem);

struct ScienceQaSource {
  std::filesystem::path folder;  // problems.json, pid_splits.json, images/
  int64_t image_size = 336;
  // The first this many problems of each split (0: none of it).
  int64_t train = 0, val = 0, test = 0;
};
data::SqaDataset scienceqa_dataset(const ScienceQaSource& source);

}  // namespace qs::interop
