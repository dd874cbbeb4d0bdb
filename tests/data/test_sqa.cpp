#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "data/sqa.h"
#include "data/sqa_creatures.h"
#include <sstream>
#include "engine/io/tensor_file.h"
#include "support.h"

using namespace qs::data;
using qs::test::error_of;
using qs::test::has;
namespace fs = std::filesystem;

namespace {

// An independent solver: recomputes each kind's answer from the scene graph
// or the facts, written against the question's parameters only (never the
// generator's answer), and returns the expected answer text. For kinds where
// the answer is "the one choice with property P", it checks that exactly one
// choice has P and returns it.
std::string solve(const SqaQuestion& q) {
  const auto& p = q.params;
  auto count = [&](auto pred) {
    int n = 0;
    for (const Object& o : q.scene.objects) n += pred(o) ? 1 : 0;
    return n;
  };
  auto shape_of = [](const std::string& s) {
    for (Shape x : all_shapes()) if (name(x) == s) return x;
    FAIL("unknown shape ", s);
    return Shape::circle;
  };
  auto color_of = [](const std::string& s) {
    for (Color x : all_colors()) if (name(x) == s) return x;
    FAIL("unknown color ", s);
    return Color::red;
  };
  auto price = [](const std::string& item) {
    for (const Item& i : items()) if (i.name == item) return i.price;
    FAIL("unknown item ", item);
    return -1;
  };
  auto category_of = [](const std::string& word) {
    for (const WordCategory& c : word_categories())
      if (std::find(c.words.begin(), c.words.end(), word) != c.words.end()) return c.category;
    return std::string();
  };
  auto only = [&](auto pred) {
    std::vector<std::string> yes;
    for (const std::string& c : q.choices) if (pred(c)) yes.push_back(c);
    REQUIRE_MESSAGE(yes.size() == 1, q.kind, ": ", yes.size(), " choices qualify");
    return yes[0];
  };
  const std::string& k = q.kind;
  if (k == "count_shape") return std::to_string(count([&](const Object& o) { return o.shape == shape_of(p.at("shape")); }));
  if (k == "count_group")
    return std::to_string(count([&](const Object& o) { return o.shape == shape_of(p.at("shape")) && o.color == color_of(p.at("color")); }));
  if (k == "count_not_color") return std::to_string(count([&](const Object& o) { return o.color != color_of(p.at("color")); }));
  if (k == "color_of") {
    REQUIRE(count([&](const Object& o) { return o.shape == shape_of(p.at("shape")); }) == 1);
    for (const Object& o : q.scene.objects) if (o.shape == shape_of(p.at("shape"))) return name(o.color);
  }
  if (k == "which_shape") {
    REQUIRE(count([&](const Object& o) { return o.color == color_of(p.at("color")); }) == 1);
    for (const Object& o : q.scene.objects) if (o.color == color_of(p.at("color"))) return name(o.shape);
  }
  if (k == "shape_present")
    return only([&](const std::string& c) { return count([&](const Object& o) { return name(o.shape) == c; }) > 0; });
  if (k == "count_relation") {
    const Object* ref = nullptr;
    for (const Object& o : q.scene.objects)
      if (o.shape == shape_of(p.at("shape")) && o.color == color_of(p.at("color"))) ref = &o;
    REQUIRE(ref);
    // Recomputed from coordinates: the dominant axis of the offset decides.
    int n = 0;
    for (const Object& o : q.scene.objects) {
      if (&o == ref) continue;
      const double dx = o.x - ref->x, dy = o.y - ref->y;
      std::string rel = std::abs(dx) >= std::abs(dy) ? (dx < 0 ? "left of" : "right of") : (dy < 0 ? "above" : "below");
      n += rel == p.at("relation");
    }
    return std::to_string(n);
  }
  static const std::map<std::string, int> sides{{"circle", 0}, {"triangle", 3}, {"square", 4}, {"star", 5}, {"hexagon", 6}};
  if (k == "sides_total") {
    int t = 0;
    for (const Object& o : q.scene.objects) if (o.color == color_of(p.at("color"))) t += sides.at(name(o.shape));
    return std::to_string(t);
  }
  if (k == "shape_cost")
    return std::to_string(std::stoi(p.at("price")) * count([&](const Object& o) { return o.shape == shape_of(p.at("shape")); }));
  if (k == "sides") return std::to_string(sides.at(p.at("shape")));
  if (k == "sides_sum") return std::to_string(sides.at(p.at("a")) + sides.at(p.at("b")));
  if (k == "warm") {
    static const std::set<std::string> warm{"red", "orange", "yellow"};
    return only([&](const std::string& c) { return warm.count(c) == (p.at("property") == "warm" ? 1u : 0u); });
  }
  if (k == "mix") {
    std::set<std::string> ab{p.at("a"), p.at("b")};
    if (ab == std::set<std::string>{"red", "yellow"}) return "orange";
    if (ab == std::set<std::string>{"blue", "yellow"}) return "green";
    if (ab == std::set<std::string>{"red", "blue"}) return "purple";
    FAIL("unmixable pair");
  }
  if (k == "costs_more") return price(p.at("a")) > price(p.at("b")) ? p.at("a") : p.at("b");
  if (k == "is_good") {
    return only([&](const std::string& c) {
      for (const Item& i : items()) if (i.name == c) return i.is_good == (p.at("want") == "good");
      return false;
    });
  }
  if (k == "afford") return only([&](const std::string& c) { return price(c) <= std::stoi(p.at("coins")); });
  if (k == "context_costs_more") return std::stoi(p.at("pa")) > std::stoi(p.at("pb")) ? p.at("a") : p.at("b");
  if (k == "context_total") return std::to_string(std::stoi(p.at("pa")) + std::stoi(p.at("pb")));
  if (k == "category" || k == "context_category")
    return only([&](const std::string& c) { return category_of(c) == p.at("category"); });
  if (k == "alphabetical_first") return *std::min_element(q.choices.begin(), q.choices.end());
  if (k == "rhyme") {
    return only([&](const std::string& c) {
      for (const auto& g : rhyme_groups()) {
        const bool has_word = std::find(g.begin(), g.end(), p.at("word")) != g.end();
        if (has_word && c != p.at("word") && std::find(g.begin(), g.end(), c) != g.end()) return true;
      }
      return false;
    });
  }
  if (k == "category_first" || k == "context_category_first") {
    std::string best;
    for (const std::string& c : q.choices)
      if (category_of(c) == p.at("category") && (best.empty() || c < best)) best = c;
    return best;
  }
  FAIL("no solver for kind ", k);
  return "";
}

SqaConfig small_config() {
  SqaConfig c;
  c.seed = 7;
  c.train = 1500;
  c.val = 100;
  c.test = 400;
  c.scene.canvas = 32;
  return c;
}

}  // namespace

