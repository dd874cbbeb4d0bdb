#include <cmath>
#include <regex>

#include "data/corpus.h"
#include "data/lm_dataset.h"
#include "data/scene.h"
#include "engine/ops.h"
#include "support.h"

using namespace qs::data;
namespace e = qs::engine;

TEST_CASE("the corpus is deterministic from its seed and split into train and val") {
  CorpusConfig c;
  c.documents = 500;
  c.val_fraction = 0.1;
  Corpus a = make_corpus(c), b = make_corpus(c);
  CHECK(a.train == b.train);
  CHECK(a.val.size() + a.train.size() == 500);
  CHECK(a.val.size() == doctest::Approx(50).epsilon(0.5));
  c.seed = 1;
  CHECK(make_corpus(c).train != a.train);
}

TEST_CASE("corpus facts are true") {
  // Arithmetic and shape sentences, checked by parsing them back.
  std::regex plus("(\\d+) plus (\\d+) is (\\d+)\\.");
  std::regex minus("(\\d+) minus (\\d+) is (\\d+)\\.");
  std::regex sides_re("[Aa] (triangle|square|hexagon) has (\\w+) sides");
  int checked = 0;
  for (int64_t i = 0; i < 3000; ++i) {
    std::string d = corpus_document(7, i);
    for (std::sregex_iterator it(d.begin(), d.end(), plus), end; it != end; ++it, ++checked) {
      CHECK(std::stoi((*it)[1]) + std::stoi((*it)[2]) == std::stoi((*it)[3]));
    }
    for (std::sregex_iterator it(d.begin(), d.end(), minus), end; it != end; ++it, ++checked) {
      CHECK(std::stoi((*it)[1]) - std::stoi((*it)[2]) == std::stoi((*it)[3]));
    }
    for (std::sregex_iterator it(d.begin(), d.end(), sides_re), end; it != end; ++it, ++checked) {
      std::string shape = (*it)[1], count = (*it)[2];
      const int n = shape == "triangle" ? 3 : shape == "square" ? 4 : 6;
      CHECK((count == number_word(n) || count == std::to_string(n)));  // quizzes write digits
    }
  }
  CHECK(checked > 50);
}

TEST_CASE("scenes hold non-overlapping objects and their descriptions count them") {
  Rng rng(3);
  for (int i = 0; i < 200; ++i) {
    Scene s = sample_scene(rng);
    REQUIRE(!s.objects.empty());
    CHECK(s.objects.size() <= 6);
    for (std::size_t a = 0; a < s.objects.size(); ++a) {
      for (std::size_t b = a + 1; b < s.objects.size(); ++b) {
        const Object &p = s.objects[a], &q = s.objects[b];
        CHECK(std::hypot(p.x - q.x, p.y - q.y) > p.radius + q.radius);
      }
    }
    std::string text = describe_scene(s, rng);
    const int n = static_cast<int>(s.objects.size());
    CHECK(text.find(number_word(n) + (n == 1 ? " shape in total" : " shapes in total")) != std::string::npos);
  }
  Object left{Shape::circle, Color::red, Size::small, 10, 30, 5};
  Object right{Shape::star, Color::blue, Size::small, 50, 32, 5};
  CHECK(relation(left, right) == "left of");
  CHECK(relation(right, left) == "right of");
}

TEST_CASE("packing makes every token a target once - batches depend only on the step") {
  Tokenizer tok;
  std::vector<std::string> docs{"abc", "defgh", "ij"};
  e::Tensor seqs = pack_sequences(docs, tok, 4);
  // stream: <s> a b c </s> <s> d e f g h </s> <s> i j </s> = 16 tokens -> 3 rows of 5
  CHECK(seqs.shape() == e::Shape{3, 5});
  CHECK(e::element_as_double(seqs, 4) == e::element_as_double(seqs, 5));  // rows overlap by one
  LmBatches batches(seqs, 2, 11);
  CHECK(batches.steps_per_epoch() == 1);
  LmBatch b0 = batches.batch(0), again = batches.batch(0);
  CHECK(e::equal(b0.inputs, again.inputs));
  CHECK(b0.inputs.shape() == e::Shape{2, 4});
  CHECK(e::equal(b0.inputs.slice(1, 1, 4), b0.targets.slice(1, 0, 3)));
  // Across epochs the order changes but stays a permutation.
  bool differs = false;
  for (int64_t s = 1; s < 6; ++s) differs = differs || !e::equal(batches.batch(s).inputs, b0.inputs);
  CHECK(differs);
  CHECK_THROWS_AS(LmBatches(seqs, 4, 0), qs::Error);
}
