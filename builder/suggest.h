// "Did you mean …?": the nearest valid word to a misspelt one, by edit distance.
#pragma once
#include <string>
#include <vector>

namespace grappe::build {

// Edits (insert, delete, substitute, swap two neighbours) that turn a into b.
size_t edit_distance(const std::string& a, const std::string& b);
// The candidate nearest to `word`, or "" when none is close enough to be a likely misspelling
// (at most 1 edit for words of up to 4 characters, else at most a third of the word, and 2 at least).
// Ties go to the first candidate.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);
// "did you mean `x`? " when nearest() finds one, else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace grappe::build
