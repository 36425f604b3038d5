// A parser for files of shell variable assignments that never runs a shell:
// each line is read as a POSIX shell would read a lone assignment, and a line
// whose meaning needs expansion or a command is skipped, never guessed at.
#include "shell_variables.hpp"

#include <algorithm>

namespace lrm::pacemaker {

namespace {

bool isBlank(char c) { return c == ' ' || c == '\t'; }
bool isLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isNameChar(char c) { return isLetter(c) || (c >= '0' && c <= '9'); }

constexpr std::string_view kCommandChars = ";&|<>()";

// Reads one line. Returns the reason when it is not understood; an
// understood assignment is appended to @p variables.
std::string parseLine(std::string_view line, std::size_t number, std::vector<ShellVariable>& variables) {
  std::size_t pos = 0;
  const auto skipBlanks = [&] {
    while (pos < line.size() && isBlank(line[pos])) ++pos;
  };
  const auto onlyCommentLeft = [&] {
    skipBlanks();
    return pos == line.size() || line[pos] == '#';
  };
  if (onlyCommentLeft()) return {};
  bool exported = false;
  if (line.substr(pos, 6) == "export" && pos + 6 < line.size() && isBlank(line[pos + 6])) {
    exported = true;
    pos += 6;
    skipBlanks();
  }
  const std::size_t name_start = pos;
  if (pos == line.size() || !isLetter(line[pos])) return "not a NAME=value assignment";
  while (pos < line.size() && isNameChar(line[pos])) ++pos;
  ShellVariable variable{std::string(line.substr(name_start, pos - name_start)), {}, number};
  if (pos == line.size() || line[pos] != '=') {
    // `export NAME` marks a variable for export and assigns nothing.
    if (exported && (pos == line.size() || isBlank(line[pos])) && onlyCommentLeft()) return {};
    return "not a NAME=value assignment";
  }
  ++pos;

  std::string& value = variable.value;
  // A shell expands an unquoted ~ at the start of an assignment's value and after each unquoted ':'.
  bool tilde_expands = true;
  while (pos < line.size() && !isBlank(line[pos])) {
    const char c = line[pos];
    if (c == '\'') {
      const std::size_t end = line.find('\'', pos + 1);
      if (end == std::string_view::npos) return "a single quote is not closed on its line";
      value.append(line.substr(pos + 1, end - pos - 1));
      pos = end + 1;
      tilde_expands = false;
    } else if (c == '"') {
      ++pos;
      bool closed = false;
      while (pos < line.size() && !closed) {
        const char d = line[pos];
        if (d == '"') {
          closed = true;
        } else if (d == '$' || d == '`') {
          return std::string("'") + d + "' in double quotes is an expansion that needs a shell (use single quotes)";
        } else if (d == '\\' && pos + 1 < line.size() &&
                   std::string_view("$`\"\\").find(line[pos + 1]) != std::string_view::npos) {
          value += line[++pos];
        } else {
          value += d;
        }
        ++pos;
      }
      if (!closed) return "a double quote is not closed on its line";
      tilde_expands = false;
    } else if (c == '\\') {
      if (pos + 1 == line.size()) return "a line continuation (\\ at the end) is not supported";
      value += line[pos + 1];
      pos += 2;
      tilde_expands = false;
    } else if (c == '$' || c == '`') {
      return std::string("'") + c + "' is an expansion that needs a shell (use single quotes)";
    } else if (c == '~' && tilde_expands) {
      return "'~' is an expansion that needs a shell (use single quotes)";
    } else if (c == '\0' || kCommandChars.find(c) != std::string_view::npos) {
      return c == '\0' ? std::string("a NUL byte") : std::string("unquoted '") + c + "' makes it a command";
    } else {
      value += c;
      ++pos;
      tilde_expands = c == ':';
    }
  }
  if (!onlyCommentLeft()) return "text after the value would run as a command";
  variables.push_back(std::move(variable));
  return {};
}

}  // namespace

const ShellVariable* ShellVariables::find(std::string_view name) const {
  const auto last = std::find_if(variables.rbegin(), variables.rend(),
                                 [&](const ShellVariable& variable) { return variable.name == name; });
  return last == variables.rend() ? nullptr : &*last;
}

ShellVariables parseShellVariables(std::string_view text) {
  ShellVariables result;
  std::size_t number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    ++number;
    std::string reason = parseLine(text.substr(start, end - start), number, result.variables);
    if (!reason.empty()) result.skipped.push_back({number, std::move(reason)});
    start = end + 1;
  }
  return result;
}

}  // namespace lrm::pacemaker
