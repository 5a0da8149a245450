#pragma once
// What a file is, from its first bytes (libmagic), never from the client's name or header; and
// how a browser may be handed it.
// Threads: any.

#include <string>
#include <string_view>

namespace parley::files {

// The bytes read for detection: the start of the file.
constexpr std::size_t kSniffBytes = 8192;

// The MIME type of a file that begins with `head` (kSniffBytes or the whole file):
// "image/png", "text/plain", …; "application/octet-stream" when nothing matches.
std::string detect_mime(std::string_view head);

// Whether a browser may show the type inline without running anything of it: images other than
// SVG, audio, video, plain text, PDF. HTML, SVG, XML and everything unknown are served as
// attachments only (docs/protocol.md, "Files").
bool safe_inline(std::string_view mime);

}  // namespace parley::files
