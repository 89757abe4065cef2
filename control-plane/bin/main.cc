// weft-control: the Weft control plane. Each area registers its subcommands; the chosen one
// runs after parsing.
#include <CLI/CLI.hpp>
#include <functional>

#include "cli/commands.h"
#include "serve/serve.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "dev"
#endif

int main(int argc, char** argv) {
  CLI::App app{"weft-control: the Weft control plane (registry, configuration push)"};
  app.set_version_flag("--version", std::string("weft-control ") + WEFT_VERSION);
  app.require_subcommand(1);
  std::function<int()> run;
  weft::control::registerServeCommand(app, run);
  // Client commands (apply, delete, get, validate, status, explain) register here too.
  weft::control::cli::registerClientCommands(app, run);
  CLI11_PARSE(app, argc, argv);
  return run ? run() : 0;
}
