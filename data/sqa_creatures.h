#pragma once
// SynthSQA's questions about the knowledge base's creatures (BENCHMARK.md,
// second edition): recall (NO: the fact only in pretraining), reading (TXT:
// the facts given in the context) and perception plus recall (IMG: a
// creature's glyph in the picture, a fact about it asked).
#include <string>
#include <vector>

#include "data/entities.h"
#include "data/sqa.h"

namespace qs::data {

// The creature question kinds of a (subject, context, grade) cell; empty
// where none exists (language questions, for one).
const std::vector<std::string>& creature_kinds(Subject subject, ContextType context, Grade grade);
// Fills q (its cell already set) with a question of `kind`; false when the
// knowledge base cannot support it (e.g. no visible creature), and the
// caller draws another kind.
bool creature_question(Rng& rng, const std::string& kind, const KnowledgeBase& kb, SqaQuestion& q,
                       const SqaConfig& config);

// The creature facts a question asks ("Varnok:food"), from its params; empty
// for other kinds. A test question never asks a fact a train question asked,
// so NO questions measure what pretraining stored, not what tuning showed.
std::vector<std::string> creature_facts(const SqaQuestion& q);

}  // namespace qs::data
