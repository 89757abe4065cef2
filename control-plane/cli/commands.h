// weft-control's client subcommands: apply, delete, get, validate, status, explain. Each talks
// to a running `weft-control serve` over its HTTP API (validate works offline by default).
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace weft::control::cli {

// Adds the client subcommands; when one is chosen, `run` is set to the function to run (its
// result is the exit code: 0, or 1 on any failure).
void registerClientCommands(CLI::App& app, std::function<int()>& run);

}  // namespace weft::control::cli
