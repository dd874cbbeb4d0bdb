#include <map>
#include <set>
#include <sstream>

#include "data/corpus.h"
#include "data/entities.h"
#include "support.h"

using namespace qs::data;
using qs::test::error_of;
using qs::test::has;

namespace {

KnowledgeBase kb_of(uint64_t seed, int64_t count = 500, int64_t visible = 60) {
  EntityConfig c;
  c.seed = seed;
  c.count = count;
  c.visible = visible;
  return KnowledgeBase(c);
}

// Sentences of a document: it joins sentences with single spaces, each ending in '.'.
std::vector<std::string> sentences(const std::string& doc) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    if (doc[i] == '.' && (i + 1 == doc.size() || doc[i + 1] == ' ')) {
      out.push_back(doc.substr(start, i + 1 - start));
      start = i + 2;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("the knowledge base is deterministic per seed, with unique names and glyphs") {
  const KnowledgeBase a = kb_of(3), b = kb_of(3), c = kb_of(4);
  REQUIRE(a.size() == 500);
  bool same = true, differs = false;
  for (int64_t i = 0; i < a.size(); ++i) {
    same = same && a.entity(i).name == b.entity(i).name && a.entity(i).values == b.entity(i).values;
    differs = differs || a.entity(i).name != c.entity(i).name;
  }
  CHECK(same);
  CHECK(differs);
  std::set<std::string> names, glyphs;
  double total = 0;
  for (const Entity& e : a.entities()) {
    names.insert(e.name);
    total += e.weight;
    CHECK(std::string("aeiouAEIOU").find(e.name[0]) == std::string::npos);  // "a {name}" is right
    if (e.glyph) {
      glyphs.insert(e.glyph->describe());
      // A visible creature's fur is its glyph's color, and its look names the glyph.
      CHECK(attribute_values(Attribute::color)[static_cast<std::size_t>(e.values[2])] == name(e.glyph->color));
      CHECK(attribute_values(Attribute::look)[static_cast<std::size_t>(e.values[7])] == e.glyph->describe());
      CHECK(a.find(*e.glyph) == a.find(e.name));
    } else {
      CHECK(e.values[7] == -1);
    }
  }
  CHECK(names.size() == 500);
  CHECK(glyphs.size() == 60);
  CHECK(a.visible().size() == 60);
  CHECK(total == doctest::Approx(1.0));
  CHECK(has(error_of([] { kb_of(0, 100, 121); }), "visible must be in [0, 120], got 121"));
  CHECK(kb_of(0, 10, 120).visible().size() == 10);  // a small base shows every creature
}

TEST_CASE("attributes are arbitrary: values spread over their whole domain") {
  const KnowledgeBase kb = kb_of(1, 2000, 0);
  for (Attribute a : all_attributes()) {
    if (a == Attribute::look) continue;
    std::map<int, int> counts;
    for (const Entity& e : kb.entities()) ++counts[e.values[static_cast<std::size_t>(a)]];
    const std::size_t domain = attribute_values(a).size();
    INFO(name(a));
    CHECK(counts.size() >= std::min<std::size_t>(domain, 250));  // years: 300 values, 2000 draws
    for (auto& [v, n] : counts) CHECK(n < 2000 / static_cast<int>(domain) * 3 + 20);
  }
}

TEST_CASE("every generated fact sentence is true of the knowledge base (parsed back)") {
  const KnowledgeBase kb = kb_of(5);
  int64_t parsed = 0;
  std::map<Attribute, int> per_attribute;
  for (int64_t i = 0; i < 2000; ++i) {
    const std::string doc = entity_document(kb, 5, i);
    CHECK(doc == entity_document(kb, 5, i));
    const auto ss = sentences(doc);
    CHECK(ss.size() >= 2);
    CHECK(ss.size() <= 4);
    std::set<int64_t> about;
    for (const std::string& s : ss) {
      const auto fact = parse_fact(kb, s);
      INFO(s);
      REQUIRE(fact.has_value());
      CHECK(kb.entity(fact->entity).values[static_cast<std::size_t>(fact->attribute)] == fact->value);
      about.insert(fact->entity);
      ++per_attribute[fact->attribute];
      ++parsed;
    }
    CHECK(about.size() == 1);  // a profile is about one creature
  }
  CHECK(parsed > 5000);
  CHECK(per_attribute.size() == static_cast<std::size_t>(kNumAttributes));
  // Every training paraphrase round-trips, and a false or foreign sentence does not parse.
  for (Attribute a : all_attributes()) {
    const int64_t e = a == Attribute::look ? kb.visible()[0] : 7;
    const Fact f{e, a, kb.entity(e).values[static_cast<std::size_t>(a)]};
    for (int t = 0; t < num_train_templates(a); ++t) CHECK(parse_fact(kb, fact_sentence(kb, f, t)) == f);
  }
  CHECK_FALSE(parse_fact(kb, "The Qqqq eats berries.").has_value());
  CHECK_FALSE(parse_fact(kb, "The " + kb.entity(0).name + " eats gravel.").has_value());
  CHECK_FALSE(parse_fact(kb, "A triangle has three sides.").has_value());
}

TEST_CASE("the held-out paraphrase never appears in training text, and probes have one true choice") {
  const KnowledgeBase kb = kb_of(2);
  for (Attribute a : all_attributes()) {
    const int64_t e = a == Attribute::look ? kb.visible()[0] : 0;
    const HeldOutSentence h = heldout_sentence(kb, e, a, kb.entity(e).values[static_cast<std::size_t>(a)]);
    const Fact f{e, a, kb.entity(e).values[static_cast<std::size_t>(a)]};
    CHECK(parse_fact(kb, h.prefix + h.completion) == f);
  }
  int64_t checked = 0;
  for (int64_t i = 0; i < 3000; ++i) {
    for (const std::string& s : sentences(entity_document(kb, 2, i))) {
      const Fact f = *parse_fact(kb, s);
      const HeldOutSentence h = heldout_sentence(kb, f.entity, f.attribute, f.value);
      CHECK(s != h.prefix + h.completion);
      CHECK_FALSE(has(s, h.prefix));
      ++checked;
    }
  }
  CHECK(checked > 5000);
  const auto probes = make_recall_probes(kb, 400, 4, 9);
  REQUIRE(probes.size() == 400);
  std::set<Attribute> attrs;
  for (const RecallProbe& p : probes) {
    attrs.insert(p.fact.attribute);
    REQUIRE(p.completions.size() == 4);
    std::set<std::string> distinct(p.completions.begin(), p.completions.end());
    CHECK(distinct.size() == 4);
    int true_count = 0;
    for (const std::string& c : p.completions) {
      const auto f = parse_fact(kb, p.prefix + c);
      REQUIRE(f.has_value());
      true_count += *f == p.fact ? 1 : 0;
    }
    CHECK(true_count == 1);
    CHECK(*parse_fact(kb, p.prefix + p.completions[static_cast<std::size_t>(p.answer)]) == p.fact);
  }
  CHECK(attrs.size() == static_cast<std::size_t>(kNumAttributes));
  CHECK(has(error_of([] { make_recall_probes(KnowledgeBase(), 10, 4, 0); }), "knowledge base is empty"));
}

TEST_CASE("frequent creatures are stated more often than rare ones (zipf)") {
  EntityConfig c;
  c.count = 200;
  c.visible = 0;
  c.zipf = 1.0;
  const KnowledgeBase kb(c);
  std::map<int64_t, int> seen;
  for (int64_t i = 0; i < 4000; ++i) {
    const auto f = parse_fact(kb, sentences(entity_document(kb, 0, i))[0]);
    REQUIRE(f.has_value());
    ++seen[f->entity];
  }
  int64_t top = 0;
  for (int64_t i = 0; i < kb.size(); ++i) {
    if (kb.entity(i).weight > kb.entity(top).weight) top = i;
  }
  CHECK(seen[top] > 4000 * kb.entity(top).weight * 0.7);
  CHECK(seen.size() < 200);  // with zipf 1 the rarest are seldom stated
}

TEST_CASE("the corpus mixes creature profiles in when asked, and refuses them without creatures") {
  CorpusConfig c;
  c.documents = 100;
  c.entities.count = 50;
  c.entities.visible = 10;
  c.entity_documents = 300;
  const Corpus corpus = make_corpus(c);
  CHECK(corpus.train.size() + corpus.val.size() == 400);
  CHECK(corpus.val_english.empty());
  c.entities.count = 0;
  c.entities.visible = 0;
  CHECK(has(error_of([&] { make_corpus(c); }), "knowledge base is empty"));
}
