#include "data/sqa_creatures.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace qs::data {

namespace {

const char* kLecture =
    "Every creature has its own home, food, number of legs, fur color and work, and someone discovered it in some "
    "year. These facts cannot be worked out; they must be remembered.";

// The question that asks an attribute of a creature, by attribute.
std::string ask(Attribute a, const std::string& who) {
  switch (a) {
    case Attribute::home: return fmt::format("Where does {} live?", who);
    case Attribute::food: return fmt::format("What does {} eat?", who);
    case Attribute::color: return fmt::format("What color is the fur of {}?", who);
    case Attribute::legs: return fmt::format("How many legs does {} have?", who);
    case Attribute::job: return fmt::format("What do people keep {} for?", who);
    case Attribute::discoverer: return fmt::format("Who discovered {}?", who);
    case Attribute::year: return fmt::format("In which year was {} discovered?", who);
    case Attribute::look: return fmt::format("What does {} look like?", who);
  }
  return {};
}

Subject subject_of(Attribute a) {
  return a == Attribute::job || a == Attribute::discoverer || a == Attribute::year ? Subject::soc : Subject::nat;
}

int legs_number(const std::string& word) {
  for (int n = 0; n <= 20; ++n) {
    if (number_word(n) == word) return n;
  }
  fail("sqa: '{}' is not a number of legs", word);
}

template <class T>
void shuffle(Rng& rng, std::vector<T>& xs) {
  for (std::size_t i = xs.size(); i > 1; --i) std::swap(xs[i - 1], xs[static_cast<std::size_t>(rng.below(static_cast<int64_t>(i)))]);
}

// The true value and distinct other values of the attribute, shuffled.
void value_choices(Rng& rng, SqaQuestion& q, Attribute a, int truth, int64_t max_choices) {
  const auto& values = attribute_values(a);
  const int64_t n = std::min<int64_t>(rng.between(2, max_choices), static_cast<int64_t>(values.size()));
  std::vector<int> picked{truth};
  while (static_cast<int64_t>(picked.size()) < n) {
    const int v = static_cast<int>(rng.below(static_cast<int64_t>(values.size())));
    if (std::find(picked.begin(), picked.end(), v) == picked.end()) picked.push_back(v);
  }
  shuffle(rng, picked);
  q.choices.clear();
  for (int v : picked) q.choices.push_back(values[static_cast<std::size_t>(v)]);
  q.answer = std::find(picked.begin(), picked.end(), truth) - picked.begin();
}

void number_choices(Rng& rng, SqaQuestion& q, int answer, int64_t max_choices) {
  std::vector<int> pool;
  for (int d = -4; d <= 4; ++d) {
    if (d != 0 && answer + d >= 0) pool.push_back(answer + d);
  }
  shuffle(rng, pool);
  const int64_t n = std::min<int64_t>(rng.between(2, max_choices), static_cast<int64_t>(pool.size()) + 1);
  std::vector<int> picked(pool.begin(), pool.begin() + (n - 1));
  picked.push_back(answer);
  shuffle(rng, picked);
  q.choices.clear();
  for (int v : picked) q.choices.push_back(std::to_string(v));
  q.answer = std::find(picked.begin(), picked.end(), answer) - picked.begin();
}

// Attributes a question may ask in a cell: NAT asks home, food, legs and fur;
// SOC asks work, discoverer and year. Looks are shown, never asked.
std::vector<Attribute> askable(Subject s) {
  std::vector<Attribute> out;
  for (Attribute a : all_attributes()) {
    if (a != Attribute::look && subject_of(a) == s) out.push_back(a);
  }
  return out;
}

// Large glyphs at random non-overlapping places: the creatures of a picture.
bool place_glyphs(Rng& rng, const std::vector<Glyph>& glyphs, int canvas, Scene& scene) {
  scene = Scene{};
  scene.canvas = canvas;
  const double r = canvas * 0.2;
  for (const Glyph& g : glyphs) {
    bool placed = false;
    for (int attempt = 0; attempt < 200 && !placed; ++attempt) {
      Object o{g.shape, g.color, Size::large, r + 1 + rng.uniform() * (canvas - 2 * r - 2),
               r + 1 + rng.uniform() * (canvas - 2 * r - 2), r, g.pattern};
      placed = true;
      for (const Object& p : scene.objects) placed = placed && std::hypot(o.x - p.x, o.y - p.y) > o.radius + p.radius + 1;
      if (placed) scene.objects.push_back(o);
    }
    if (!placed) return false;
  }
  return true;
}

std::string the(const KnowledgeBase& kb, int64_t e) { return "the " + kb.entity(e).name; }

}  // namespace

