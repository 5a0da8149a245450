#pragma once
// The composition root: builds one Parley node from a Config — store, log, bus, service,
// shards, HTTP server — runs it until SIGTERM or SIGINT, then drains and stops cleanly.
// The only place that knows every implementation.

#include "core/config.hpp"

namespace parley::app {

// Runs the node on the calling thread until a shutdown signal; returns the exit code.
// Configuration and start-up errors are logged and give exit code 2 (config) or 1 (start-up).
int run_node(const Config& config);

}  // namespace parley::app
