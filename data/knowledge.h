#pragma once
// The facts of the shape world that live only in text (BENCHMARK.md): shape
// sides, color mixing, warm and cool colors, prices, goods and services,
// word categories and rhymes. The corpus states them; SynthSQA asks them.
#include <optional>
#include <string>
#include <vector>

namespace qs::data {

enum class Shape { circle, square, triangle, star, hexagon };
enum class Color { red, green, blue, yellow, purple, orange };
// How a shape is filled: the creatures' glyphs (data/entities.h) tell
// themselves apart by it; the first edition's scenes are all plain.
enum class Pattern { plain, striped, spotted, hollow };

const std::vector<Shape>& all_shapes();
const std::vector<Color>& all_colors();
std::string name(Shape s);
std::string name(Color c);
const std::vector<Pattern>& all_patterns();
std::string name(Pattern p);
std::string plural(Shape s);
int sides(Shape s);  // circle 0, triangle 3, square 4, star 5 (points), hexagon 6
std::optional<Color> mix(Color a, Color b);  // red+yellow orange, blue+yellow green, red+blue purple
bool is_warm(Color c);                       // red, orange, yellow

struct Item {
  std::string name;
  int price;  // in coins
  bool is_good;  // a good (a thing) rather than a service
};
const std::vector<Item>& items();

struct WordCategory {
  std::string category;
  std::vector<std::string> words;
};
const std::vector<WordCategory>& word_categories();
const std::vector<std::vector<std::string>>& rhyme_groups();

std::string number_word(int n);  // 0-20 as words, digits beyond

}  // namespace qs::data
