// loadRemoteConfig: lrm-remoted's settings from each source (command line,
// environment, /etc/default/pacemaker, defaults) in that precedence, the
// Debian file's quoting, and a precise error for every bad value or file.
// Every test brings its own environment, defaults file and keys.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>

#include "remote_config.hpp"
#include "temp_dir.hpp"

namespace lrm::pacemaker {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// A key as Pacemaker's docs make it (dd of 4096 random bytes), NULs included.
std::string makeKey(char seed) {
  std::string key(4096, '\0');
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<char>((i * 131 + seed) % 256);
  return key;
}

class RemoteConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.pacemaker_defaults_file = path("default-pacemaker");
    host_.authkey_file = write("authkey", key_);
    host_.legacy_authkey_file = path("corosync-authkey");
    host_.socket_path = "/run/lrm/lrmd.sock";
  }

  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }

  std::string write(const std::string& name, const std::string& content) {
    std::ofstream(path(name), std::ios::binary) << content;
    return path(name);
  }

  LoadedRemoteConfig load(const std::vector<std::string>& args = {}) { return loadRemoteConfig(args, env_, host_); }

  // Loads, expecting it to succeed.
  RemoteConfig config(const std::vector<std::string>& args = {}) {
    const LoadedRemoteConfig loaded = load(args);
    EXPECT_THAT(loaded.errors, IsEmpty());
    EXPECT_EQ(loaded.action, RemoteAction::Run);
    return loaded.config;
  }

  // Loads, expecting exactly one error, and returns it.
  std::string error(const std::vector<std::string>& args = {}) {
    const LoadedRemoteConfig loaded = load(args);
    EXPECT_THAT(loaded.errors, SizeIs(1));
    return loaded.errors.empty() ? std::string() : loaded.errors.front();
  }

  test::TempDir dir_;
  std::string key_ = makeKey(1);
  Environment env_;
  HostDefaults host_;
};

TEST_F(RemoteConfigTest, DefaultsWithNothingConfigured) {
  const LoadedRemoteConfig loaded = load();
  EXPECT_THAT(loaded.errors, IsEmpty());
  EXPECT_THAT(loaded.warnings, IsEmpty());
  const RemoteConfig& c = loaded.config;
  EXPECT_EQ(c.port, 3121);
  EXPECT_EQ(c.address, "");
  EXPECT_EQ(c.tls_priorities, "NORMAL");
  EXPECT_EQ(c.authkey_path, host_.authkey_file);
  EXPECT_EQ(c.authkey, key_);
  EXPECT_FALSE(c.x509.has_value());
  EXPECT_EQ(c.socket_path, "/run/lrm/lrmd.sock");
  EXPECT_EQ(c.log_level, sdk::LogLevel::Info);
  EXPECT_EQ(c.log_target, "syslog");
  EXPECT_FALSE(c.foreground);
}

// One PCMK_* setting with a distinct value for each source, to see which one wins.
struct SourceCase {
  const char* option;
  const char* variable;
  std::string from_file, from_env, from_flag;
  std::function<std::string(const RemoteConfig&)> get;
  std::string by_default;
};

TEST_F(RemoteConfigTest, EachPcmkVariableFromEachSourceFlagOverEnvironmentOverFileOverDefault) {
  const std::string key_a = write("key-a", makeKey(2));
  const std::string key_b = write("key-b", makeKey(3));
  const std::string key_c = write("key-c", makeKey(4));
  const std::vector<SourceCase> cases = {
      {"port", "PCMK_remote_port", "3122", "3123", "3124", [](const RemoteConfig& c) { return std::to_string(c.port); },
       "3121"},
      {"address", "PCMK_remote_address", "192.0.2.1", "2001:db8::1", "node-1.example.com",
       [](const RemoteConfig& c) { return c.address; }, ""},
      {"authkey", "PCMK_authkey_location", key_a, key_b, key_c, [](const RemoteConfig& c) { return c.authkey_path; },
       host_.authkey_file},
      {"tls-priorities", "PCMK_tls_priorities", "SECURE128", "SECURE192", "SECURE256:-VERS-TLS1.2",
       [](const RemoteConfig& c) { return c.tls_priorities; }, "NORMAL"},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE(test.variable);
    env_.clear();
    write("default-pacemaker", "");
    EXPECT_EQ(test.get(config()), test.by_default);
    write("default-pacemaker", std::string("export ") + test.variable + "='" + test.from_file + "'\n");
    EXPECT_EQ(test.get(config()), test.from_file);
    env_[test.variable] = test.from_env;
    EXPECT_EQ(test.get(config()), test.from_env);
    EXPECT_EQ(test.get(config({std::string("--") + test.option, test.from_flag})), test.from_flag);
    EXPECT_EQ(test.get(config({std::string("--") + test.option + "=" + test.from_flag})), test.from_flag);
  }
  // The key read is the one at the path that won.
  EXPECT_EQ(config({"--authkey", key_c}).authkey, makeKey(4));
}

