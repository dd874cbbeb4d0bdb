#include "data/sqa.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>

#include "data/render.h"
#include "data/sqa_creatures.h"

namespace qs::data {

std::string name(Subject s) { return s == Subject::nat ? "NAT" : s == Subject::soc ? "SOC" : "LAN"; }
std::string name(ContextType c) { return c == ContextType::txt ? "TXT" : c == ContextType::img ? "IMG" : "NO"; }
std::string name(Grade g) { return g == Grade::g1_6 ? "G1-6" : "G7-12"; }

std::string SqaConfig::key() const {
  return fmt::format("s{}_{}-{}-{}_sub{:.3f}-{:.3f}-{:.3f}_ctx{:.3f}-{:.3f}-{:.3f}_h{:.3f}_c{}_v{}_o{}-{}_v1", seed,
                     train, val, test, nat, soc, lan, img, txt, no, hard, max_choices, scene.canvas,
                     scene.min_objects, scene.max_objects) +
         // Worlds without creatures keep the first edition's key (and cached files).
         (entities.count > 0 ? fmt::format("_e{}-{}-{}-{:.3f}_k{:.3f}", entities.seed, entities.count, entities.visible,
                                           entities.zipf, creatures)
                             : "");
}

namespace {

// Items that appear only in text contexts (their prices are given there, so
// they never contradict the knowledge base's prices).
const std::vector<std::string>& context_items() {
  static const std::vector<std::string> v{"toy boat", "scarf", "cup", "sticker", "marble", "puzzle",
                                          "candle", "notebook", "comb", "whistle", "button", "sock"};
  return v;
}

const std::vector<std::string>& people() {
  static const std::vector<std::string> v{"Ann", "Ben", "Sam", "Mia", "Leo", "Zoe", "Tom", "Ivy"};
  return v;
}

std::string article(const std::string& word) {
  return std::string(std::string("aeiou").find(word[0]) != std::string::npos ? "an " : "a ") + word;
}

template <class T>
void shuffle(Rng& rng, std::vector<T>& xs) {
  for (std::size_t i = xs.size(); i > 1; --i) std::swap(xs[i - 1], xs[static_cast<std::size_t>(rng.below(i))]);
}

// The answer plus distinct distractors (up to max_choices in all), shuffled.
void set_choices(Rng& rng, SqaQuestion& q, const std::string& answer, std::vector<std::string> distractors,
                 int64_t max_choices) {
  std::vector<std::string> pool;
  for (std::string& d : distractors) {
    if (d != answer && std::find(pool.begin(), pool.end(), d) == pool.end()) pool.push_back(std::move(d));
  }
  QS_CHECK(!pool.empty(), "sqa: a '{}' question has no distractor", q.kind);
  shuffle(rng, pool);
  const int64_t n = std::min<int64_t>(rng.between(2, max_choices), static_cast<int64_t>(pool.size()) + 1);
  q.choices.assign(pool.begin(), pool.begin() + (n - 1));
  q.choices.push_back(answer);
  shuffle(rng, q.choices);
  q.answer = std::find(q.choices.begin(), q.choices.end(), answer) - q.choices.begin();
}

void numeric_choices(Rng& rng, SqaQuestion& q, int answer, int64_t max_choices) {
  std::vector<std::string> d;
  for (int delta = -3; delta <= 3; ++delta) {
    if (delta != 0 && answer + delta >= 0) d.push_back(std::to_string(answer + delta));
  }
  set_choices(rng, q, std::to_string(answer), d, max_choices);
}

std::vector<const Object*> where(const Scene& s, const std::function<bool(const Object&)>& f) {
  std::vector<const Object*> out;
  for (const Object& o : s.objects) {
    if (f(o)) out.push_back(&o);
  }
  return out;
}

std::vector<std::string> names_of(const std::vector<Shape>& xs) {
  std::vector<std::string> out;
  for (Shape s : xs) out.push_back(name(s));
  return out;
}
std::vector<std::string> names_of(const std::vector<Color>& xs) {
  std::vector<std::string> out;
  for (Color c : xs) out.push_back(name(c));
  return out;
}

std::string sides_phrase(Shape s) {
  return s == Shape::star ? "A star has 5 points, which we count as sides."
                          : fmt::format("A {} has {} sides.", name(s), sides(s));
}

const char* kSceneLecture =
    "Look at each shape: its kind (circle, square, triangle, star or hexagon), its color and where it is.";

// A question about a scene (shown as an image or described in the context).
// Returns false when the scene cannot support this kind (the caller redraws).
bool scene_question(Rng& rng, const std::string& kind, const Scene& s, SqaQuestion& q, int64_t max_choices) {
  q.kind = kind;
  q.lecture = kSceneLecture;
  const Object& any = s.objects[static_cast<std::size_t>(rng.below(static_cast<int64_t>(s.objects.size())))];
  const std::string where_text = q.context_type == ContextType::img ? "in the image" : "in the scene";
  if (kind == "count_shape") {
    Shape shape = rng.chance(0.8) ? any.shape : rng.pick(all_shapes());
    int n = static_cast<int>(where(s, [&](const Object& o) { return o.shape == shape; }).size());
    q.params = {{"shape", name(shape)}};
    q.question = fmt::format("How many {} are {}?", plural(shape), where_text);
    q.explanation = fmt::format("Count every {}, whatever its color: there are {}.", name(shape), n);
    numeric_choices(rng, q, n, max_choices);
  } else if (kind == "count_group") {
    Color color = rng.chance(0.8) ? any.color : rng.pick(all_colors());
    Shape shape = rng.chance(0.8) ? any.shape : rng.pick(all_shapes());
    int n = static_cast<int>(where(s, [&](const Object& o) { return o.shape == shape && o.color == color; }).size());
    q.params = {{"shape", name(shape)}, {"color", name(color)}};
    q.question = fmt::format("How many {} {} are {}?", name(color), plural(shape), where_text);
    q.explanation = fmt::format("There {} {} {} {}.", n == 1 ? "is" : "are", n, name(color), n == 1 ? name(shape) : plural(shape));
    numeric_choices(rng, q, n, max_choices);
  } else if (kind == "count_not_color") {
    Color color = any.color;
    int n = static_cast<int>(where(s, [&](const Object& o) { return o.color != color; }).size());
    q.params = {{"color", name(color)}};
    q.question = fmt::format("How many shapes {} are not {}?", where_text, name(color));
    q.explanation = fmt::format("Count all shapes, then take away the {} ones: {} remain.", name(color), n);
    numeric_choices(rng, q, n, max_choices);
  } else if (kind == "color_of" || kind == "which_shape") {
    const bool by_shape = kind == "color_of";
    auto unique = where(s, [&](const Object& o) {
      return where(s, [&](const Object& p) { return by_shape ? p.shape == o.shape : p.color == o.color; }).size() == 1;
    });
    if (unique.empty()) return false;
    const Object& o = *unique[static_cast<std::size_t>(rng.below(static_cast<int64_t>(unique.size())))];
    if (by_shape) {
      q.params = {{"shape", name(o.shape)}};
      q.question = fmt::format("What color is the {} {}?", name(o.shape), where_text);
      q.explanation = fmt::format("The {} is {}.", name(o.shape), name(o.color));
      set_choices(rng, q, name(o.color), names_of(all_colors()), max_choices);
    } else {
      q.params = {{"color", name(o.color)}};
      q.question = fmt::format("Which shape {} is {}?", where_text, name(o.color));
      q.explanation = fmt::format("The {} shape is a {}.", name(o.color), name(o.shape));
      set_choices(rng, q, name(o.shape), names_of(all_shapes()), max_choices);
    }
  } else if (kind == "shape_present") {
    std::vector<std::string> absent;
    for (Shape sh : all_shapes()) {
      if (where(s, [&](const Object& o) { return o.shape == sh; }).empty()) absent.push_back(name(sh));
    }
    if (absent.empty()) return false;
    // Exactly one present shape among the choices.
    q.params = {};
    q.question = fmt::format("A shop sells the shapes {}. Which of these does the shop sell?", where_text);
    q.explanation = fmt::format("Only the {} is {}.", name(any.shape), where_text);
    set_choices(rng, q, name(any.shape), absent, max_choices);
  } else if (kind == "count_relation") {
    auto refs = where(s, [&](const Object& o) {
      return where(s, [&](const Object& p) { return p.shape == o.shape && p.color == o.color; }).size() == 1;
    });
    if (refs.empty() || s.objects.size() < 2) return false;
    const Object& ref = *refs[static_cast<std::size_t>(rng.below(static_cast<int64_t>(refs.size())))];
    static const std::vector<std::string> relations{"left of", "right of", "above", "below"};
    const std::string rel = rng.pick(relations);
    int n = static_cast<int>(where(s, [&](const Object& o) { return &o != &ref && relation(o, ref) == rel; }).size());
    q.params = {{"relation", rel}, {"color", name(ref.color)}, {"shape", name(ref.shape)}};
    q.question = fmt::format("How many shapes are {} the {} {}?", rel, name(ref.color), name(ref.shape));
    q.explanation = fmt::format("Find the {} {}, then count the shapes {} it: {}.", name(ref.color), name(ref.shape), rel, n);
    numeric_choices(rng, q, n, max_choices);
  } else if (kind == "sides_total") {
    Color color = any.color;
    int total = 0;
    for (const Object* o : where(s, [&](const Object& o) { return o.color == color; })) total += sides(o->shape);
    q.params = {{"color", name(color)}};
    q.question = fmt::format("How many sides do the {} shapes {} have in total?", name(color), where_text);
    q.lecture = "A circle has 0 sides, a triangle 3, a square 4, a star 5 points and a hexagon 6.";
    q.explanation = fmt::format("Add up the sides of every {} shape: {}.", name(color), total);
    numeric_choices(rng, q, total, max_choices);
  } else if (kind == "shape_cost") {
    Shape shape = any.shape;
    const int price = static_cast<int>(rng.between(2, 5));
    const int n = static_cast<int>(where(s, [&](const Object& o) { return o.shape == shape; }).size());
    q.params = {{"shape", name(shape)}, {"price", std::to_string(price)}};
    q.question = fmt::format("Each {} costs {} coins. How many coins do all the {} {} cost?", name(shape), price,
                             plural(shape), where_text);
    q.lecture = "The total cost is the number of things times the price of one.";
    q.explanation = fmt::format("There {} {} {}, so they cost {} x {} = {} coins.", n == 1 ? "is" : "are", n,
                                n == 1 ? name(shape) : plural(shape), n, price, n * price);
    numeric_choices(rng, q, n * price, max_choices);
  } else {
    fail("sqa: unknown scene question kind '{}'", kind);
  }
  return true;
}

// Questions whose answer is in the knowledge base (NO) or in a text context
// that is not about a scene (TXT for SOC and LAN).
void text_question(Rng& rng, const std::string& kind, SqaQuestion& q, int64_t max_choices) {
  q.kind = kind;
  const auto& cats = word_categories();
  if (kind == "sides") {
    Shape s = rng.pick(all_shapes());
    q.params = {{"shape", name(s)}};
    q.question = s == Shape::star ? "How many points does a star have?"
                                  : fmt::format("How many sides does {} have?", article(name(s)));
    q.lecture = "Shapes are named by their sides: a triangle has 3, a square 4 and a hexagon 6.";
    q.explanation = sides_phrase(s);
    numeric_choices(rng, q, sides(s), max_choices);
  } else if (kind == "sides_sum") {
    Shape a = rng.pick(all_shapes()), b = rng.pick(all_shapes());
    q.params = {{"a", name(a)}, {"b", name(b)}};
    q.question = fmt::format("How many sides do {} and {} have together?", article(name(a)), article(name(b)));
    q.lecture = "A circle has 0 sides, a triangle 3, a square 4, a star 5 points and a hexagon 6.";
    q.explanation = sides_phrase(a) + " " + sides_phrase(b) + fmt::format(" Together: {}.", sides(a) + sides(b));
    numeric_choices(rng, q, sides(a) + sides(b), max_choices);
  } else if (kind == "warm") {
    const bool warm = rng.chance(0.5);
    std::vector<Color> yes, no;
    for (Color c : all_colors()) (is_warm(c) == warm ? yes : no).push_back(c);
    Color answer = rng.pick(yes);
    q.params = {{"property", warm ? "warm" : "cool"}};
    q.question = fmt::format("Which color is {}?", warm ? "warm" : "cool");
    q.lecture = "Red, orange and yellow are warm colors; green, blue and purple are cool colors.";
    q.explanation = fmt::format("{} is a {} color.", name(answer), warm ? "warm" : "cool");
    set_choices(rng, q, name(answer), names_of(no), max_choices);
  } else if (kind == "mix") {
    static const std::vector<std::pair<Color, Color>> pairs{
        {Color::red, Color::yellow}, {Color::blue, Color::yellow}, {Color::red, Color::blue}};
    auto [a, b] = rng.pick(pairs);
    if (rng.chance(0.5)) std::swap(a, b);
    Color m = *mix(a, b);
    q.params = {{"a", name(a)}, {"b", name(b)}};
    q.question = fmt::format("Which color do you get when you mix {} and {}?", name(a), name(b));
    q.lecture = "Red and yellow make orange, blue and yellow make green, red and blue make purple.";
    q.explanation = fmt::format("Mixing {} and {} gives {}.", name(a), name(b), name(m));
    set_choices(rng, q, name(m), names_of(all_colors()), max_choices);
  } else if (kind == "costs_more") {
    const auto& it = items();
    const Item& a = rng.pick(it);
    const Item* b = &a;
    while (b->price == a.price) b = &rng.pick(it);
    const Item& hi = a.price > b->price ? a : *b;
    q.params = {{"a", a.name}, {"b", b->name}};
    q.question = "Which costs more?";
    q.lecture = "Prices tell how many coins something costs.";
    q.explanation = fmt::format("{} costs {} coins, more than the other.", article(hi.name), hi.price);
    set_choices(rng, q, hi.name, {a.name == hi.name ? b->name : a.name}, max_choices);
  } else if (kind == "is_good") {
    const bool good = rng.chance(0.5);
    std::vector<std::string> yes, no;
    for (const Item& i : items()) (i.is_good == good ? yes : no).push_back(i.name);
    const std::string answer = rng.pick(yes);
    q.params = {{"want", good ? "good" : "service"}};
    q.question = fmt::format("Which is {}?", good ? "a good" : "a service");
    q.lecture = "A good is a thing you can hold; a service is work someone does for you.";
    q.explanation = fmt::format("{} is {}.", article(answer), good ? "a good" : "a service");
    set_choices(rng, q, answer, no, max_choices);
  } else if (kind == "afford") {
    std::vector<Item> it = items();
    shuffle(rng, it);
    const int64_t n = rng.between(2, std::min<int64_t>(max_choices, 4));
    std::vector<Item> chosen(it.begin(), it.begin() + n);
    std::sort(chosen.begin(), chosen.end(), [](const Item& a, const Item& b) { return a.price < b.price; });
    // Enough coins for the cheapest choice only (the knowledge base's prices are distinct).
    const int coins = static_cast<int>(rng.between(chosen[0].price, chosen[1].price - 1));
    const std::string person = rng.pick(people());
    q.params = {{"coins", std::to_string(coins)}};
    q.question = fmt::format("{} has {} coins. Which of these can {} pay for?", person, coins, person);
    q.lecture = "You can pay for something when you have at least as many coins as it costs.";
    q.explanation = fmt::format("{} costs {} coins; the others cost more than {}.", article(chosen[0].name),
                                chosen[0].price, coins);
    std::vector<std::string> d;
    for (std::size_t i = 1; i < chosen.size(); ++i) d.push_back(chosen[i].name);
    set_choices(rng, q, chosen[0].name, d, static_cast<int64_t>(chosen.size()));
  } else if (kind == "context_costs_more" || kind == "context_total") {
    std::vector<std::string> pool = context_items();
    shuffle(rng, pool);
    int pa = static_cast<int>(rng.between(1, 15)), pb = static_cast<int>(rng.between(1, 15));
    while (pb == pa) pb = static_cast<int>(rng.between(1, 15));
    const std::string &a = pool[0], &b = pool[1];
    q.params = {{"a", a}, {"pa", std::to_string(pa)}, {"b", b}, {"pb", std::to_string(pb)}};
    q.context = fmt::format("At the market, {} costs {} coins and {} costs {} coins.", article(a), pa, article(b), pb);
    q.lecture = "Read the prices in the context.";
    if (kind == "context_costs_more") {
      q.question = "Which costs more?";
      const std::string& hi = pa > pb ? a : b;
      q.explanation = fmt::format("The {} costs {} coins.", hi, std::max(pa, pb));
      set_choices(rng, q, hi, {pa > pb ? b : a}, max_choices);
    } else {
      const std::string person = rng.pick(people());
      q.question = fmt::format("{} buys {} and {}. How many coins does {} pay?", person, article(a), article(b), person);
      q.explanation = fmt::format("{} + {} = {} coins.", pa, pb, pa + pb);
      numeric_choices(rng, q, pa + pb, max_choices);
    }
  } else if (kind == "category" || kind == "context_category") {
    const WordCategory& cat = rng.pick(cats);
    const std::string answer = rng.pick(cat.words);
    std::vector<std::string> others;
    for (const WordCategory& c : cats) {
      if (c.category != cat.category) others.insert(others.end(), c.words.begin(), c.words.end());
    }
    q.params = {{"category", cat.category}};
    q.lecture = "Words can be sorted into groups such as animals, fruits, tools and instruments.";
    q.explanation = fmt::format("{} is {}.", article(answer), article(cat.category));
    if (kind == "category") {
      q.question = fmt::format("Which word names {}?", article(cat.category));
      set_choices(rng, q, answer, others, max_choices);
    } else {
      set_choices(rng, q, answer, others, std::min<int64_t>(max_choices, 4));
      std::vector<std::string> listed = q.choices;
      shuffle(rng, listed);
      std::string list;
      for (std::size_t i = 0; i < listed.size(); ++i) {
        list += (i == 0 ? "" : i + 1 == listed.size() ? " and " : ", ") + article(listed[i]);
      }
      q.context = fmt::format("{} drew {}.", rng.pick(people()), list);
      q.question = fmt::format("Which word in the context names {}?", article(cat.category));
    }
  } else if (kind == "alphabetical_first") {
    std::vector<std::string> words;
    for (const WordCategory& c : cats) words.insert(words.end(), c.words.begin(), c.words.end());
    shuffle(rng, words);
    const int64_t n = rng.between(2, max_choices);
    std::vector<std::string> chosen(words.begin(), words.begin() + n);
    const std::string first = *std::min_element(chosen.begin(), chosen.end());
    q.params = {};
    q.question = "Which word comes first in alphabetical order?";
    q.lecture = "Alphabetical order compares words letter by letter, from a to z.";
    q.explanation = fmt::format("{} comes first.", first);
    chosen.erase(std::find(chosen.begin(), chosen.end(), first));
    set_choices(rng, q, first, chosen, n);
  } else if (kind == "rhyme") {
    const auto& group = rng.pick(rhyme_groups());
    std::vector<std::string> g = group;
    shuffle(rng, g);
    std::vector<std::string> others;
    for (const auto& other : rhyme_groups()) {
      if (other != group) others.insert(others.end(), other.begin(), other.end());
    }
    q.params = {{"word", g[0]}};
    q.question = fmt::format("Which word rhymes with {}?", g[0]);
    q.lecture = "Words rhyme when they end with the same sound.";
    q.explanation = fmt::format("{} and {} rhyme.", g[0], g[1]);
    set_choices(rng, q, g[1], others, max_choices);
  } else if (kind == "category_first" || kind == "context_category_first") {
    const WordCategory& cat = rng.pick(cats);
    std::vector<std::string> in = cat.words, others;
    shuffle(rng, in);
    for (const WordCategory& c : cats) {
      if (c.category != cat.category) others.insert(others.end(), c.words.begin(), c.words.end());
    }
    shuffle(rng, others);
    const int64_t n_in = rng.between(2, 3), n_out = rng.between(1, std::max<int64_t>(1, max_choices - n_in));
    std::vector<std::string> members(in.begin(), in.begin() + n_in);
    std::vector<std::string> chosen = members;
    chosen.insert(chosen.end(), others.begin(), others.begin() + n_out);
    const std::string answer = *std::min_element(members.begin(), members.end());
    q.params = {{"category", cat.category}};
    q.lecture = "First find the words of the group, then put them in alphabetical order.";
    q.explanation = fmt::format("Of the {} words, {} comes first.", cat.category, answer);
    chosen.erase(std::find(chosen.begin(), chosen.end(), answer));
    set_choices(rng, q, answer, chosen, static_cast<int64_t>(chosen.size()) + 1);
    if (kind == "category_first") {
      q.question = fmt::format("Which {} comes first in alphabetical order?", cat.category);
    } else {
      std::vector<std::string> listed = q.choices;
      shuffle(rng, listed);
      std::string list;
      for (std::size_t i = 0; i < listed.size(); ++i) {
        list += (i == 0 ? "" : i + 1 == listed.size() ? " and " : ", ") + listed[i];
      }
      q.context = fmt::format("The words on the card are {}.", list);
      q.question = fmt::format("Which {} from the card comes first in alphabetical order?", cat.category);
    }
  } else {
    fail("sqa: unknown text question kind '{}'", kind);
  }
}

// The generator kinds of each (subject, context, grade) cell.
const std::vector<std::string>& kinds(Subject s, ContextType c, Grade g) {
  static const std::map<std::tuple<Subject, ContextType, Grade>, std::vector<std::string>> table{
      {{Subject::nat, ContextType::img, Grade::g1_6}, {"count_shape", "color_of", "which_shape"}},
      {{Subject::nat, ContextType::img, Grade::g7_12}, {"count_relation", "sides_total"}},
      {{Subject::nat, ContextType::txt, Grade::g1_6}, {"count_group"}},
      {{Subject::nat, ContextType::txt, Grade::g7_12}, {"count_shape", "count_not_color"}},
      {{Subject::nat, ContextType::no, Grade::g1_6}, {"sides", "warm"}},
      {{Subject::nat, ContextType::no, Grade::g7_12}, {"mix", "sides_sum"}},
      {{Subject::soc, ContextType::img, Grade::g1_6}, {"shape_present"}},
      {{Subject::soc, ContextType::img, Grade::g7_12}, {"shape_cost"}},
      {{Subject::soc, ContextType::txt, Grade::g1_6}, {"context_costs_more"}},
      {{Subject::soc, ContextType::txt, Grade::g7_12}, {"context_total"}},
      {{Subject::soc, ContextType::no, Grade::g1_6}, {"costs_more", "is_good"}},
      {{Subject::soc, ContextType::no, Grade::g7_12}, {"afford"}},
      {{Subject::lan, ContextType::txt, Grade::g1_6}, {"context_category"}},
      {{Subject::lan, ContextType::txt, Grade::g7_12}, {"context_category_first"}},
      {{Subject::lan, ContextType::no, Grade::g1_6}, {"alphabetical_first", "category", "rhyme"}},
      {{Subject::lan, ContextType::no, Grade::g7_12}, {"category_first"}},
  };
  auto it = table.find({s, c, g});
  QS_CHECK(it != table.end(), "sqa: no {} question with context {}", name(s), name(c));
  return it->second;
}

bool is_scene_kind(Subject s, ContextType c) { return c == ContextType::img || (s == Subject::nat && c == ContextType::txt); }

template <class T>
T pick_weighted(Rng& rng, const std::vector<std::pair<T, double>>& options) {
  double total = 0.0;
  for (auto& [v, w] : options) total += w;
  double u = rng.uniform() * total;
  for (auto& [v, w] : options) {
    if (u < w) return v;
    u -= w;
  }
  return options.back().first;
}

struct Cell {
  Subject subject;
  ContextType context;
  Grade grade;
};

Cell draw_cell(Rng& rng, const SqaConfig& c) {
  Cell cell;
  cell.subject = pick_weighted<Subject>(rng, {{Subject::nat, c.nat}, {Subject::soc, c.soc}, {Subject::lan, c.lan}});
  cell.context = pick_weighted<ContextType>(
      rng, {{ContextType::img, cell.subject == Subject::lan ? 0.0 : c.img}, {ContextType::txt, c.txt}, {ContextType::no, c.no}});
  cell.grade = rng.chance(c.hard) ? Grade::g7_12 : Grade::g1_6;
  return cell;
}

}  // namespace

SqaQuestion make_sqa_question(Rng& rng, Subject subject, ContextType context, Grade grade, const SqaConfig& config,
                              const KnowledgeBase* kb) {
  QS_CHECK(config.max_choices >= 2 && config.max_choices <= 5, "sqa: max_choices must be in 2..5, got {}",
           config.max_choices);
  // A creature question takes this cell's turn with probability `creatures`
  // (drawn only where the cell has such kinds, so a world without creatures
  // keeps its random stream).
  const auto& creature = creature_kinds(subject, context, grade);
  if (kb && kb->size() > 0 && !creature.empty() && rng.chance(config.creatures)) {
    const std::string& kind = rng.pick(creature);
    for (int attempt = 0; attempt < 100; ++attempt) {
      SqaQuestion q;
      q.subject = subject;
      q.context_type = context;
      q.grade = grade;
      if (creature_question(rng, kind, *kb, q, config)) return q;
    }
    fail("sqa: could not draw a '{}' question in 100 tries", kind);
  }
  const std::string& kind = rng.pick(kinds(subject, context, grade));
  for (int attempt = 0; attempt < 100; ++attempt) {
    SqaQuestion q;
    q.subject = subject;
    q.context_type = context;
    q.grade = grade;
    if (is_scene_kind(subject, context)) {
      q.scene = sample_scene(rng, config.scene);
      q.has_scene = true;
      q.has_image = context == ContextType::img;
      if (!scene_question(rng, kind, q.scene, q, config.max_choices)) continue;
      if (context == ContextType::txt) q.context = describe_scene(q.scene, rng);
    } else {
      text_question(rng, kind, q, config.max_choices);
    }
    if (!q.explanation.empty()) q.explanation[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(q.explanation[0])));
    return q;
  }
  fail("sqa: could not draw a '{}' question in 100 scenes (scene config too small?)", kind);
}