TEST_CASE("every SynthSQA answer is correct by an independent solver, in every kind and cell") {
  const SqaDataset d = make_sqa(small_config());
  std::set<std::string> kinds;
  for (const SqaSplit* split : {&d.train, &d.val, &d.test}) {
    for (const SqaQuestion& q : split->questions) {
      INFO(q.kind, ": ", sqa_prompt(q));
      REQUIRE(q.choices.size() >= 2);
      REQUIRE(q.choices.size() <= 5);
      std::set<std::string> distinct(q.choices.begin(), q.choices.end());
      CHECK(distinct.size() == q.choices.size());
      CHECK(q.choices[static_cast<std::size_t>(q.answer)] == solve(q));
      CHECK(!q.lecture.empty());
      CHECK(!q.explanation.empty());
      CHECK(q.has_image == (q.context_type == ContextType::img));
      CHECK(q.context.empty() == (q.context_type != ContextType::txt));
      kinds.insert(q.kind);
    }
  }
  CHECK(kinds.size() == 24);  // every generator kind appears
}

TEST_CASE("SynthSQA category proportions match the config") {
  SqaConfig c = small_config();
  c.nat = 0.6, c.soc = 0.3, c.lan = 0.1, c.hard = 0.25;
  const SqaDataset d = make_sqa(c);
  std::map<std::string, double> share;
  const double n = static_cast<double>(d.train.questions.size());
  for (const SqaQuestion& q : d.train.questions) {
    share[name(q.subject)] += 1 / n;
    share[name(q.grade)] += 1 / n;
    if (q.subject == Subject::nat) share["NAT/" + name(q.context_type)] += 1 / n;
  }
  // Binomial standard error at n = 1500 is about 0.013; allow 3.5 of them.
  CHECK(std::abs(share["NAT"] - 0.6) < 0.045);
  CHECK(std::abs(share["SOC"] - 0.3) < 0.045);
  CHECK(std::abs(share["LAN"] - 0.1) < 0.045);
  CHECK(std::abs(share["G7-12"] - 0.25) < 0.045);
  // Within NAT the contexts follow IMG 0.45, TXT 0.2, NO 0.35.
  CHECK(std::abs(share["NAT/IMG"] / share["NAT"] - 0.45) < 0.06);
  CHECK(std::abs(share["NAT/TXT"] / share["NAT"] - 0.2) < 0.06);
  // Language questions never come with an image.
  for (const SqaQuestion& q : d.train.questions) CHECK_FALSE((q.subject == Subject::lan && q.has_image));
}