TEST_F(RemoteConfigTest, EachX509FileFromEachSource) {
  const std::vector<std::pair<const char*, const char*>> files = {{"ca-file", "PCMK_ca_file"},
                                                                  {"cert-file", "PCMK_cert_file"},
                                                                  {"key-file", "PCMK_key_file"},
                                                                  {"crl-file", "PCMK_crl_file"}};
  std::string file_text;
  for (const auto& [option, variable] : files) {
    file_text += std::string(variable) + "=\"" + write(std::string("file-") + option, "PEM") + "\"\n";
    write(std::string("env-") + option, "PEM");
    write(std::string("flag-") + option, "PEM");
  }
  write("default-pacemaker", file_text);
  const auto pick = [](const X509Files& x509, const std::string& option) {
    return option == "ca-file"     ? x509.ca_file
           : option == "cert-file" ? x509.cert_file
           : option == "key-file"  ? x509.key_file
                                   : x509.crl_file;
  };
  for (const auto& [option, variable] : files) {
    SCOPED_TRACE(option);
    env_.clear();
    RemoteConfig c = config();
    ASSERT_TRUE(c.x509.has_value());
    EXPECT_EQ(pick(*c.x509, option), path(std::string("file-") + option));
    EXPECT_TRUE(c.authkey.empty()) << "X.509 mode reads no PSK key";
    env_[variable] = path(std::string("env-") + option);
    c = config();
    EXPECT_EQ(pick(*c.x509, option), path(std::string("env-") + option));
    c = config({std::string("--") + option, path(std::string("flag-") + option)});
    EXPECT_EQ(pick(*c.x509, option), path(std::string("flag-") + option));
  }
}

TEST_F(RemoteConfigTest, DefaultsFileQuotingFormsAndComments) {
  write("default-pacemaker",
        "# Debian: settings for pacemaker and pacemaker-remoted\n"
        "\n"
        "PCMK_remote_port=3200   # a comment after the value\n"
        "export PCMK_remote_address=\"::1\"\n"
        "  PCMK_tls_priorities='NORMAL:-VERS-TLS1.3:%SERVER_PRECEDENCE'\n"
        "PCMK_authkey_location=" +
            path("my\\ key") +
            "\n"
            "PCMK_logfile=/var/log/pacemaker/pacemaker.log\n");
  write("my key", key_);
  const LoadedRemoteConfig loaded = load();
  EXPECT_THAT(loaded.errors, IsEmpty());
  EXPECT_THAT(loaded.warnings, IsEmpty()) << "other PCMK_* settings of the file are not lrm's business";
  EXPECT_EQ(loaded.config.port, 3200);
  EXPECT_EQ(loaded.config.address, "::1");
  EXPECT_EQ(loaded.config.tls_priorities, "NORMAL:-VERS-TLS1.3:%SERVER_PRECEDENCE");
  EXPECT_EQ(loaded.config.authkey_path, path("my key"));
}

