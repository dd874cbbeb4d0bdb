#include "data/scienceqa.h"

#include "engine/error.h"
#include "engine/io/json_file.h"

namespace qs::data {

namespace {

using engine::JsonObject;

// Python's str.replace(old, new) on every non-overlapping occurrence, left to right.
std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  std::string out;
  for (std::size_t start = 0;;) {
    const std::size_t at = s.find(from, start);
    if (at == std::string::npos) return out + s.substr(start);
    out += s.substr(start, at - start) + to;
    start = at + from.size();
  }
}

// Python's str.strip(): ASCII whitespace from both ends.
std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const std::size_t a = s.find_first_not_of(ws);
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

// A relative path that stays below its folder: no "..", no root, not empty.
bool inside(const std::filesystem::path& p) {
  if (p.empty() || p.is_absolute() || p.has_root_name()) return false;
  for (const auto& part : p) {
    if (part == "..") return false;
  }
  return true;
}

constexpr const char* kLetters = "ABCDE";

std::string choice_text(const std::vector<std::string>& choices) {
  std::string out;
  for (std::size_t i = 0; i < choices.size(); ++i) out += fmt::format("{}({}) {}", i ? " " : "", kLetters[i], choices[i]);
  return out;
}

std::string string_field(const JsonObject& o, const std::string& key) {
  return o.has(key) ? o.string(key) : std::string();
}

}  // namespace

std::vector<ScienceQaProblem> load_scienceqa(const std::filesystem::path& folder, const std::string& split) {
  const JsonObject splits = JsonObject::read(folder / "pid_splits.json");
  const JsonObject problems = JsonObject::read(folder / "problems.json");
  const nlohmann::json& pids = splits.array(split);
  std::vector<ScienceQaProblem> out;
  for (const nlohmann::json& id : pids) {
    QS_CHECK(id.is_string(), "{} lists {}, which is not a problem id", splits.at(split), id.dump());
    const std::string pid = id.get<std::string>();
    QS_CHECK(problems.has(pid), "{}: split '{}' lists problem '{}', which is not in it", problems.where(), split, pid);
    const JsonObject p = problems.object(pid);
    ScienceQaProblem q;
    q.pid = pid;
    q.question = p.string("question");
    q.hint = string_field(p, "hint");
    q.lecture = string_field(p, "lecture");
    q.solution = string_field(p, "solution");
    q.subject = string_field(p, "subject");
    q.grade = string_field(p, "grade");
    q.split = split;
    for (const nlohmann::json& c : p.array("choices")) {
      QS_CHECK(c.is_string(), "{} holds {}, which is not text", p.at("choices"), c.dump());
      q.choices.push_back(c.get<std::string>());
    }
    QS_CHECK(q.choices.size() >= 2 && q.choices.size() <= 5, "{} must hold 2 to 5 choices (options A-E), got {}",
             p.at("choices"), q.choices.size());
    q.answer = p.integer("answer");
    QS_CHECK(q.answer >= 0 && q.answer < static_cast<int64_t>(q.choices.size()), "{} is {}, but there are {} choices",
             p.at("answer"), q.answer, q.choices.size());
    q.image = string_field(p, "image");
    QS_CHECK(q.image.empty() || (inside(q.image) && std::filesystem::path(q.image).filename() == q.image),
             "{} is '{}', not a file name", p.at("image"), q.image);
    out.push_back(std::move(q));
  }
  return out;
}

std::string qcm_input(const std::string& question, const std::string& hint, const std::vector<std::string>& choices) {
  const std::string context = strip(hint).empty() ? "N/A" : strip(hint);
  const std::string input = fmt::format("Question: {}\nContext: {}\nOptions: {}\n", question, context, choice_text(choices));
  return replace_all(strip(replace_all(input, "  ", " ")), "Question: ", "");
}

std::string qcm_lea_output(const std::string& lecture, const std::string& solution, int64_t answer) {
  const std::string output = fmt::format("Answer: {} {} The answer is {}.", lecture, solution, kLetters[answer]);
  return replace_all(strip(replace_all(output, "  ", " ")), "Answer: ", "");
}

LlavaRecord to_llava_qcm_lea(const ScienceQaProblem& p) {
  const std::string input = qcm_input(p.question, p.hint, p.choices);
  LlavaRecord r{p.pid, p.image.empty() ? "" : p.pid + "/" + p.image, {}};
  r.conversations.push_back({"human", p.image.empty() ? input : input + "\n<image>"});
  r.conversations.push_back({"gpt", qcm_lea_output(p.lecture, p.solution, p.answer)});
  return r;
}