std::string question_key(const SqaQuestion& q) {
  std::string key = sqa_prompt(q);
  if (q.has_image) {
    for (const Object& o : q.scene.objects) {
      key += fmt::format("|{}{}{}{:.2f},{:.2f}", static_cast<int>(o.shape), static_cast<int>(o.color),
                         static_cast<int>(o.size), o.x, o.y);
      if (o.pattern != Pattern::plain) key += fmt::format("p{}", static_cast<int>(o.pattern));
    }
  }
  return key;
}

SqaDataset make_sqa(const SqaConfig& c) {
  QS_CHECK(c.train > 0 && c.val >= 0 && c.test > 0, "sqa: split sizes must be positive (train {}, val {}, test {})",
           c.train, c.val, c.test);
  QS_CHECK(c.nat >= 0 && c.soc >= 0 && c.lan >= 0 && c.nat + c.soc + c.lan > 0 && c.img >= 0 && c.txt >= 0 &&
               c.no >= 0 && c.txt + c.no > 0 && c.hard >= 0 && c.hard <= 1,
           "sqa: subject and context shares must be non-negative with positive sums, hard in [0, 1]");
  QS_CHECK(c.creatures >= 0 && c.creatures <= 1, "sqa: creatures must be in [0, 1], got {}", c.creatures);
  const KnowledgeBase kb(c.entities);
  SqaDataset d;
  std::set<std::string> seen;
  std::set<std::string> train_facts;  // creature facts train questions ask
  auto asks_train_fact = [&](const SqaQuestion& q) {
    for (const std::string& f : creature_facts(q)) {
      if (train_facts.count(f)) return true;
    }
    return false;
  };
  auto fill = [&](SqaSplit& split, int64_t n, uint64_t stream, bool reject_seen) {
    Rng rng = Rng(c.seed).fork(stream);
    std::vector<Scene> image_scenes;
    while (static_cast<int64_t>(split.questions.size()) < n) {
      const Cell cell = draw_cell(rng, c);
      // Redraw within the same cell on a repeat, so the shares stay as configured.
      SqaQuestion q;
      std::string key;
      int attempts = 0;
      do {
        QS_CHECK(attempts++ < 10000,
                 "sqa: cannot find a new {} {} {} question that is not in train (nor asks a creature fact train "
                 "asks: with {} creatures, lower sqa.creatures or the split sizes)",
                 name(cell.subject), name(cell.context), name(cell.grade), kb.size());
        q = make_sqa_question(rng, cell.subject, cell.context, cell.grade, c, &kb);
        key = question_key(q);
      } while (reject_seen && (seen.count(key) || asks_train_fact(q)));
      if (!reject_seen) {
        seen.insert(key);
        for (const std::string& f : creature_facts(q)) train_facts.insert(f);
      }
      split.image_index.push_back(q.has_image ? static_cast<int64_t>(image_scenes.size()) : -1);
      if (q.has_image) image_scenes.push_back(q.scene);
      split.questions.push_back(std::move(q));
    }
    const int64_t px = c.scene.canvas;
    split.images = engine::Tensor({static_cast<int64_t>(image_scenes.size()), px, px, 3}, engine::DType::u8);
    const int64_t bytes = px * px * 3;
    for (std::size_t i = 0; i < image_scenes.size(); ++i) {
      engine::Tensor img = render_scene(image_scenes[i], c.seed * 104729 + stream * 7919 + i);
      std::copy_n(img.data<uint8_t>(), bytes, split.images.data<uint8_t>() + static_cast<int64_t>(i) * bytes);
    }
  };
  fill(d.train, c.train, 1, false);
  fill(d.val, c.val, 2, true);
  fill(d.test, c.test, 3, true);
  return d;
}