TEST_F(RemoteConfigTest, MalformedDefaultsLineIsAWarningWithItsLineNumberAndNothingElseIsLost) {
  write("default-pacemaker",
        "PCMK_remote_port=3300\n"
        "PCMK_remote_address=$(hostname)\n"
        "PCMK_tls_priorities=SECURE256\n");
  const LoadedRemoteConfig loaded = load();
  EXPECT_THAT(loaded.errors, IsEmpty());
  EXPECT_THAT(loaded.warnings, ElementsAre(AllOf(HasSubstr("ignoring line 2 of '" + host_.pacemaker_defaults_file),
                                                 HasSubstr("'$' is an expansion"))));
  EXPECT_EQ(loaded.config.port, 3300);
  EXPECT_EQ(loaded.config.address, "");
  EXPECT_EQ(loaded.config.tls_priorities, "SECURE256");
}

TEST_F(RemoteConfigTest, DefaultsFileFromTheFlagMustExistTheDefaultOneNeedNot) {
  EXPECT_THAT(load().errors, IsEmpty()) << "no /etc/default/pacemaker is fine";
  write("other-defaults", "PCMK_remote_port=3400\n");
  EXPECT_EQ(config({"--pacemaker-defaults", path("other-defaults")}).port, 3400);
  EXPECT_EQ(error({"--pacemaker-defaults", path("absent")}), "unable to read the defaults file '" + path("absent") +
                                                                 "' (--pacemaker-defaults): No such file or directory");
  // A FIFO would block a plain open(): refused without hanging.
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  EXPECT_THAT(error({"--pacemaker-defaults", path("fifo")}), HasSubstr("not a regular file"));
  write("default-pacemaker", "");
  EXPECT_THAT(load().errors, IsEmpty()) << "an empty file has no settings";
  // The default file exists but cannot be read: an error, not silently no settings.
  host_.pacemaker_defaults_file = dir_.str();
  EXPECT_EQ(error(), "unable to read the defaults file '" + dir_.str() + "' (the default): not a regular file");
}

TEST_F(RemoteConfigTest, EmptyValueCountsAsUnset) {
  write("default-pacemaker", "PCMK_remote_port=3500\n");
  env_["PCMK_remote_port"] = "";
  EXPECT_EQ(config().port, 3500);
  EXPECT_EQ(config({"--port="}).port, 3500);
}

TEST_F(RemoteConfigTest, PortIsStrictlyANumberFrom1To65535) {
  EXPECT_EQ(config({"--port", "1"}).port, 1);
  EXPECT_EQ(config({"--port", "65535"}).port, 65535);
  for (const char* bad :
       {"0", "65536", "99999999999999999999", "-1", "+3121", " 3121", "3121 ", "3121x", "0x10", "3.5"}) {
    EXPECT_EQ(error({"--port", bad}),
              std::string("unable to use port '") + bad + "' (--port): not a number from 1 to 65535");
  }
  env_["PCMK_remote_port"] = "70000";
  EXPECT_EQ(error(), "unable to use port '70000' (PCMK_remote_port in the environment): not a number from 1 to 65535");
  env_.clear();
  write("default-pacemaker", "\nPCMK_remote_port=abc\n");
  EXPECT_EQ(error(), "unable to use port 'abc' (PCMK_remote_port at " + host_.pacemaker_defaults_file +
                         " line 2): not a number from 1 to 65535");
}

TEST_F(RemoteConfigTest, AddressIsAnIpLiteralOrAHostName) {
  for (const char* good : {"0.0.0.0", "192.0.2.7", "::", "::1", "2001:db8::7", "::ffff:192.0.2.7", "fe80::1%eth0",
                           "localhost", "node-1.example.com", "node-1.example.com.", "1node"}) {
    EXPECT_EQ(config({"--address", good}).address, good);
  }
  EXPECT_EQ(error({"--address", "999.1.1.1"}),
            "unable to use address '999.1.1.1' (--address): not an IPv4 address, IPv6 address or host name");
  EXPECT_THAT(error({"--address", "192.0.2"}), HasSubstr("not an IPv4 address"));
  EXPECT_THAT(error({"--address", "[::1]"}), HasSubstr("without brackets"));
  EXPECT_THAT(error({"--address", "fe80::1%"}), HasSubstr("zone after '%' is empty"));
  EXPECT_THAT(error({"--address", "under_score.example"}), HasSubstr("not an IPv4"));
  EXPECT_THAT(error({"--address", "-lead.example"}), HasSubstr("not an IPv4"));
  EXPECT_THAT(error({"--address", "a..b"}), HasSubstr("not an IPv4"));
  EXPECT_THAT(error({"--address", std::string(64, 'a') + ".example"}), HasSubstr("not an IPv4"));
}

