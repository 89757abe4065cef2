// JSON string escaping for the access log: one pass, no allocation beyond `out` growing.
#pragma once

#include <string>
#include <string_view>

namespace weft::observe {

// Appends `s` as a JSON string literal (with the surrounding quotes) to `out`. Quotes,
// backslashes and control characters are escaped; valid UTF-8 is copied as is; every byte that
// is not part of a valid UTF-8 sequence (stray continuation bytes, truncated sequences,
// overlong forms, surrogates, code points above U+10FFFF) becomes U+FFFD, so the line stays
// valid JSON whatever a client sent.
void appendJsonString(std::string& out, std::string_view s);

}  // namespace weft::observe
