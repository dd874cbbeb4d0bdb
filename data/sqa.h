#pragma once
// SynthSQA (BENCHMARK.md): ScienceQA-shaped multiple-choice questions about
// the shape world, generated from scene graphs and the knowledge base. Each
// question keeps the generator kind and its parameters, so an independent
// checker can recompute the answer, and the scene its image (IMG) or its text
// context (TXT, about scenes) shows.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "data/entities.h"
#include "data/scene.h"
#include "engine/tensor.h"

namespace qs::data {

enum class Subject { nat, soc, lan };
enum class ContextType { txt, img, no };
enum class Grade { g1_6, g7_12 };
std::string name(Subject s);      // NAT SOC LAN
std::string name(ContextType c);  // TXT IMG NO
std::string name(Grade g);        // G1-6 G7-12

struct SqaQuestion {
  Subject subject = Subject::nat;
  ContextType context_type = ContextType::no;
  Grade grade = Grade::g1_6;
  std::string kind;                          // the generator, e.g. "count_shape"
  std::map<std::string, std::string> params;  // what it asks about, for checking
  std::string question;
  std::string context;  // the text context (TXT); empty otherwise
  std::vector<std::string> choices;
  int64_t answer = 0;  // index into choices
  std::string lecture, explanation;
  bool has_image = false;
  bool has_scene = false;  // scene below is meaningful (image or text about it)
  Scene scene;
};

struct SqaConfig {
  uint64_t seed = 0;
  int64_t train = 12000, val = 2000, test = 4000;
  // Shares of subjects and context types (normalised; language questions
  // have no image, so their IMG share goes to the other two contexts).
  double nat = 0.5, soc = 0.25, lan = 0.25;
  double img = 0.45, txt = 0.2, no = 0.35;
  double hard = 0.35;  // share of G7-12 (two or more reasoning steps)
  int64_t max_choices = 5;
  SceneConfig scene;
  // The pretraining corpus's knowledge base (its seed is the corpus seed;
  // count 0: none). In each cell that has creature questions, a share
  // `creatures` of the questions asks about them (data/sqa_creatures.h).
  EntityConfig entities;
  double creatures = 0.5;
  std::string key() const;  // identifies the generated content
};

struct SqaSplit {
  std::vector<SqaQuestion> questions;
  engine::Tensor images;             // u8 (M, H, W, 3): the images of the IMG questions
  std::vector<int64_t> image_index;  // per question: row of images, or -1
};

struct SqaDataset {
  SqaSplit train, val, test;
};

// One question of the given cell, drawn from rng; creature questions need
// the knowledge base (built from config.entities).
SqaQuestion make_sqa_question(Rng& rng, Subject subject, ContextType context, Grade grade,
                              const SqaConfig& config, const KnowledgeBase* kb = nullptr);
// Deterministic from the seed; no val or test question repeats a train one
// (same prompt and, for IMG, same scene).
SqaDataset make_sqa(const SqaConfig& config);
void save_sqa(const std::filesystem::path& path, const SqaDataset& data);
SqaDataset load_sqa(const std::filesystem::path& path);
// dir/sqa_<key>.h5: loaded when present, else generated and saved.
SqaDataset cached_sqa(const SqaConfig& config, const std::filesystem::path& dir);

// LLaVA's ScienceQA conversion: "Question: ...\nContext: ...\nOptions: (A) ..."
std::string sqa_prompt(const SqaQuestion& q);
// letter: LLaVA's "The answer is B."; text: the option itself, "The answer is
// 3." (small models learn to name an answer long before they learn to bind it
// to its option letter, so laptop-scale runs can measure both).
enum class AnswerFormat { letter, text };
AnswerFormat parse_answer_format(const std::string& name);
std::string sqa_answer(const SqaQuestion& q, AnswerFormat format = AnswerFormat::letter);
// What the assistant's turn holds: `answer`, the answer alone, or `lea`, the
// official QCM-LEA output "Answer: {lecture} {explanation} The answer is X."
// (the model writes the lecture and the explanation, then answers).
enum class AnswerTarget { answer, lea };
AnswerTarget parse_answer_target(const std::string& name);
std::string name(AnswerTarget t);
std::string sqa_target(const SqaQuestion& q, AnswerFormat format, AnswerTarget target);
// The choice a generation names ("The answer is C." or a bare letter), or
// nullopt for anything malformed or out of range. As the official ScienceQA
// evaluation does, a generation that says "The answer is" more than once is
// malformed; text before the marker (a lecture, an explanation) is skipped.
std::optional<int64_t> parse_answer(const std::string& generation, int64_t n_choices);
// The same for the text format: the option named after "The answer is ",
// matched exactly (without the final period); nullopt when none matches.
std::optional<int64_t> parse_answer(const std::string& generation, const std::vector<std::string>& choices,
                                    AnswerFormat format);
// What makes two questions the same (prompt, and the scene for IMG).
std::string question_key(const SqaQuestion& q);

}  // namespace qs::data
