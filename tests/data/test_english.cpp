#include <zlib.h>

#include <fstream>

#include "data/corpus.h"
#include "data/english.h"
#include "support.h"

using namespace qs::data;
using qs::test::error_of;
using qs::test::has;

namespace {
const std::filesystem::path kFixtures = std::filesystem::path(QS_FIXTURES) / "english";

bool contains(const std::vector<std::string>& docs, const std::string& doc) {
  return std::find(docs.begin(), docs.end(), doc) != docs.end();
}
}  // namespace

TEST_CASE("WordNet data files: one document per synset, words joined, markers dropped") {
  const auto docs = read_wordnet(kFixtures / "wordnet");
  REQUIRE(docs.size() == 5);  // 3 nouns, 2 adjective lines (one a duplicate)
  CHECK(contains(docs, "lantern: a light with a transparent case protecting the flame; \"she carried a lantern into the "
                       "cellar\""));
  CHECK(contains(docs, "source of illumination, light source: any device serving as a source of illumination."));
  CHECK(contains(docs, "brisk, lively: quick and energetic; \"a brisk walk in the park\""));
  CHECK(has(error_of([] { read_wordnet(kFixtures / "bad"); }), "bad/data.noun:1 is not a WordNet data line"));
  CHECK(has(error_of([] { read_wordnet(kFixtures / "missing"); }), "no WordNet data files"));
}

TEST_CASE("GCIDE dictd text, plain or gzip: one document per sense, markup and citations removed") {
  const auto docs = read_gcide(kFixtures / "gcide.dict");
  for (const auto& d : docs) MESSAGE(d);
  REQUIRE(docs.size() == 4);
  CHECK(docs[0] ==
        "Lantern: Something inclosing a light, and protecting it from wind, rain, etc.; -- sometimes portable, as a "
        "closed vessel or case of horn, perforated tin, glass, oiled paper, or other material.");
  CHECK(docs[1] == "Lantern: An open structure of light material set upon a roof, to give light and air to the interior.");
  CHECK(docs[2] ==
        "Otter: Any carnivorous animal of the genus Lutra, which includes many species having webbed feet and living "
        "in rivers.");
  CHECK(docs[3] == "Brisk: Full of liquid life; lively; agile; quick; active.");
  // The same text gzip-compressed (dictzip is gzip with an index) reads the same.
  const auto gz = qs::test::temp_root("english") / "gcide.dict.dz";
  std::filesystem::create_directories(gz.parent_path());
  std::ifstream in(kFixtures / "gcide.dict");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gzFile f = gzopen(gz.c_str(), "wb");
  REQUIRE(f != nullptr);
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
  CHECK(read_gcide(gz) == docs);
  CHECK(has(error_of([] { read_gcide(kFixtures / "bad" / "gcide.dict"); }), "holds no dictionary entries"));
  CHECK(has(error_of([] { read_gcide(kFixtures / "nope.dict.dz"); }), "does not exist (install dict-gcide)"));
  // A truncated gzip stream is an error naming the file, not a crash or silent text.
  std::string bytes;
  {
    std::ifstream z(gz, std::ios::binary);
    bytes.assign((std::istreambuf_iterator<char>(z)), std::istreambuf_iterator<char>());
  }
  std::ofstream(gz, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  CHECK(has(error_of([&] { read_gcide(gz); }), "gcide.dict.dz"));
  std::filesystem::remove_all(gz.parent_path());
}

TEST_CASE("English text is deduplicated, split by a hash of each text, and cleaned to valid UTF-8") {
  EnglishConfig c;
  c.wordnet = (kFixtures / "wordnet").string();
  c.gcide = (kFixtures / "gcide.dict").string();
  c.val_fraction = 0.3;
  const EnglishText a = load_english(c);
  CHECK(a.train.size() + a.val.size() == 8);  // 5 WordNet lines with one duplicate, 4 GCIDE senses
  // The split of a text does not depend on which other texts were read.
  EnglishConfig only_wordnet = c;
  only_wordnet.gcide.clear();
  const EnglishText b = load_english(only_wordnet);
  for (const auto& d : b.val) CHECK(contains(a.val, d));
  for (const auto& d : b.train) CHECK(contains(a.train, d));
  c.max_documents = 3;
  const EnglishText sub = load_english(c);
  CHECK(sub.train.size() + sub.val.size() == 3);
  CHECK(clean_text("a\tb \xff\xfe c\n\nd \xe2\x82\xac") == "a b c d \xe2\x82\xac");
  CHECK(clean_text("cut \xe2\x82") == "cut");
}

TEST_CASE("the corpus keeps held-out English apart from held-out world text") {
  CorpusConfig c;
  c.documents = 200;
  c.english.wordnet = (kFixtures / "wordnet").string();
  c.english.gcide = (kFixtures / "gcide.dict").string();
  c.english.val_fraction = 0.5;
  const Corpus corpus = make_corpus(c);
  CHECK(!corpus.val_english.empty());
  for (const auto& d : corpus.val_english) {
    CHECK_FALSE(contains(corpus.train, d));
    CHECK_FALSE(contains(corpus.val, d));
  }
  CHECK(corpus.train.size() + corpus.val.size() + corpus.val_english.size() == 208);
}
