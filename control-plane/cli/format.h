// Human-readable output of the command-line client, from the API's JSON answers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace weft::control::cli {

// Columns padded to the widest cell, separated by three spaces; the last column unpadded.
std::string formatTable(const std::vector<std::vector<std::string>>& rows);

// "created ServiceEntry default/reviews" per item of {"applied": [...]} or {"deleted": [...]}
// (`action` "deleted" for the latter).
std::string formatChanges(const nlohmann::json& items, const std::string& action = {});

// A table of resources (GET /v1/resources...): NAMESPACE NAME HOSTS SOURCE REVISION, with KIND
// first when `with_kind`.
std::string formatResources(const nlohmann::json& list, bool with_kind);

// A table of nodes (GET /v1/nodes), like istioctl proxy-status.
std::string formatStatus(const nlohmann::json& nodes);

// "1.5s", "250ms", "2m", "3h": the last-seen age.
std::string formatAge(double seconds);
// "15s", "250ms", "off" (0): a duration in milliseconds.
std::string formatMs(uint64_t ms);

// GET /v1/ca (the CA's roots and its rotation), readably: the phase and its times, then one
// line per root.
std::string formatCaStatus(const nlohmann::json& status);

// The explanation of GET /v1/explain, readably.
std::string formatExplain(const nlohmann::json& explain);

}  // namespace weft::control::cli
