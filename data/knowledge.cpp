#include "data/knowledge.h"

namespace qs::data {

const std::vector<Shape>& all_shapes() {
  static const std::vector<Shape> v{Shape::circle, Shape::square, Shape::triangle, Shape::star, Shape::hexagon};
  return v;
}
const std::vector<Color>& all_colors() {
  static const std::vector<Color> v{Color::red, Color::green, Color::blue, Color::yellow, Color::purple, Color::orange};
  return v;
}

std::string name(Shape s) {
  switch (s) {
    case Shape::circle: return "circle";
    case Shape::square: return "square";
    case Shape::triangle: return "triangle";
    case Shape::star: return "star";
    case Shape::hexagon: return "hexagon";
  }
  return "?";
}

std::string name(Color c) {
  switch (c) {
    case Color::red: return "red";
    case Color::green: return "green";
    case Color::blue: return "blue";
    case Color::yellow: return "yellow";
    case Color::purple: return "purple";
    case Color::orange: return "orange";
  }
  return "?";
}

const std::vector<Pattern>& all_patterns() {
  static const std::vector<Pattern> v{Pattern::plain, Pattern::striped, Pattern::spotted, Pattern::hollow};
  return v;
}

std::string name(Pattern p) {
  switch (p) {
    case Pattern::plain: return "plain";
    case Pattern::striped: return "striped";
    case Pattern::spotted: return "spotted";
    case Pattern::hollow: return "hollow";
  }
  return "?";
}

std::string plural(Shape s) { return name(s) + "s"; }

int sides(Shape s) {
  switch (s) {
    case Shape::circle: return 0;
    case Shape::triangle: return 3;
    case Shape::square: return 4;
    case Shape::star: return 5;
    case Shape::hexagon: return 6;
  }
  return -1;
}

std::optional<Color> mix(Color a, Color b) {
  auto is = [&](Color x, Color y) { return (a == x && b == y) || (a == y && b == x); };
  if (is(Color::red, Color::yellow)) return Color::orange;
  if (is(Color::blue, Color::yellow)) return Color::green;
  if (is(Color::red, Color::blue)) return Color::purple;
  return std::nullopt;
}

bool is_warm(Color c) { return c == Color::red || c == Color::orange || c == Color::yellow; }

const std::vector<Item>& items() {
  static const std::vector<Item> v{
      {"apple", 2, true},       {"pencil", 1, true},        {"book", 12, true},
      {"kite", 9, true},        {"bicycle", 80, true},      {"lamp", 25, true},
      {"ball", 5, true},        {"hat", 15, true},          {"haircut", 20, false},
      {"music lesson", 30, false}, {"car wash", 10, false}, {"bus ride", 3, false},
      {"repair", 40, false},    {"dog walk", 8, false}};
  return v;
}

const std::vector<WordCategory>& word_categories() {
  static const std::vector<WordCategory> v{
      {"animal", {"cat", "dog", "horse", "rabbit", "tiger", "owl"}},
      {"fruit", {"apple", "banana", "cherry", "grape", "lemon", "mango"}},
      {"tool", {"hammer", "saw", "wrench", "drill", "shovel", "rake"}},
      {"instrument", {"piano", "drum", "flute", "violin", "guitar", "harp"}}};
  return v;
}

const std::vector<std::vector<std::string>>& rhyme_groups() {
  static const std::vector<std::vector<std::string>> v{
      {"cat", "hat", "bat", "mat"}, {"star", "car", "jar", "bar"}, {"ball", "wall", "tall", "hall"},
      {"cake", "lake", "rake", "bake"}, {"light", "kite", "night", "bright"}};
  return v;
}

std::string number_word(int n) {
  static const char* words[] = {"zero", "one", "two", "three", "four", "five", "six",
                                "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen",
                                "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                                "nineteen", "twenty"};
  return n >= 0 && n <= 20 ? words[n] : std::to_string(n);
}

}  // namespace qs::data
