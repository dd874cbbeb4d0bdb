#pragma once
// The knowledge base of the second-edition testbed (BENCHMARK.md): thousands
// of fictional creatures, each with attributes drawn at random from a seed,
// so that nothing but memorisation answers a question about them. The corpus
// states every fact in several paraphrases; one more paraphrase per attribute
// never appears in training text and is what the recall probe asks with.
// A few creatures have a visual signature (a glyph: shape, color, pattern)
// that the renderer can draw, so a question can need perception and recall.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/knowledge.h"
#include "data/random.h"

namespace qs::data {

enum class Attribute { home, food, color, legs, job, discoverer, year, look };
constexpr int kNumAttributes = 8;
const std::vector<Attribute>& all_attributes();
std::string name(Attribute a);  // "home", "food", ...
// The values an attribute takes, as written in text ("the salt marsh",
// "berries", ...). `look` values are glyph descriptions ("red striped star").
const std::vector<std::string>& attribute_values(Attribute a);

struct Glyph {
  Shape shape;
  Color color;
  Pattern pattern;
  std::string describe() const;  // "red striped star": the look value
};

struct Entity {
  std::string name;  // "Varnok": capitalised, unique, starts with a consonant
  // Index into attribute_values per attribute; -1 where it has none (only
  // visible creatures have a look).
  std::array<int, kNumAttributes> values{};
  std::optional<Glyph> glyph;
  double weight = 1.0;  // relative frequency in the corpus (sums to 1)
};

struct EntityConfig {
  uint64_t seed = 0;
  int64_t count = 0;     // 0: no knowledge base
  int64_t visible = 120;  // creatures with a glyph (at most count); at most 5 shapes x 6 colors x 4 patterns
  // Corpus frequency of the creature of rank r is proportional to
  // (r + 1)^-zipf: a long tail of rarely stated facts, as in real text.
  double zipf = 0.5;
};

struct Fact {
  int64_t entity = 0;
  Attribute attribute = Attribute::home;
  int value = 0;
  bool operator==(const Fact&) const = default;
};

class KnowledgeBase {
 public:
  KnowledgeBase() = default;
  explicit KnowledgeBase(const EntityConfig& config);

  const std::vector<Entity>& entities() const { return entities_; }
  int64_t size() const { return static_cast<int64_t>(entities_.size()); }
  const Entity& entity(int64_t i) const;
  const std::string& value(int64_t entity, Attribute a) const;  // fails where it has none
  bool has(int64_t entity, Attribute a) const;
  std::optional<int64_t> find(const std::string& name) const;
  // A creature drawn by corpus frequency.
  int64_t sample(Rng& rng) const;
  // The visible creatures, and which of them wears a glyph.
  std::vector<int64_t> visible() const;
  std::optional<int64_t> find(const Glyph& glyph) const;

 private:
  std::vector<Entity> entities_;
  std::vector<double> cumulative_;
  std::unordered_map<std::string, int64_t> by_name_;
};

// Paraphrases that training text uses for an attribute.
int num_train_templates(Attribute a);
// A training sentence stating the fact with paraphrase `t` (< num_train_templates).
std::string fact_sentence(const KnowledgeBase& kb, const Fact& fact, int t);
// The held-out paraphrase, split where the value starts: the recall probe
// scores `completion` after `prefix` for every candidate value.
struct HeldOutSentence {
  std::string prefix;      // "To feed a Varnok, bring it some"
  std::string completion;  // " berries."
};
HeldOutSentence heldout_sentence(const KnowledgeBase& kb, int64_t entity, Attribute a, int value);
// The fact a training or held-out sentence states, or nullopt when it is not
// a fact sentence of this knowledge base (unknown creature or value).
std::optional<Fact> parse_fact(const KnowledgeBase& kb, const std::string& sentence);

// A short profile: 2-4 facts of one creature, each in a random training
// paraphrase, as one document. Document i of a seed is always the same text.
std::string entity_document(const KnowledgeBase& kb, uint64_t seed, int64_t index);

// The recall probe: held-out paraphrases of facts drawn uniformly over
// creatures and attributes, each with the true value and `choices - 1`
// distinct other values of the attribute (chance = 1 / choices).
struct RecallProbe {
  Fact fact;
  std::string prefix;
  std::vector<std::string> completions;  // one per candidate value
  int64_t answer = 0;                    // index of the true value
};
std::vector<RecallProbe> make_recall_probes(const KnowledgeBase& kb, int64_t count, int64_t choices,
                                            uint64_t seed);

}  // namespace qs::data