// As in Pacemaker, X.509 needs all three files; a partial set leaves PSK in
// force, with a warning naming what is set and what is missing.
TEST_F(RemoteConfigTest, X509PartialConfigurationWarnsAndStaysWithThePsk) {
  const std::string pem = write("pem", "PEM");
  env_["PCMK_authkey_location"] = write("key", "secret");
  env_["PCMK_ca_file"] = pem;
  LoadedRemoteConfig loaded = load();
  EXPECT_THAT(loaded.errors, ElementsAre());
  EXPECT_FALSE(loaded.config.x509);
  EXPECT_EQ(loaded.config.authkey, "secret");
  EXPECT_THAT(loaded.warnings,
              ElementsAre("not using X.509 mode: PCMK_ca_file (--ca-file) is set but PCMK_cert_file (--cert-file) "
                          "and PCMK_key_file (--key-file) are not; using the PSK key file (set the CA, certificate "
                          "and key files for X.509)"));
  loaded = load({"--key-file", pem});
  EXPECT_THAT(loaded.warnings, ElementsAre(HasSubstr("PCMK_ca_file (--ca-file) and PCMK_key_file (--key-file) are "
                                                     "set but PCMK_cert_file (--cert-file) is not")));
  env_.erase("PCMK_ca_file");
  write("default-pacemaker", "PCMK_crl_file=" + pem + "\n");
  loaded = load();
  EXPECT_THAT(loaded.warnings, ElementsAre(HasSubstr("PCMK_crl_file (--crl-file) is set but PCMK_ca_file (--ca-file), "
                                                     "PCMK_cert_file (--cert-file) and PCMK_key_file (--key-file) "
                                                     "are not")));
}

TEST_F(RemoteConfigTest, X509FilesMustBeReadable) {
  const std::string pem = write("pem", "PEM");
  write("empty", "");
  const LoadedRemoteConfig loaded =
      load({"--ca-file", path("absent"), "--cert-file", path("empty"), "--key-file", dir_.str(), "--crl-file", pem});
  EXPECT_THAT(loaded.errors,
              ElementsAre("unable to read CA file '" + path("absent") + "' (--ca-file): No such file or directory",
                          "unable to read certificate file '" + path("empty") + "' (--cert-file): the file is empty",
                          "unable to read private key file '" + dir_.str() + "' (--key-file): not a regular file"));
}

TEST_F(RemoteConfigTest, AuthKeyIsIgnoredWithAWarningInX509Mode) {
  const std::string pem = write("pem", "PEM");
  env_["PCMK_authkey_location"] = path("absent");
  const LoadedRemoteConfig loaded = load({"--ca-file", pem, "--cert-file", pem, "--key-file", pem});
  EXPECT_THAT(loaded.errors, IsEmpty());
  EXPECT_THAT(loaded.warnings, ElementsAre(HasSubstr("ignoring the PSK key file '" + path("absent") +
                                                     "' (PCMK_authkey_location in the environment)")));
}

TEST_F(RemoteConfigTest, UnreadableKeyIsAnErrorWithThePathAndErrnoText) {
  write("empty-key", "");
  write("huge-key", std::string(kMaxAuthKeyBytes + 1, 'k'));
  write("largest-key", std::string(kMaxAuthKeyBytes, 'k'));
  EXPECT_EQ(error({"--authkey", path("absent")}),
            "unable to read key file '" + path("absent") + "' (--authkey): No such file or directory");
  EXPECT_EQ(error({"--authkey", path("empty-key") + "/sub"}),
            "unable to read key file '" + path("empty-key") + "/sub' (--authkey): Not a directory");
  EXPECT_EQ(error({"--authkey", path("empty-key")}),
            "unable to read key file '" + path("empty-key") + "' (--authkey): the file is empty");
  EXPECT_EQ(error({"--authkey", dir_.str()}),
            "unable to read key file '" + dir_.str() + "' (--authkey): not a regular file");
  EXPECT_EQ(error({"--authkey", "/dev/zero"}), "unable to read key file '/dev/zero' (--authkey): not a regular file");
  EXPECT_EQ(error({"--authkey", path("huge-key")}),
            "unable to read key file '" + path("huge-key") + "' (--authkey): larger than 65535 bytes");
  EXPECT_EQ(config({"--authkey", path("largest-key")}).authkey.size(), kMaxAuthKeyBytes);
}

