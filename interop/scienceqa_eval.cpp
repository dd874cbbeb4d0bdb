#include "interop/scienceqa_eval.h"

#include "data/chat_template.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "vision/image_io.h"

namespace qs::interop {

SqaEvalResult evaluate_scienceqa(nn::Llava& model, const data::SentencePieceTokenizer& tokenizer,
                                 const std::filesystem::path& scienceqa, const SqaEvalOptions& options) {
  std::vector<data::ScienceQaProblem> problems = data::load_scienceqa(scienceqa, options.split);
  if (options.limit > 0 && static_cast<int64_t>(problems.size()) > options.limit) problems.resize(options.limit);
  QS_CHECK(tokenizer.vocab_size() <= model.llm().config().vocab_size,
           "evaluate_scienceqa: the tokenizer has {} tokens but the LLM's vocabulary only {}: not this model's tokenizer",
           tokenizer.vocab_size(), model.llm().config().vocab_size);
  model.eval();
  const nn::GenerateOptions generate{.max_new_tokens = options.max_new_tokens, .eos_id = tokenizer.eos_id()};
  SqaEvalResult out;
  for (const data::ScienceQaProblem& p : problems) {
    const std::string text = data::chat_text(data::ChatTemplate::vicuna_v1, data::scienceqa_eval_question(p));
    const std::vector<int64_t> prompt =
        data::tokenize_with_images(tokenizer, text, model.image_token_id, model.vision().tokens());
    engine::Tensor image;
    if (!p.image.empty()) {
      image = vision::preprocess(vision::load_image(data::scienceqa_image_path(scienceqa, p)), options.preprocess);
      image = image.view({1, image.size(0), image.size(1), image.size(2)});
    }
    std::vector<int64_t> ids = model.generate(prompt, image, generate);
    if (!ids.empty() && ids.back() == tokenizer.eos_id()) ids.pop_back();
    SqaPrediction pred{p.pid, tokenizer.decode(ids)};
    pred.choice = data::parse_scienceqa_answer(pred.text, p.choices.size());
    pred.correct = pred.choice == p.answer;
    ++out.total;
    out.correct += pred.correct;
    out.malformed += pred.choice < 0;
    for (const std::string& column : data::scienceqa_columns(p)) {
      auto& [right, seen] = out.columns[column];
      right += pred.correct;
      ++seen;
    }
    out.predictions.push_back(std::move(pred));
  }
  return out;
}

}  // namespace qs::interop
