// parseShellVariables: every form of assignment a Debian defaults file uses is
// read as a shell would read it, and every line that would need a shell is
// skipped with its line number, never executed or guessed at.
#include "shell_variables.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lrm::pacemaker {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The value @p line assigns to A, failing the test when it is skipped.
std::string valueOf(const std::string& line) {
  const ShellVariables parsed = parseShellVariables(line);
  EXPECT_THAT(parsed.skipped, IsEmpty()) << line << ": " << parsed.skipped.front().reason;
  const ShellVariable* variable = parsed.find("A");
  EXPECT_NE(variable, nullptr) << line;
  return variable ? variable->value : "<none>";
}

// Why @p text's only line is skipped, failing the test when it is not.
std::string whySkipped(const std::string& text) {
  const ShellVariables parsed = parseShellVariables(text);
  EXPECT_THAT(parsed.variables, IsEmpty()) << text;
  if (parsed.skipped.size() != 1) {
    ADD_FAILURE() << text << ": " << parsed.skipped.size() << " lines skipped";
    return {};
  }
  EXPECT_EQ(parsed.skipped.front().line, 1u);
  return parsed.skipped.front().reason;
}

TEST(ShellVariablesTest, ReadsEveryQuotingForm) {
  EXPECT_EQ(valueOf("A=plain"), "plain");
  EXPECT_EQ(valueOf("A='single quoted # not a comment $HOME'"), "single quoted # not a comment $HOME");
  EXPECT_EQ(valueOf("A=\"double quoted\""), "double quoted");
  EXPECT_EQ(valueOf(R"(A="escapes \" \\ \$ \` kept \n")"), R"(escapes " \ $ ` kept \n)");
  EXPECT_EQ(valueOf(R"(A=back\ slash\'d)"), "back slash'd");
  EXPECT_EQ(valueOf(R"(A=mixed'single'"double"plain)"), "mixedsingledoubleplain");
  EXPECT_EQ(valueOf("A=''"), "");
  EXPECT_EQ(valueOf("A="), "");
  EXPECT_EQ(valueOf("A=x#y"), "x#y");  // # starts a comment only at the start of a word
  EXPECT_EQ(valueOf("A=a~b:c"), "a~b:c");
  EXPECT_EQ(valueOf("A='~/key'"), "~/key");
  EXPECT_EQ(valueOf("A=*.key"), "*.key");  // no pathname expansion in assignments
}

TEST(ShellVariablesTest, ReadsExportBlanksAndComments) {
  EXPECT_EQ(valueOf("export A=1"), "1");
  EXPECT_EQ(valueOf("  \texport\t A=2   # the port"), "2");
  EXPECT_EQ(valueOf("A=3#not-a-comment"), "3#not-a-comment");
  EXPECT_THAT(whySkipped("A=3# a command"), HasSubstr("would run as a command"));
  EXPECT_EQ(valueOf("A=4 #"), "4");
}

TEST(ShellVariablesTest, KeepsLineNumbersAndTheLastAssignment) {
  const ShellVariables parsed = parseShellVariables(
      "# Debian's file is mostly comments\n"
      "\n"
      "   \n"
      "PCMK_remote_port=3121\n"
      "#PCMK_remote_address=::1\n"
      "export PCMK_authkey_location\n"
      "PCMK_remote_port=3122");
  EXPECT_THAT(parsed.skipped, IsEmpty());
  ASSERT_EQ(parsed.variables.size(), 2u);
  EXPECT_EQ(parsed.variables[0].line, 4u);
  const ShellVariable* port = parsed.find("PCMK_remote_port");
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->value, "3122");
  EXPECT_EQ(port->line, 7u);
  EXPECT_EQ(parsed.find("PCMK_remote_address"), nullptr);
  EXPECT_EQ(parsed.find("PCMK_authkey_location"), nullptr);
}

TEST(ShellVariablesTest, SkipsWhatNeedsAShellNamingTheReason) {
  EXPECT_THAT(whySkipped("A=$HOME/key"), HasSubstr("'$' is an expansion"));
  EXPECT_THAT(whySkipped("A=\"$HOME/key\""), HasSubstr("'$' in double quotes"));
  EXPECT_THAT(whySkipped("A=`cat /etc/key`"), HasSubstr("'`' is an expansion"));
  EXPECT_THAT(whySkipped("A=~/key"), HasSubstr("'~'"));
  EXPECT_THAT(whySkipped("A=/a:~/key"), HasSubstr("'~'"));
  EXPECT_THAT(whySkipped("A=1; rm -rf /"), HasSubstr("unquoted ';' makes it a command"));
  EXPECT_THAT(whySkipped("A=1|cat"), HasSubstr("unquoted '|'"));
  EXPECT_THAT(whySkipped("A=(1 2)"), HasSubstr("unquoted '('"));
  EXPECT_THAT(whySkipped("A=1 touch /tmp/x"), HasSubstr("would run as a command"));
  EXPECT_THAT(whySkipped("A='open"), HasSubstr("single quote is not closed"));
  EXPECT_THAT(whySkipped("A=\"open"), HasSubstr("double quote is not closed"));
  EXPECT_THAT(whySkipped("A=line\\"), HasSubstr("line continuation"));
  EXPECT_THAT(whySkipped("A = 1"), HasSubstr("not a NAME=value assignment"));
  EXPECT_THAT(whySkipped("1A=1"), HasSubstr("not a NAME=value assignment"));
  EXPECT_THAT(whySkipped("source /etc/other"), HasSubstr("not a NAME=value assignment"));
  EXPECT_THAT(whySkipped("exportA"), HasSubstr("not a NAME=value assignment"));
  EXPECT_THAT(whySkipped(std::string("A=x\0y", 5)), HasSubstr("NUL"));
}

TEST(ShellVariablesTest, AMalformedLineLosesNothingElse) {
  const ShellVariables parsed = parseShellVariables("A=1\nB=$(id)\nC='3'\n");
  ASSERT_EQ(parsed.skipped.size(), 1u);
  EXPECT_EQ(parsed.skipped.front().line, 2u);
  ASSERT_NE(parsed.find("A"), nullptr);
  ASSERT_NE(parsed.find("C"), nullptr);
  EXPECT_EQ(parsed.find("C")->value, "3");
  EXPECT_EQ(parsed.find("B"), nullptr);
}

}  // namespace
}  // namespace lrm::pacemaker