TEST_F(RemoteConfigTest, UnreadableKeyPermissionIsReportedWithErrnoText) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads a mode 000 file";
  const std::string locked = write("locked-key", key_);
  ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
  EXPECT_EQ(error({"--authkey", locked}), "unable to read key file '" + locked + "' (--authkey): Permission denied");
}

// Pacemaker 2.1 read /etc/corosync/authkey when /etc/pacemaker/authkey did
// not exist; 3.0 does not. lrm keeps the fallback for the default location
// only, with a warning, so a node moved from Debian 12's pacemaker-remoted
// starts unchanged; a key that was configured is never replaced.
TEST_F(RemoteConfigTest, LegacyCorosyncKeyIsUsedWithAWarningOnlyWhenTheDefaultKeyDoesNotExist) {
  const std::string legacy = write("corosync-authkey", makeKey(9));
  ASSERT_EQ(::unlink(host_.authkey_file.c_str()), 0);
  const LoadedRemoteConfig loaded = load();
  EXPECT_THAT(loaded.errors, IsEmpty());
  EXPECT_EQ(loaded.config.authkey_path, legacy);
  EXPECT_EQ(loaded.config.authkey, makeKey(9));
  EXPECT_THAT(loaded.warnings, ElementsAre(AllOf(HasSubstr("using the key file '" + legacy + "' because '" +
                                                           host_.authkey_file + "' does not exist"),
                                                 HasSubstr("Pacemaker 3.0 removed"))));

  // Configured, even at the default path: no fallback.
  EXPECT_EQ(error({"--authkey", host_.authkey_file}),
            "unable to read key file '" + host_.authkey_file + "' (--authkey): No such file or directory");
  // The default exists but cannot be used: no fallback either (it would hide the problem).
  write("authkey", "");
  EXPECT_EQ(error(), "unable to read key file '" + host_.authkey_file + "' (the default): the file is empty");
}

TEST_F(RemoteConfigTest, NoKeyAnywhereNamesBothPlaces) {
  ASSERT_EQ(::unlink(host_.authkey_file.c_str()), 0);
  EXPECT_EQ(error(), "unable to read key file '" + host_.authkey_file +
                         "' (the default): No such file or directory; nor '" + host_.legacy_authkey_file +
                         "' (Pacemaker 2.1's fallback): No such file or directory");
}

TEST_F(RemoteConfigTest, SocketFromFlagThenLrmSocketThenLrmctlsDefault) {
  EXPECT_EQ(config().socket_path, "/run/lrm/lrmd.sock");
  env_["LRM_SOCKET"] = "/tmp/env.sock";
  EXPECT_EQ(config().socket_path, "/tmp/env.sock");
  EXPECT_EQ(config({"--socket", "/tmp/flag.sock"}).socket_path, "/tmp/flag.sock");
  write("default-pacemaker", "LRM_SOCKET=/tmp/file.sock\n");
  env_.clear();
  EXPECT_EQ(config().socket_path, "/run/lrm/lrmd.sock") << "the Pacemaker file holds no lrm settings";
  const std::string long_path = "/" + std::string(200, 's');
  EXPECT_EQ(error({"--socket", long_path}),
            "unable to use lrmd's socket '" + long_path + "' (--socket): longer than 107 bytes");
}

TEST_F(RemoteConfigTest, NoSocketAnywhereIsAnError) {
  host_.socket_path.clear();
  EXPECT_EQ(error(), "unable to find lrmd's socket: no --socket, no LRM_SOCKET and no default");
}

