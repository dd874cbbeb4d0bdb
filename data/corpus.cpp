#include "data/corpus.h"
#include "data/sqa.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "data/knowledge.h"
#include "data/random.h"
#include "data/scene.h"
#include "engine/error.h"

namespace qs::data {

namespace {

std::string capitalize(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

std::string shape_fact(Rng& r) {
  Shape s = r.pick(all_shapes());
  const int n = sides(s);
  if (s == Shape::circle) {
    static const std::vector<std::string> t{"A circle has no sides and no corners.",
                                            "A circle is round, so it has zero sides.",
                                            "Circles have no straight sides."};
    return r.pick(t);
  }
  if (s == Shape::star) {
    static const std::vector<std::string> t{"A star has five points.", "Every star in the picture world has five points.",
                                            "Count the points of a star and you get five."};
    return r.pick(t);
  }
  const std::string w = number_word(n);
  switch (r.below(3)) {
    case 0: return "A " + name(s) + " has " + w + " sides.";
    case 1: return capitalize(plural(s)) + " have " + w + " sides and " + w + " corners.";
    default: return "The number of sides of a " + name(s) + " is " + w + ".";
  }
}

std::string color_fact(Rng& r) {
  static const std::vector<std::pair<Color, Color>> pairs{
      {Color::red, Color::yellow}, {Color::blue, Color::yellow}, {Color::red, Color::blue}};
  if (r.chance(0.6)) {
    auto [a, b] = r.pick(pairs);
    if (r.chance(0.5)) std::swap(a, b);
    const std::string m = name(*mix(a, b));
    switch (r.below(3)) {
      case 0: return "Mixing " + name(a) + " and " + name(b) + " makes " + m + ".";
      case 1: return capitalize(name(a)) + " paint mixed with " + name(b) + " paint gives " + m + ".";
      default: return "If you mix " + name(a) + " with " + name(b) + ", you get " + m + ".";
    }
  }
  Color c = r.pick(all_colors());
  const std::string kind = is_warm(c) ? "warm" : "cool";
  return r.chance(0.5) ? capitalize(name(c)) + " is a " + kind + " color."
                       : "People call " + name(c) + " a " + kind + " color.";
}

std::string price_fact(Rng& r) {
  const auto& all = items();
  const Item& a = r.pick(all);
  const Item& b = r.pick(all);
  switch (r.below(4)) {
    case 0: return "A " + a.name + " costs " + std::to_string(a.price) + " coins.";
    case 1:
      if (a.price != b.price) {
        const Item& hi = a.price > b.price ? a : b;
        const Item& lo = a.price > b.price ? b : a;
        return "A " + hi.name + " costs more than a " + lo.name + ".";
      }
      [[fallthrough]];
    case 2: return "A " + a.name + " is " + (a.is_good ? "a good: it is a thing you can hold." : "a service: it is work someone does for you.");
    default: return "At the market, the " + a.name + " is " + std::to_string(a.price) + " coins and the " + b.name + " is " + std::to_string(b.price) + " coins.";
  }
}

std::string language_fact(Rng& r) {
  switch (r.below(3)) {
    case 0: {
      const auto& cat = r.pick(word_categories());
      return "A " + r.pick(cat.words) + " is a kind of " + cat.category + ".";
    }
    case 1: {
      const auto& group = r.pick(rhyme_groups());
      const std::string& a = r.pick(group);
      std::string b = a;
      while (b == a) b = r.pick(group);
      return "The word " + a + " rhymes with " + b + ".";
    }
    default: {
      const auto& cat = r.pick(word_categories());
      std::string a = r.pick(cat.words), b = r.pick(word_categories()[static_cast<std::size_t>(r.below(4))].words);
      if (a == b) return "In a dictionary, " + a + " comes where it always does.";
      if (b < a) std::swap(a, b);
      return "In alphabetical order, " + a + " comes before " + b + ".";
    }
  }
}

std::string arithmetic_fact(Rng& r) {
  const int a = static_cast<int>(r.between(0, 10)), b = static_cast<int>(r.between(0, 10));
  switch (r.below(3)) {
    case 0: return std::to_string(a) + " plus " + std::to_string(b) + " is " + std::to_string(a + b) + ".";
    case 1: return number_word(a) + " and " + number_word(b) + " make " + number_word(a + b) + ".";
    default: {
      const int hi = std::max(a, b), lo = std::min(a, b);
      return std::to_string(hi) + " minus " + std::to_string(lo) + " is " + std::to_string(hi - lo) + ".";
    }
  }
}

std::string word_problem(Rng& r) {
  static const std::vector<std::string> people{"Ana", "Ben", "Mia", "Leo", "Zoe", "Sam"};
  const std::string who = r.pick(people);
  const Color c = r.pick(all_colors());
  const Shape s = r.pick(all_shapes());
  const int a = static_cast<int>(r.between(1, 9)), b = static_cast<int>(r.between(1, 9));
  const std::string obj = name(c) + " " + plural(s);
  if (r.chance(0.5)) {
    return who + " has " + number_word(a) + " " + obj + " and finds " + number_word(b) + " more. Now " + who +
           " has " + number_word(a + b) + " " + obj + ".";
  }
  const int hi = std::max(a, b), lo = std::min(a, b);
  return who + " has " + number_word(hi) + " " + obj + " and gives away " + number_word(lo) + ". " + who +
         " has " + number_word(hi - lo) + " left.";
}

}  // namespace

// A multiple-choice quiz without an image, in SynthSQA's prompt format, with
// its answer and explanation: how a pretrained LLM meets "Options: ... The
// answer is B." before instruction tuning (the frozen LM head of a LoRA run
// cannot learn to emit tokens the LLM never produced; see the closing note of
// the multimodal issue). Drawn from the corpus's own stream, so a quiz can
// coincide with a SynthSQA question of a small kind (e.g. "how many sides
// does a square have"), as web text overlaps real benchmarks.
std::string quiz(Rng& r) {
  const Subject subject = r.pick(std::vector<Subject>{Subject::nat, Subject::soc, Subject::lan});
  const ContextType context = r.chance(0.5) ? ContextType::no : ContextType::txt;
  const Grade grade = r.chance(0.35) ? Grade::g7_12 : Grade::g1_6;
  const SqaQuestion q = make_sqa_question(r, subject, context, grade, SqaConfig{});
  return sqa_prompt(q) + "\n" + sqa_answer(q) + " " + q.explanation;
}

std::string corpus_document(uint64_t seed, int64_t index) {
  Rng r = Rng(seed).fork(static_cast<uint64_t>(index));
  if (r.chance(0.125)) return quiz(r);
  const int64_t sentences = r.between(1, 4);
  std::string doc;
  for (int64_t i = 0; i < sentences; ++i) {
    std::string s;
    switch (r.below(7)) {
      case 0: s = shape_fact(r); break;
      case 1: s = color_fact(r); break;
      case 2: s = price_fact(r); break;
      case 3: s = language_fact(r); break;
      case 4: s = arithmetic_fact(r); break;
      case 5: s = word_problem(r); break;
      default: {
        Scene scene = sample_scene(r);
        s = describe_scene(scene, r);
      }
    }
    if (!doc.empty()) doc += ' ';
    doc += capitalize(s);
  }
  return doc;
}

Corpus make_corpus(const CorpusConfig& c) {
  QS_CHECK(c.documents >= 0, "corpus: documents must be >= 0, got {}", c.documents);
  QS_CHECK(c.val_fraction >= 0.0 && c.val_fraction < 1.0, "corpus: val_fraction must be in [0, 1), got {}",
           c.val_fraction);
  std::vector<std::string> docs;
  docs.reserve(static_cast<std::size_t>(c.documents));
  for (int64_t i = 0; i < c.documents; ++i) docs.push_back(corpus_document(c.seed, i));
  QS_CHECK(c.entity_documents >= 0, "corpus: entity_documents must be >= 0, got {}", c.entity_documents);
  QS_CHECK(c.entity_documents == 0 || c.entities.count > 0,
           "corpus: {} entity documents asked for, but the knowledge base is empty (entities.count is 0)",
           c.entity_documents);
  if (c.entity_documents > 0) {
    EntityConfig ec = c.entities;
    ec.seed = c.seed;
    const KnowledgeBase kb(ec);
    for (int64_t i = 0; i < c.entity_documents; ++i) docs.push_back(entity_document(kb, c.seed, i));
  }
  for (const std::string& file : c.text_files) {
    std::ifstream in(file);
    QS_CHECK(in.good(), "corpus: cannot open text file {}", file);
    std::string line, para;
    auto flush = [&] {
      if (!para.empty()) docs.push_back(para);
      para.clear();
    };
    while (std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) {
        flush();
      } else {
        para += para.empty() ? line : " " + line;
      }
    }
    flush();
  }
  // A deterministic split: each document goes to val with probability val_fraction.
  Corpus out;
  Rng r(c.seed ^ 0x5eed5eedull);
  for (std::string& d : docs) (r.chance(c.val_fraction) ? out.val : out.train).push_back(std::move(d));
  out.english_first = out.train.size();
  if (!c.english.wordnet.empty() || !c.english.gcide.empty()) {
    EnglishConfig ec = c.english;
    ec.seed = c.seed;
    EnglishText english = load_english(ec);
    out.train.insert(out.train.end(), std::make_move_iterator(english.train.begin()),
                     std::make_move_iterator(english.train.end()));
    out.val_english = std::move(english.val);
  }
  return out;
}

}  // namespace qs::data
