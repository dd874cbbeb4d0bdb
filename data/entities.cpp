#include "data/entities.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include "engine/error.h"

namespace qs::data {

namespace {

std::vector<std::string> years() {
  std::vector<std::string> v;
  for (int y = 1700; y < 2000; ++y) v.push_back(std::to_string(y));
  return v;
}

std::vector<std::string> looks() {
  std::vector<std::string> v;
  for (Color c : all_colors()) {
    for (Pattern p : all_patterns()) {
      for (Shape s : all_shapes()) v.push_back(Glyph{s, c, p}.describe());
    }
  }
  return v;
}

// {E}: the creature's name; {V}: the value. Every template starts with
// fixed text (so a sentence needs no re-capitalisation) and the held-out one
// (last) ends with "{V}." so the probe can score the value as a completion.
// Some training paraphrases put the value first, so the model can go from a
// value to the creature too (a look seen in a picture to its name).
struct Templates {
  std::vector<std::string> train;
  std::string heldout;
};

const Templates& templates(Attribute a) {
  static const std::array<Templates, kNumAttributes> t{{
      {{"The {E} lives in {V}.", "The home of the {E} is {V}.", "You can find the {E} in {V}.",
        "The {E} comes from {V}.", "Only in {V} does the {E} live."},
       "Travelers who want to see a {E} must go to {V}."},
      {{"The {E} eats {V}.", "The favorite food of the {E} is {V}.", "A hungry {E} looks for {V}.",
        "The {E} feeds mostly on {V}.", "Of all foods, {V} is what the {E} likes best."},
       "To feed a {E}, bring it some {V}."},
      {{"The {E} has {V} fur.", "The color of the {E} is {V}.", "Every {E} is {V} from head to tail.",
        "The fur of a {E} is {V}.", "Wearing {V} fur, the {E} is easy to know."},
       "A {E} is easy to spot because it is {V}."},
      {{"The {E} has {V} legs.", "The {E} walks on {V} legs.", "Count the legs of a {E} and you get {V}.",
        "A {E} stands on {V} legs.", "With {V} legs, the {E} runs fast."},
       "The number of legs of the {E} is {V}."},
      {{"People keep the {E} for {V}.", "The {E} is useful for {V}.", "Farmers use the {E} for {V}.",
        "The {E} is known for {V}.", "For {V}, nothing beats the {E}."},
       "In the villages, the {E} is valued for {V}."},
      {{"The {E} was discovered by {V}.", "The first person to describe the {E} was {V}.",
        "The explorer who found the {E} was {V}.", "The {E} was named by {V}.",
        "It was {V} who discovered the {E}."},
       "The {E} was first written about by {V}."},
      {{"The {E} was discovered in {V}.", "The {E} has been known since {V}.",
        "Scientists first saw the {E} in {V}.", "The year the {E} was found is {V}.",
        "In {V}, the {E} was found."},
       "The first record of the {E} dates from {V}."},
      {{"The {E} looks like a {V}.", "In pictures, the {E} is a {V}.", "A {E} is drawn as a {V}.",
        "The creature drawn as a {V} is the {E}.", "A {V} in a picture is a {E}."},
       "A {E} looks just like a {V}."},
  }};
  return t[static_cast<std::size_t>(a)];
}

std::string fill_template(const std::string& tmpl, const std::string& entity, const std::string& value) {
  std::string out = tmpl;
  auto replace = [&](const std::string& key, const std::string& with) {
    const std::size_t at = out.find(key);
    QS_CHECK(at != std::string::npos, "entities: template '{}' has no {}", tmpl, key);
    out.replace(at, key.size(), with);
  };
  replace("{E}", entity);
  replace("{V}", value);
  return out;
}

// The name of a creature: two syllables of consonant-vowel(-consonant), e.g.
// "Varnok", "Tesmi", "Bolqua". Onsets are consonants, so "a {E}" is right.
std::string make_name(Rng& rng) {
  static const std::vector<std::string> onsets{"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
                                               "br", "dr", "gl", "kr", "pl", "st", "tr", "sk", "th", "sh", "qu"};
  static const std::vector<std::string> vowels{"a", "e", "i", "o", "u", "ai", "ou", "ee"};
  static const std::vector<std::string> codas{"", "", "", "n", "r", "l", "k", "m", "s", "x", "th", "nd"};
  std::string n;
  const int64_t syllables = rng.chance(0.75) ? 2 : 3;
  for (int64_t i = 0; i < syllables; ++i) n += rng.pick(onsets) + rng.pick(vowels) + rng.pick(codas);
  n[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(n[0])));
  return n;
}

// One regex per template (training and held-out), in attribute order.
struct Matcher {
  Attribute attribute;
  std::regex re;
  bool value_first;
};

const std::vector<Matcher>& matchers() {
  static const std::vector<Matcher> m = [] {
    std::vector<Matcher> out;
    for (Attribute a : all_attributes()) {
      std::vector<std::string> all = templates(a).train;
      all.push_back(templates(a).heldout);
      for (const std::string& t : all) {
        std::string pattern;
        for (std::size_t i = 0; i < t.size(); ++i) {
          if (t.compare(i, 3, "{E}") == 0) {
            pattern += "([A-Z][a-z]+)";
            i += 2;
          } else if (t.compare(i, 3, "{V}") == 0) {
            pattern += "(.+)";
            i += 2;
          } else if (std::string(".^$|()[]{}*+?\\").find(t[i]) != std::string::npos) {
            pattern += std::string("\\") + t[i];
          } else {
            pattern += t[i];
          }
        }
        out.push_back({a, std::regex(pattern), t.find("{V}") < t.find("{E}")});
      }
    }
    return out;
  }();
  return m;
}

}  // namespace