std::string sqa_prompt(const SqaQuestion& q) {
  std::string out = "Question: " + q.question + "\nContext: " + (q.context.empty() ? "N/A" : q.context) + "\nOptions:";
  for (std::size_t i = 0; i < q.choices.size(); ++i) {
    out += fmt::format(" ({}) {}", static_cast<char>('A' + i), q.choices[i]);
  }
  return out;
}

AnswerFormat parse_answer_format(const std::string& name) {
  if (name == "letter") return AnswerFormat::letter;
  if (name == "text") return AnswerFormat::text;
  fail("sqa: unknown answer format '{}' (expected letter or text)", name);
}

std::string sqa_answer(const SqaQuestion& q, AnswerFormat format) {
  if (format == AnswerFormat::text) return "The answer is " + q.choices[static_cast<std::size_t>(q.answer)] + ".";
  return fmt::format("The answer is {}.", static_cast<char>('A' + q.answer));
}

AnswerTarget parse_answer_target(const std::string& name) {
  if (name == "answer") return AnswerTarget::answer;
  if (name == "lea") return AnswerTarget::lea;
  fail("sqa: unknown answer target '{}' (expected answer or lea)", name);
}

std::string name(AnswerTarget t) { return t == AnswerTarget::lea ? "lea" : "answer"; }

