#pragma once
// Command-line parsing for the parley binary (CLI11): `parley serve [options]`,
// `parley keys status|rotate [options]`, `parley version`.
#include <optional>
#include <string>

#include "core/config.hpp"

namespace parley::app {

enum class Command { serve, keys_status, keys_rotate, version };

struct Invocation {
  Command command = Command::serve;
  Config config;
};

// Parses argv. On --help or a usage error prints to stdout/stderr and returns the exit code in
// `exit_code` (then the caller exits with it).
std::optional<Invocation> parse_command_line(int argc, char** argv, int& exit_code);

}  // namespace parley::app