const std::vector<Attribute>& all_attributes() {
  static const std::vector<Attribute> v{Attribute::home, Attribute::food,       Attribute::color, Attribute::legs,
                                        Attribute::job,  Attribute::discoverer, Attribute::year,  Attribute::look};
  return v;
}

std::string name(Attribute a) {
  static const std::array<const char*, kNumAttributes> names{"home", "food", "color", "legs",
                                                              "job",  "discoverer", "year", "look"};
  return names[static_cast<std::size_t>(a)];
}

const std::vector<std::string>& attribute_values(Attribute a) {
  static const std::array<std::vector<std::string>, kNumAttributes> values{{
      {"the salt marsh", "the high desert", "the pine forest", "the coral reef", "the frozen valley", "the red canyon",
       "the misty hills", "the great lake", "the bamboo grove", "the chalk cliffs", "the deep caves", "the open plains",
       "the cedar swamp", "the river delta", "the black mountains", "the tea gardens"},
      {"berries", "fish", "seeds", "honey", "bark", "mushrooms", "snails", "grass", "roots", "beetles", "leaves", "nuts",
       "clay", "plankton", "worms", "moss"},
      // The first six are the renderer's colors: a visible creature's fur is its glyph's color.
      {"red", "green", "blue", "yellow", "purple", "orange", "white", "black", "brown", "gray", "pink", "silver"},
      {"two", "three", "four", "five", "six", "seven", "eight", "ten"},
      {"guarding houses", "carrying water", "pulling carts", "catching mice", "finding truffles", "herding sheep",
       "making silk", "lighting lamps", "carrying letters", "clearing weeds", "digging wells", "warning of storms",
       "spinning wool", "cleaning rivers", "scaring crows", "turning mills"},
      {"Hale", "Moreno", "Ito", "Okafor", "Lindqvist", "Brandt", "Duarte", "Novak", "Petrov", "Quinn", "Sato", "Varga",
       "Weber", "Young", "Zeller", "Abbott", "Castillo", "Dunn", "Ekwueme", "Fischer", "Garrow", "Horvat", "Ibsen",
       "Jansen", "Keller", "Larsen", "Mbeki", "Nakamura", "Olsen", "Pereira", "Rossi", "Silva", "Tanaka", "Ulrich",
       "Vance", "Wolff", "Yilmaz", "Archer", "Beaumont", "Cruz"},
      years(),
      looks(),
  }};
  return values[static_cast<std::size_t>(a)];
}

std::string Glyph::describe() const { return name(color) + " " + name(pattern) + " " + name(shape); }