TEST_CASE("no SynthSQA test or val question appears in train, and generation is deterministic") {
  const SqaConfig c = small_config();
  const SqaDataset d = make_sqa(c);
  std::set<std::string> train;
  for (const SqaQuestion& q : d.train.questions) train.insert(question_key(q));
  for (const SqaQuestion& q : d.test.questions) CHECK_FALSE(train.count(question_key(q)));
  for (const SqaQuestion& q : d.val.questions) CHECK_FALSE(train.count(question_key(q)));
  const SqaDataset again = make_sqa(c);
  REQUIRE(again.test.questions.size() == d.test.questions.size());
  for (std::size_t i = 0; i < d.test.questions.size(); ++i) CHECK(sqa_prompt(again.test.questions[i]) == sqa_prompt(d.test.questions[i]));
  CHECK(qs::engine::equal(again.train.images, d.train.images));
  // Image rows: one per IMG question, in order.
  int64_t images = 0;
  for (std::size_t i = 0; i < d.train.questions.size(); ++i) {
    CHECK(d.train.image_index[i] == (d.train.questions[i].has_image ? images++ : -1));
  }
  CHECK(d.train.images.size(0) == images);
  CHECK(d.train.images.size(1) == 32);
}

TEST_CASE("SynthSQA prompts follow LLaVA's ScienceQA format and answers parse back") {
  SqaQuestion q;
  q.question = "Which color is warm?";
  q.choices = {"blue", "red", "green"};
  q.answer = 1;
  CHECK(sqa_prompt(q) == "Question: Which color is warm?\nContext: N/A\nOptions: (A) blue (B) red (C) green");
  CHECK(sqa_answer(q) == "The answer is B.");
  CHECK(parse_answer(sqa_answer(q), 3) == std::optional<int64_t>(1));
  CHECK(parse_answer(" The answer is C.", 3) == std::optional<int64_t>(2));
  CHECK(parse_answer("The answer is (A)", 3) == std::optional<int64_t>(0));
  CHECK(parse_answer("B", 3) == std::optional<int64_t>(1));
  // Malformed generations are wrong, never a crash.
  CHECK_FALSE(parse_answer("", 3));
  CHECK_FALSE(parse_answer("The answer is", 3));
  CHECK_FALSE(parse_answer("The answer is D.", 3));  // out of range
  CHECK_FALSE(parse_answer("The answer is All of them", 3));
  CHECK_FALSE(parse_answer("blue", 3));
  CHECK_FALSE(parse_answer("\xff\xfe garbage", 3));
  CHECK_FALSE(parse_answer("The answer is a.", 3));
  // The text format names the option itself.
  CHECK(sqa_answer(q, AnswerFormat::text) == "The answer is red.");
  CHECK(parse_answer(" The answer is red.", q.choices, AnswerFormat::text) == std::optional<int64_t>(1));
  CHECK(parse_answer("green", q.choices, AnswerFormat::text) == std::optional<int64_t>(2));
  CHECK_FALSE(parse_answer("The answer is reddish.", q.choices, AnswerFormat::text));
  CHECK_FALSE(parse_answer("", q.choices, AnswerFormat::text));
  CHECK(parse_answer("The answer is B.", q.choices, AnswerFormat::letter) == std::optional<int64_t>(1));
  CHECK(has(error_of([] { parse_answer_format("word"); }), "unknown answer format 'word'"));
}

