// Reads a shell-variable file such as Debian's /etc/default/pacemaker
// (KEY=VALUE lines) without executing it: the assignments a plain shell
// would make are taken, and every line needing a shell to understand
// (expansions, commands, line continuations) is skipped with a warning.
// Poco has no parser for this format (its PropertyFileConfiguration treats
// quotes as part of the value and knows no `export`), hence this one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace lrm::pacemaker {

/** One assignment of a shell-variable file: `NAME=value` on line @p line (from 1). */
struct ShellVariable {
  std::string name;
  std::string value;
  std::size_t line = 0;
};

/** A line that was not understood, and so ignored: where (from 1) and why. */
struct SkippedLine {
  std::size_t line = 0;
  std::string reason;
};

/** What a shell-variable file assigns, in file order, and which lines were skipped. */
struct ShellVariables {
  std::vector<ShellVariable> variables;
  std::vector<SkippedLine> skipped;

  /** The last assignment of @p name (a shell keeps the last one), or nullptr. */
  const ShellVariable* find(std::string_view name) const;
};

/**
 * Parses @p text as a file of shell variable assignments. Understood per line:
 * blank lines; `#` comments (a `#` starts one only at the start of a word);
 * `NAME=value` with an optional `export ` before it and an optional comment
 * after it, where the value is made of unquoted text (`\` escapes the next
 * character), `'single-quoted'` text (literal) and `"double-quoted"` text
 * (`\` escapes only `$`, `` ` ``, `"` and `\`), in any sequence. Refused, with
 * a warning naming the line: `$` and `` ` `` outside single quotes (an
 * expansion), unquoted `;&|<>()` (a command), a quote not closed on its line,
 * a trailing `\` (continuation), anything after the value but a comment (a
 * command run with the variable set), and any other line.
 */
ShellVariables parseShellVariables(std::string_view text);

}  // namespace lrm::pacemaker