std::string sqa_target(const SqaQuestion& q, AnswerFormat format, AnswerTarget target) {
  if (target == AnswerTarget::answer) return sqa_answer(q, format);
  // The official conversion joins the parts with single spaces, so an empty
  // lecture leaves no double space.
  std::string out = "Answer:";
  for (const std::string& part : {q.lecture, q.explanation, sqa_answer(q, format)}) {
    if (!part.empty()) out += " " + part;
  }
  return out;
}

namespace {

const std::string kMarker = "The answer is ";

// Where the answer starts: after the only "The answer is ", at 0 without
// one, nullopt when there are several.
std::optional<std::size_t> answer_start(const std::string& generation) {
  const std::size_t at = generation.find(kMarker);
  if (at == std::string::npos) return 0;
  if (generation.find(kMarker, at + 1) != std::string::npos) return std::nullopt;
  return at + kMarker.size();
}

}  // namespace

std::optional<int64_t> parse_answer(const std::string& generation, const std::vector<std::string>& choices,
                                    AnswerFormat format) {
  if (format == AnswerFormat::letter) return parse_answer(generation, static_cast<int64_t>(choices.size()));
  const std::optional<std::size_t> start = answer_start(generation);
  if (!start) return std::nullopt;
  std::string named = generation.substr(*start);
  while (!named.empty() && std::isspace(static_cast<unsigned char>(named.front()))) named.erase(named.begin());
  while (!named.empty() && (named.back() == '.' || std::isspace(static_cast<unsigned char>(named.back())))) named.pop_back();
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (named == choices[i]) return static_cast<int64_t>(i);
  }
  return std::nullopt;
}

std::optional<int64_t> parse_answer(const std::string& generation, int64_t n_choices) {
  const std::string& text = generation;
  const std::optional<std::size_t> start = answer_start(generation);
  if (!start) return std::nullopt;
  std::size_t pos = *start;
  while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  if (pos < text.size() && text[pos] == '(') ++pos;
  if (pos >= text.size()) return std::nullopt;
  const char letter = text[pos];
  // The letter must stand alone: "A." "A)" "A" at the end, not "All".
  const bool alone = pos + 1 >= text.size() || !std::isalnum(static_cast<unsigned char>(text[pos + 1]));
  if (letter < 'A' || letter >= 'A' + n_choices || !alone) return std::nullopt;
  return letter - 'A';
}

}  // namespace qs::data
