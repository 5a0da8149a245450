// parley: the chat server binary. Everything lives in src/; see src/app/node.cpp.
#include <cstdio>

#include "app/keys.hpp"
#include "app/node.hpp"
#include "app/options.hpp"
#include "core/allocator.hpp"
#include "core/logging.hpp"

int main(int argc, char** argv) {
  int exit_code = 0;
  auto invocation = parley::app::parse_command_line(argc, argv, exit_code);
  if (!invocation) return exit_code;
  if (invocation->command == parley::app::Command::version) {
    std::printf("parley %s (allocator: %s)\n", PARLEY_VERSION, parley::allocator_name().c_str());
    return 0;
  }
  parley::init_logging(invocation->config.log_level);
  switch (invocation->command) {
    case parley::app::Command::keys_status:
      return parley::app::run_keys_command(invocation->config, parley::app::KeysAction::status);
    case parley::app::Command::keys_rotate:
      return parley::app::run_keys_command(invocation->config, parley::app::KeysAction::rotate);
    default:
      return parley::app::run_node(invocation->config);
  }
}