TEST_F(RemoteConfigTest, LoggingAsLrmds) {
  RemoteConfig c = config({"--foreground"});
  EXPECT_TRUE(c.foreground);
  EXPECT_EQ(c.log_target, "stderr");
  c = config({"--log-level", "debug", "--log-target", "/var/log/lrm-remoted.log"});
  EXPECT_EQ(c.log_level, sdk::LogLevel::Debug);
  EXPECT_EQ(c.log_target, "/var/log/lrm-remoted.log");
  EXPECT_EQ(error({"--log-level", "loud"}),
            "unable to use log level 'loud' (--log-level): not one of error, warning, notice, info, debug, trace");
  EXPECT_EQ(error({"--log-target", "relative.log"}),
            "unable to use log target 'relative.log' (--log-target): not stderr, syslog or an absolute file path");
}

TEST_F(RemoteConfigTest, EveryErrorIsReportedAtOnce) {
  const LoadedRemoteConfig loaded = load({"--port", "0", "--address", "[::1]", "--log-level", "x"});
  EXPECT_THAT(loaded.errors, SizeIs(3));
}

TEST_F(RemoteConfigTest, HelpAndVersion) {
  LoadedRemoteConfig loaded = load({"--help"});
  EXPECT_EQ(loaded.action, RemoteAction::ShowHelp);
  EXPECT_THAT(loaded.errors, IsEmpty());
  for (const char* text :
       {"--port", "[$PCMK_remote_port]", "--address", "--authkey", "[$PCMK_authkey_location]", "--tls-priorities",
        "--ca-file", "--cert-file", "--key-file", "--crl-file", "[$PCMK_crl_file]", "--socket", "[$LRM_SOCKET]",
        "--pacemaker-defaults", "--log-level", "--log-target", "--foreground", "--version"}) {
    EXPECT_THAT(loaded.text, HasSubstr(text));
  }
  loaded = load({"--version"});
  EXPECT_EQ(loaded.action, RemoteAction::ShowVersion);
  EXPECT_THAT(loaded.text, HasSubstr("lrm-remoted "));
  // Neither reads anything: a broken host does not hide the help.
  ASSERT_EQ(::unlink(host_.authkey_file.c_str()), 0);
  EXPECT_THAT(load({"--help"}).errors, IsEmpty());
}

TEST(RemoteCommandLineTest, UsageErrorsAreReported) {
  EXPECT_THAT(parseRemoteCommandLine({"--bogus"}).error, HasSubstr("bogus"));
  EXPECT_THAT(parseRemoteCommandLine({"--port"}).error, HasSubstr("port"));
  EXPECT_THAT(parseRemoteCommandLine({"--port", "1", "--port", "2"}).error, HasSubstr("port"));
  EXPECT_THAT(parseRemoteCommandLine({"stray"}).error, "unexpected argument 'stray'");
  EXPECT_THAT(parseRemoteCommandLine({"--foreground=yes"}).error, HasSubstr("foreground"));
  EXPECT_THAT(parseRemoteCommandLine({"--p", "1"}).error, HasSubstr("p")) << "ambiguous: --port, --pacemaker-defaults";
}

TEST(RemoteCommandLineTest, ValuesSwitchesAndPrefixes) {
  const RemoteCommandLine parsed =
      parseRemoteCommandLine({"--port=3121", "--address", "::1", "--foreground", "--tls", "NORMAL"});
  EXPECT_EQ(parsed.error, "");
  EXPECT_EQ(parsed.action, RemoteAction::Run);
  EXPECT_EQ(parsed.options.at("port"), "3121");
  EXPECT_EQ(parsed.options.at("address"), "::1");
  EXPECT_EQ(parsed.options.at("foreground"), "true");
  EXPECT_EQ(parsed.options.at("tls-priorities"), "NORMAL");
}

TEST_F(RemoteConfigTest, CommandLineErrorIsOneUsageError) {
  EXPECT_THAT(error({"--bogus"}), AllOf(HasSubstr("unable to parse the command line: "), HasSubstr("see --help")));
}

}  // namespace
}  // namespace lrm::pacemaker