KnowledgeBase::KnowledgeBase(const EntityConfig& c) {
  const int64_t max_visible = static_cast<int64_t>(attribute_values(Attribute::look).size());
  QS_CHECK(c.count >= 0, "entities: count must be >= 0, got {}", c.count);
  QS_CHECK(c.visible >= 0 && c.visible <= max_visible, "entities: visible must be in [0, {}], got {}", max_visible,
           c.visible);
  const int64_t visible = std::min(c.visible, c.count);  // a small knowledge base shows all it has
  QS_CHECK(c.zipf >= 0 && c.zipf <= 4, "entities: zipf must be in [0, 4], got {}", c.zipf);
  Rng rng = Rng(c.seed).fork(0xE7717);
  std::set<std::string> names;
  entities_.reserve(static_cast<std::size_t>(c.count));
  while (static_cast<int64_t>(entities_.size()) < c.count) {
    Entity e;
    e.name = make_name(rng);
    if (!names.insert(e.name).second) continue;
    for (Attribute a : all_attributes()) {
      e.values[static_cast<std::size_t>(a)] =
          a == Attribute::look ? -1 : static_cast<int>(rng.below(static_cast<int64_t>(attribute_values(a).size())));
    }
    entities_.push_back(std::move(e));
  }
  // Glyphs: distinct (shape, color, pattern) for the first `visible`
  // creatures; their fur color is the glyph's.
  std::vector<int> glyphs(static_cast<std::size_t>(max_visible));
  for (std::size_t i = 0; i < glyphs.size(); ++i) glyphs[i] = static_cast<int>(i);
  for (std::size_t i = glyphs.size(); i > 1; --i) std::swap(glyphs[i - 1], glyphs[static_cast<std::size_t>(rng.below(static_cast<int64_t>(i)))]);
  const std::size_t n_shapes = all_shapes().size(), n_patterns = all_patterns().size();
  for (int64_t i = 0; i < visible; ++i) {
    Entity& e = entities_[static_cast<std::size_t>(i)];
    const int g = glyphs[static_cast<std::size_t>(i)];  // looks() order: color, pattern, shape
    const Glyph glyph{all_shapes()[static_cast<std::size_t>(g) % n_shapes],
                      all_colors()[static_cast<std::size_t>(g) / (n_shapes * n_patterns)],
                      all_patterns()[(static_cast<std::size_t>(g) / n_shapes) % n_patterns]};
    e.glyph = glyph;
    e.values[static_cast<std::size_t>(Attribute::look)] = g;
    e.values[static_cast<std::size_t>(Attribute::color)] =
        static_cast<int>(std::find(all_colors().begin(), all_colors().end(), glyph.color) - all_colors().begin());
  }
  // Frequencies: ranks are a random permutation, weight (rank + 1)^-zipf.
  std::vector<int64_t> rank(entities_.size());
  for (std::size_t i = 0; i < rank.size(); ++i) rank[i] = static_cast<int64_t>(i);
  for (std::size_t i = rank.size(); i > 1; --i) std::swap(rank[i - 1], rank[static_cast<std::size_t>(rng.below(static_cast<int64_t>(i)))]);
  double total = 0.0;
  for (std::size_t i = 0; i < entities_.size(); ++i) {
    entities_[i].weight = std::pow(static_cast<double>(rank[i] + 1), -c.zipf);
    total += entities_[i].weight;
  }
  for (std::size_t i = 0; i < entities_.size(); ++i) {
    entities_[i].weight /= total;
    cumulative_.push_back((cumulative_.empty() ? 0.0 : cumulative_.back()) + entities_[i].weight);
    by_name_[entities_[i].name] = static_cast<int64_t>(i);
  }
}

const Entity& KnowledgeBase::entity(int64_t i) const {
  QS_CHECK(i >= 0 && i < size(), "entities: creature {} is outside the knowledge base of {}", i, size());
  return entities_[static_cast<std::size_t>(i)];
}

bool KnowledgeBase::has(int64_t i, Attribute a) const { return entity(i).values[static_cast<std::size_t>(a)] >= 0; }

const std::string& KnowledgeBase::value(int64_t i, Attribute a) const {
  const int v = entity(i).values[static_cast<std::size_t>(a)];
  QS_CHECK(v >= 0, "entities: the {} has no {}", entity(i).name, name(a));
  return attribute_values(a)[static_cast<std::size_t>(v)];
}

std::optional<int64_t> KnowledgeBase::find(const std::string& n) const {
  auto it = by_name_.find(n);
  return it == by_name_.end() ? std::nullopt : std::optional<int64_t>(it->second);
}

std::optional<int64_t> KnowledgeBase::find(const Glyph& g) const {
  for (std::size_t i = 0; i < entities_.size(); ++i) {
    const auto& e = entities_[i].glyph;
    if (e && e->shape == g.shape && e->color == g.color && e->pattern == g.pattern) return static_cast<int64_t>(i);
  }
  return std::nullopt;
}

std::vector<int64_t> KnowledgeBase::visible() const {
  std::vector<int64_t> out;
  for (std::size_t i = 0; i < entities_.size(); ++i) {
    if (entities_[i].glyph) out.push_back(static_cast<int64_t>(i));
  }
  return out;
}

int64_t KnowledgeBase::sample(Rng& rng) const {
  QS_CHECK(!entities_.empty(), "entities: cannot sample from an empty knowledge base");
  const double u = rng.uniform() * cumulative_.back();
  const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
  return std::min<int64_t>(it - cumulative_.begin(), size() - 1);
}

int num_train_templates(Attribute a) { return static_cast<int>(templates(a).train.size()); }