TEST_CASE("SynthSQA round-trips through HDF5 and a corrupt file is named in the error") {
  SqaConfig c = small_config();
  c.train = 60, c.val = 10, c.test = 20;
  const SqaDataset d = make_sqa(c);
  const fs::path dir = fs::temp_directory_path() / ("qslaw_sqa_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  save_sqa(dir / "sqa.h5", d);
  const SqaDataset back = load_sqa(dir / "sqa.h5");
  REQUIRE(back.train.questions.size() == 60);
  for (std::size_t i = 0; i < 60; ++i) {
    const SqaQuestion &a = d.train.questions[i], &b = back.train.questions[i];
    CHECK(sqa_prompt(a) == sqa_prompt(b));
    CHECK(a.answer == b.answer);
    CHECK(a.params == b.params);
    CHECK(a.explanation == b.explanation);
    CHECK(a.scene.objects.size() == b.scene.objects.size());
  }
  CHECK(qs::engine::equal(back.test.images, d.test.images));
  // A file without the questions: the error names the file and the tensor.
  qs::engine::TensorFile broken = qs::engine::load_tensor_file(dir / "sqa.h5");
  broken.tensors.erase("test.questions");
  qs::engine::save_tensor_file(dir / "broken.h5", broken);
  const std::string err = error_of([&] { load_sqa(dir / "broken.h5"); });
  CHECK(has(err, "broken.h5"));
  CHECK(has(err, "test.questions"));
  // cached_sqa generates once, then loads.
  const SqaDataset cached = cached_sqa(c, dir);
  CHECK(fs::exists(dir / ("sqa_" + c.key() + ".h5")));
  CHECK(cached_sqa(c, dir).train.questions.size() == cached.train.questions.size());
  fs::remove_all(dir);
}

namespace {
SqaConfig creature_config() {
  SqaConfig c;
  c.seed = 4;
  c.train = 600;
  c.val = 50;
  c.test = 300;
  c.scene.canvas = 64;
  c.entities.seed = 4;
  c.entities.count = 300;
  c.entities.visible = 40;
  c.creatures = 0.6;
  return c;
}

int legs_of(const KnowledgeBase& kb, const std::string& name) {
  const std::string w = kb.value(*kb.find(name), Attribute::legs);
  for (int n = 0; n <= 20; ++n) {
    if (number_word(n) == w) return n;
  }
  return -1;
}
}  // namespace

TEST_CASE("creature questions: the one right choice is the knowledge base's, checked independently") {
  const SqaConfig c = creature_config();
  const KnowledgeBase kb(c.entities);
  const SqaDataset d = make_sqa(c);
  std::map<std::string, int> kinds;
  for (const SqaSplit* split : {&d.train, &d.test}) {
    for (std::size_t i = 0; i < split->questions.size(); ++i) {
      const SqaQuestion& q = split->questions[i];
      if (q.kind.find("creature") == std::string::npos) continue;
      ++kinds[q.kind];
      CAPTURE(q.question);
      const std::string answer = q.choices[static_cast<std::size_t>(q.answer)];
      std::set<std::string> distinct(q.choices.begin(), q.choices.end());
      CHECK(distinct.size() == q.choices.size());
      if (q.kind == "creature_fact" || q.kind == "context_creature") {
        const auto e = kb.find(q.params.at("creature"));
        REQUIRE(e.has_value());
        const std::string attr = q.params.at("attribute");
        for (Attribute a : all_attributes()) {
          if (name(a) == attr) CHECK(answer == kb.value(*e, a));
        }
        CHECK(q.context_type == (q.kind == "context_creature" ? ContextType::txt : ContextType::no));
        if (q.kind == "context_creature") CHECK(has(q.context, q.explanation));  // the answer is in the text
      } else if (q.kind == "creature_legs_sum") {
        CHECK(std::stoi(answer) == legs_of(kb, q.params.at("a")) + legs_of(kb, q.params.at("b")));
      } else if (q.kind == "creature_first_found") {
        const int ya = std::stoi(kb.value(*kb.find(q.params.at("a")), Attribute::year));
        const int yb = std::stoi(kb.value(*kb.find(q.params.at("b")), Attribute::year));
        CHECK(answer == "the " + (ya < yb ? q.params.at("a") : q.params.at("b")));
      } else {
        // Image questions: the picture holds exactly the named creatures' glyphs.
        REQUIRE(q.has_image);
        CHECK(split->image_index[i] >= 0);
        std::multiset<std::string> drawn, named;
        for (const Object& o : q.scene.objects) drawn.insert(Glyph{o.shape, o.color, o.pattern}.describe());
        std::stringstream who(q.params.at("creatures"));
        int total = 0;
        for (std::string w; std::getline(who, w, ',');) {
          named.insert(kb.value(*kb.find(w), Attribute::look));
          total += legs_of(kb, w);
        }
        CHECK(drawn == named);
        if (q.kind == "creature_legs_in_image") CHECK(std::stoi(answer) == total);
        if (q.kind == "creature_in_image") CHECK(q.params.at("attribute") != "color");  // seen, not recalled
      }
    }
  }
  for (const char* k : {"creature_fact", "creature_legs_sum", "creature_first_found", "context_creature",
                        "creature_in_image", "creature_legs_in_image"}) {
    CAPTURE(k);
    CHECK(kinds[k] > 0);
  }
}

TEST_CASE("creature questions: no test question asks a fact a train question asked, and worlds without creatures are unchanged") {
  const SqaConfig c = creature_config();
  const SqaDataset d = make_sqa(c);
  std::set<std::string> train;
  for (const SqaQuestion& q : d.train.questions) {
    for (const std::string& f : creature_facts(q)) train.insert(f);
  }
  int creature_tests = 0;
  for (const SqaQuestion& q : d.test.questions) {
    for (const std::string& f : creature_facts(q)) {
      CHECK_FALSE(train.count(f));
      ++creature_tests;
    }
  }
  CHECK(creature_tests > 50);
  SqaConfig plain = c;
  plain.entities.count = 0;
  plain.entities.visible = 0;
  CHECK(plain.key().find("_e") == std::string::npos);
  for (const SqaQuestion& q : make_sqa(plain).test.questions) CHECK(q.kind.find("creature") == std::string::npos);
}