std::string scienceqa_eval_question(const ScienceQaProblem& p) {
  const std::string context = strip(p.hint).empty() ? "N/A" : strip(p.hint);
  std::string input = fmt::format("Context: {}\nQuestion: {}\nOptions: {}\n", context, p.question, choice_text(p.choices));
  input = replace_all(strip(replace_all(input, "  ", " ")), "Question: ", "");
  if (!p.image.empty()) input = "<image>\n" + input;
  return input + "\nAnswer with the option's letter from the given choices directly.";
}

int64_t parse_scienceqa_answer(const std::string& text, std::size_t n_choices) {
  const std::string t = strip(text);
  for (std::size_t i = 0; i < n_choices; ++i) {
    if (t.size() == 1 && t[0] == kLetters[i]) return static_cast<int64_t>(i);
  }
  // One "The answer is X." with X a capital letter (any character after it).
  int64_t found = -1, count = 0;
  const std::string key = "The answer is ";
  for (std::size_t at = t.find(key); at != std::string::npos; at = t.find(key, at + 1)) {
    const std::size_t x = at + key.size();
    if (x + 1 < t.size() && t[x] >= 'A' && t[x] <= 'Z') {
      ++count;
      found = t[x] - 'A';
    }
  }
  return count == 1 && found < static_cast<int64_t>(n_choices) ? found : -1;
}

std::vector<std::string> scienceqa_columns(const ScienceQaProblem& p) {
  std::vector<std::string> out;
  if (p.subject == "natural science") out.push_back("NAT");
  if (p.subject == "social science") out.push_back("SOC");
  if (p.subject == "language science") out.push_back("LAN");
  const bool text = !strip(p.hint).empty(), image = !p.image.empty();
  if (text) out.push_back("TXT");
  if (image) out.push_back("IMG");
  if (!text && !image) out.push_back("NO");
  if (p.grade.rfind("grade", 0) == 0) {
    const int g = std::atoi(p.grade.c_str() + 5);
    if (g >= 1 && g <= 6) out.push_back("G1-6");
    if (g >= 7 && g <= 12) out.push_back("G7-12");
  }
  return out;
}

std::filesystem::path scienceqa_image_path(const std::filesystem::path& folder, const ScienceQaProblem& p) {
  QS_CHECK(!p.image.empty(), "ScienceQA problem '{}' has no image", p.pid);
  return folder / "images" / p.split / p.pid / p.image;
}

std::vector<LlavaRecord> load_llava_conversations(const std::filesystem::path& path) {
  const nlohmann::json all = engine::read_json_file(path);
  QS_CHECK(all.is_array(), "{}: expected a JSON array of records", path.string());
  std::vector<LlavaRecord> out;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::string where = fmt::format("{}: record {}", path.string(), i);
    const JsonObject o(all[i], where);
    LlavaRecord r;
    r.id = o.has("id") ? (o.json()["id"].is_string() ? o.string("id") : o.json()["id"].dump()) : std::to_string(i);
    r.image = string_field(o, "image");
    QS_CHECK(r.image.empty() || inside(r.image), "{} ('{}'): image '{}' is not a path inside the image folder", where,
             r.id, r.image);
    int images = 0;
    const nlohmann::json& turns = o.array("conversations");
    QS_CHECK(!turns.empty() && turns.size() % 2 == 0, "{} ('{}'): 'conversations' must hold human/gpt pairs, got {} turns",
             where, r.id, turns.size());
    for (std::size_t t = 0; t < turns.size(); ++t) {
      const JsonObject turn(turns[t], fmt::format("{} ('{}'), turn {}", where, r.id, t));
      ConversationTurn c{turn.string("from"), turn.string("value")};
      const char* want = t % 2 == 0 ? "human" : "gpt";
      QS_CHECK(c.from == want, "{}: 'from' is '{}', expected '{}' (turns alternate human, gpt)", turn.where(), c.from,
               want);
      for (std::size_t at = c.value.find("<image>"); at != std::string::npos; at = c.value.find("<image>", at + 1)) {
        ++images;
        QS_CHECK(c.from == "human", "{}: '<image>' in a gpt turn", turn.where());
      }
      r.conversations.push_back(std::move(c));
    }
    QS_CHECK(images <= 1, "{} ('{}'): {} '<image>' placeholders; one image, one placeholder", where, r.id, images);
    QS_CHECK(images == 0 || !r.image.empty(), "{} ('{}'): '<image>' in the text but no 'image'", where, r.id);
    out.push_back(std::move(r));
  }
  return out;
}

Conversation llava_conversation(const LlavaRecord& r, const std::string& system) {
  Conversation c;
  c.system = system;
  c.has_image = !r.image.empty();
  for (std::size_t t = 0; t + 1 < r.conversations.size(); t += 2) {
    std::string user = r.conversations[t].value;
    if (const std::size_t at = user.find("<image>"); at != std::string::npos) {
      user.erase(at, std::string("<image>").size());
      user = strip(user);
    }
    c.turns.push_back({user, r.conversations[t + 1].value});
  }
  return c;
}

}  // namespace qs::data