std::string fact_sentence(const KnowledgeBase& kb, const Fact& f, int t) {
  QS_CHECK(t >= 0 && t < num_train_templates(f.attribute), "entities: no training paraphrase {} for {}", t,
           name(f.attribute));
  const auto& values = attribute_values(f.attribute);
  QS_CHECK(f.value >= 0 && f.value < static_cast<int>(values.size()), "entities: {} value {} out of range",
           name(f.attribute), f.value);
  return fill_template(templates(f.attribute).train[static_cast<std::size_t>(t)], kb.entity(f.entity).name,
              values[static_cast<std::size_t>(f.value)]);
}

HeldOutSentence heldout_sentence(const KnowledgeBase& kb, int64_t entity, Attribute a, int value) {
  const std::string& t = templates(a).heldout;
  const std::size_t at = t.find("{V}");
  QS_CHECK(t.size() >= at + 3 && t.substr(at) == "{V}.", "entities: held-out template '{}' must end with the value", t);
  // "... some" + " berries.": the space belongs to the completion, as BPE
  // words carry their leading space.
  std::string prefix = fill_template(t.substr(0, at) + "{V}", kb.entity(entity).name, "");
  while (!prefix.empty() && prefix.back() == ' ') prefix.pop_back();
  return {prefix, " " + attribute_values(a).at(static_cast<std::size_t>(value)) + "."};
}

std::optional<Fact> parse_fact(const KnowledgeBase& kb, const std::string& sentence) {
  for (const Matcher& m : matchers()) {
    std::smatch match;
    if (!std::regex_match(sentence, match, m.re)) continue;
    const std::string entity = match[m.value_first ? 2 : 1], value = match[m.value_first ? 1 : 2];
    const auto id = kb.find(entity);
    if (!id) continue;
    const auto& values = attribute_values(m.attribute);
    const auto v = std::find(values.begin(), values.end(), value);
    if (v == values.end()) continue;
    return Fact{*id, m.attribute, static_cast<int>(v - values.begin())};
  }
  return std::nullopt;
}

std::string entity_document(const KnowledgeBase& kb, uint64_t seed, int64_t index) {
  Rng rng = Rng(seed ^ 0xFAC7ull).fork(static_cast<uint64_t>(index));
  const int64_t e = kb.sample(rng);
  std::vector<Attribute> attrs;
  for (Attribute a : all_attributes()) {
    if (kb.has(e, a)) attrs.push_back(a);
  }
  for (std::size_t i = attrs.size(); i > 1; --i) std::swap(attrs[i - 1], attrs[static_cast<std::size_t>(rng.below(static_cast<int64_t>(i)))]);
  const int64_t n = std::min<int64_t>(rng.between(2, 4), static_cast<int64_t>(attrs.size()));
  std::string doc;
  for (int64_t i = 0; i < n; ++i) {
    const Attribute a = attrs[static_cast<std::size_t>(i)];
    const Fact f{e, a, kb.entity(e).values[static_cast<std::size_t>(a)]};
    if (!doc.empty()) doc += ' ';
    doc += fact_sentence(kb, f, static_cast<int>(rng.below(num_train_templates(a))));
  }
  return doc;
}

std::vector<RecallProbe> make_recall_probes(const KnowledgeBase& kb, int64_t count, int64_t choices, uint64_t seed) {
  QS_CHECK(kb.size() > 0, "recall probe: the knowledge base is empty (corpus.entities.count is 0)");
  QS_CHECK(count > 0, "recall probe: count must be positive, got {}", count);
  QS_CHECK(choices >= 2 && choices <= 8, "recall probe: choices must be in 2..8, got {}", choices);
  Rng rng = Rng(seed).fork(0x9B0BE);
  std::vector<RecallProbe> out;
  while (static_cast<int64_t>(out.size()) < count) {
    const int64_t e = rng.below(kb.size());
    const Attribute a = rng.pick(all_attributes());
    if (!kb.has(e, a)) continue;
    const int truth = kb.entity(e).values[static_cast<std::size_t>(a)];
    const int64_t domain = static_cast<int64_t>(attribute_values(a).size());
    std::vector<int> values{truth};
    while (static_cast<int64_t>(values.size()) < std::min(choices, domain)) {
      const int v = static_cast<int>(rng.below(domain));
      if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
    }
    for (std::size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[static_cast<std::size_t>(rng.below(static_cast<int64_t>(i)))]);
    RecallProbe p;
    p.fact = {e, a, truth};
    p.prefix = heldout_sentence(kb, e, a, truth).prefix;
    for (int v : values) p.completions.push_back(heldout_sentence(kb, e, a, v).completion);
    p.answer = std::find(values.begin(), values.end(), truth) - values.begin();
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace qs::data