const std::vector<std::string>& creature_kinds(Subject s, ContextType c, Grade g) {
  static const std::map<std::tuple<Subject, ContextType, Grade>, std::vector<std::string>> table{
      {{Subject::nat, ContextType::no, Grade::g1_6}, {"creature_fact"}},
      {{Subject::nat, ContextType::no, Grade::g7_12}, {"creature_legs_sum"}},
      {{Subject::soc, ContextType::no, Grade::g1_6}, {"creature_fact"}},
      {{Subject::soc, ContextType::no, Grade::g7_12}, {"creature_first_found"}},
      {{Subject::nat, ContextType::txt, Grade::g1_6}, {"context_creature"}},
      {{Subject::soc, ContextType::txt, Grade::g1_6}, {"context_creature"}},
      {{Subject::nat, ContextType::img, Grade::g1_6}, {"creature_in_image"}},
      {{Subject::soc, ContextType::img, Grade::g1_6}, {"creature_in_image"}},
      {{Subject::nat, ContextType::img, Grade::g7_12}, {"creature_legs_in_image"}},
  };
  static const std::vector<std::string> none;
  auto it = table.find({s, c, g});
  return it == table.end() ? none : it->second;
}

bool creature_question(Rng& rng, const std::string& kind, const KnowledgeBase& kb, SqaQuestion& q,
                       const SqaConfig& config) {
  q.kind = kind;
  q.lecture = kLecture;
  auto fact_text = [&](int64_t e, Attribute a) {
    return fact_sentence(kb, {e, a, kb.entity(e).values[static_cast<std::size_t>(a)]}, 0);
  };
  if (kind == "creature_fact" || kind == "context_creature") {
    const int64_t e = rng.below(kb.size());
    const Attribute a = rng.pick(askable(q.subject));
    q.params = {{"creature", kb.entity(e).name}, {"attribute", name(a)}};
    q.question = ask(a, the(kb, e));
    q.explanation = fact_text(e, a);
    value_choices(rng, q, a, kb.entity(e).values[static_cast<std::size_t>(a)], config.max_choices);
    if (kind == "context_creature") {
      // The asked fact and the same attribute of one or two other creatures,
      // all true, in a random order: the answer is read, not recalled.
      std::vector<int64_t> shown{e};
      while (static_cast<int64_t>(shown.size()) < rng.between(2, 3)) {
        const int64_t o = rng.below(kb.size());
        if (std::find(shown.begin(), shown.end(), o) == shown.end()) shown.push_back(o);
      }
      shuffle(rng, shown);
      for (int64_t o : shown) q.context += (q.context.empty() ? "" : " ") + fact_text(o, a);
      q.lecture = "Read the context: it says what each creature is like.";
    }
    return true;
  }
  if (kind == "creature_legs_sum" || kind == "creature_first_found") {
    const int64_t a = rng.below(kb.size());
    int64_t b = a;
    while (b == a) b = rng.below(kb.size());
    q.params = {{"a", kb.entity(a).name}, {"b", kb.entity(b).name}};
    if (kind == "creature_legs_sum") {
      const int total = legs_number(kb.value(a, Attribute::legs)) + legs_number(kb.value(b, Attribute::legs));
      q.question = fmt::format("How many legs do {} and {} have together?", the(kb, a), the(kb, b));
      q.explanation = fact_text(a, Attribute::legs) + " " + fact_text(b, Attribute::legs) + fmt::format(" Together: {}.", total);
      number_choices(rng, q, total, config.max_choices);
    } else {
      const int ya = std::stoi(kb.value(a, Attribute::year)), yb = std::stoi(kb.value(b, Attribute::year));
      if (ya == yb) return false;
      const int64_t first = ya < yb ? a : b;
      q.question = fmt::format("Which was discovered first, {} or {}?", the(kb, a), the(kb, b));
      q.explanation = fact_text(a, Attribute::year) + " " + fact_text(b, Attribute::year);
      q.choices = {the(kb, a), the(kb, b)};
      if (rng.chance(0.5)) std::swap(q.choices[0], q.choices[1]);
      q.answer = q.choices[0] == the(kb, first) ? 0 : 1;
    }
    return true;
  }
  if (kind == "creature_in_image" || kind == "creature_legs_in_image") {
    const std::vector<int64_t> visible = kb.visible();
    const int64_t count = kind == "creature_in_image" ? 1 : 2;
    if (static_cast<int64_t>(visible.size()) < count) return false;
    std::vector<int64_t> shown;
    while (static_cast<int64_t>(shown.size()) < count) {
      const int64_t e = visible[static_cast<std::size_t>(rng.below(static_cast<int64_t>(visible.size())))];
      if (std::find(shown.begin(), shown.end(), e) == shown.end()) shown.push_back(e);
    }
    std::vector<Glyph> glyphs;
    for (int64_t e : shown) glyphs.push_back(*kb.entity(e).glyph);
    if (!place_glyphs(rng, glyphs, config.scene.canvas, q.scene)) return false;
    q.has_scene = q.has_image = true;
    std::string who;
    for (int64_t e : shown) who += (who.empty() ? "" : ",") + kb.entity(e).name;
    std::string looks;
    for (int64_t e : shown) {
      looks += (looks.empty() ? "" : " ") + fmt::format("The {} in the picture is the {}.", kb.value(e, Attribute::look),
                                                        kb.entity(e).name);
    }
    if (count == 1) {
      const int64_t e = shown[0];
      // The fur color is in the picture: image questions ask what only recall knows.
      std::vector<Attribute> attrs = askable(q.subject);
      attrs.erase(std::remove(attrs.begin(), attrs.end(), Attribute::color), attrs.end());
      const Attribute a = rng.pick(attrs);
      q.params = {{"creatures", who}, {"attribute", name(a)}};
      q.question = ask(a, "the creature in the picture");
      q.explanation = looks + " " + fact_text(e, a);
      value_choices(rng, q, a, kb.entity(e).values[static_cast<std::size_t>(a)], config.max_choices);
    } else {
      int total = 0;
      q.explanation = looks;
      for (int64_t e : shown) {
        total += legs_number(kb.value(e, Attribute::legs));
        q.explanation += " " + fact_text(e, Attribute::legs);
      }
      q.params = {{"creatures", who}};
      q.question = "How many legs do the two creatures in the picture have together?";
      q.explanation += fmt::format(" Together: {}.", total);
      number_choices(rng, q, total, config.max_choices);
    }
    q.lecture = "Find each creature by its shape, color and pattern, then remember what you know about it.";
    return true;
  }
  fail("sqa: unknown creature question kind '{}'", kind);
}

std::vector<std::string> creature_facts(const SqaQuestion& q) {
  std::vector<std::string> out;
  if (q.kind.find("creature") == std::string::npos) return out;
  auto param = [&](const char* k) {
    auto it = q.params.find(k);
    return it == q.params.end() ? std::string() : it->second;
  };
  std::vector<std::string> who;
  for (const char* k : {"creature", "a", "b"}) {
    if (!param(k).empty()) who.push_back(param(k));
  }
  for (std::size_t at = 0, next; !param("creatures").empty() && at <= param("creatures").size(); at = next + 1) {
    next = param("creatures").find(',', at);
    if (next == std::string::npos) next = param("creatures").size();
    who.push_back(param("creatures").substr(at, next - at));
  }
  const std::string attribute = q.kind == "creature_first_found" ? "year"
                                : param("attribute").empty()      ? "legs"
                                                                  : param("attribute");
  for (const std::string& w : who) out.push_back(w + ":" + attribute);
  return out;
}

}  // namespace qs::data
