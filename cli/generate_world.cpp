#include "cli/generate_world.h"

#include <fmt/core.h>

#include <filesystem>

#include "data/english.h"
#include "data/entities.h"
#include "engine/error.h"

namespace qs::cli {

int generate_world(const WorldSamples& r) {
  QS_CHECK(r.creatures >= 0 && r.creatures <= 1000 && r.documents >= 0 && r.documents <= 1000 && r.probes >= 0 &&
               r.probes <= 1000 && r.english >= 0 && r.english <= 1000,
           "generate world: --creatures, --documents, --probes and --english must be in [0, 1000]");
  QS_CHECK(r.entity_count > 0 && r.entity_count <= 1000000, "generate world: --entities must be in [1, 1000000], got {}",
           r.entity_count);
  data::EntityConfig ec;
  ec.seed = r.seed;
  ec.count = r.entity_count;
  ec.visible = std::min<int64_t>(120, r.entity_count);
  const data::KnowledgeBase kb(ec);
  fmt::print("knowledge base: {} creatures ({} with a glyph), seed {}\n\n", kb.size(), kb.visible().size(), r.seed);
  for (int64_t i = 0; i < std::min(r.creatures, kb.size()); ++i) {
    const data::Entity& e = kb.entity(i);
    fmt::print("{} (corpus weight {:.2e}):", e.name, e.weight);
    for (data::Attribute a : data::all_attributes()) {
      if (kb.has(i, a)) fmt::print(" {}={};", data::name(a), kb.value(i, a));
    }
    fmt::print("\n");
  }
  fmt::print("\nprofile documents (pretraining text):\n");
  for (int64_t i = 0; i < r.documents; ++i) fmt::print("  {}\n", data::entity_document(kb, r.seed, i));
  const auto probes = r.probes > 0 ? data::make_recall_probes(kb, r.probes, 4, r.seed) : std::vector<data::RecallProbe>{};
  if (!probes.empty()) fmt::print("\nrecall probes (a held-out paraphrase; the true completion marked *):\n");
  for (const data::RecallProbe& p : probes) {
    fmt::print("  {} |", p.prefix);
    for (std::size_t c = 0; c < p.completions.size(); ++c) {
      fmt::print("{}{}", p.completions[c], static_cast<int64_t>(c) == p.answer ? "*" : "");
    }
    fmt::print("\n");
  }
  if (r.english > 0) {
    data::EnglishConfig en;
    en.wordnet = std::filesystem::exists(r.wordnet) ? r.wordnet : "";
    en.gcide = std::filesystem::exists(r.gcide) ? r.gcide : "";
    en.seed = r.seed;
    if (en.wordnet.empty() && en.gcide.empty()) {
      fmt::print("\nno English sources at {} or {} (apt-get install wordnet-base dict-gcide)\n", r.wordnet, r.gcide);
      return 0;
    }
    const data::EnglishText text = data::load_english(en);
    fmt::print("\nEnglish: {} train / {} held-out documents from{}{}; a sample:\n", text.train.size(), text.val.size(),
               en.wordnet.empty() ? "" : " " + en.wordnet, en.gcide.empty() ? "" : " " + en.gcide);
    for (int64_t i = 0; i < std::min<int64_t>(r.english, static_cast<int64_t>(text.train.size())); ++i) {
      fmt::print("  {}\n", text.train[static_cast<std::size_t>(i)]);
    }
  }
  return 0;
}

}  // namespace qs::cli
