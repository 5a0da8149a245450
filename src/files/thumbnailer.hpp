#pragma once
// Thumbnails of uploaded images (GET /files/{id}?thumb=1): a JPEG whose longest side is at most
// max_side pixels, made with libvips, which decodes only as much as the size needs (JPEG and WebP
// shrink while loading; PNG and GIF stream row by row). The image's header is read first, so a
// file that claims more than max_pixels (a decompression bomb) is refused before any decoding.
//
// Threads: any (blocking, CPU-bound: the blocking pool). libvips is initialised once, with its
// operation cache off and one worker per call, as a server wants.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace parley::files {

struct ThumbnailLimits {
  int max_side = 320;                          // --thumbnail-max-side
  std::uint64_t max_pixels = 50'000'000;       // --thumbnail-max-pixels (width × height)
  std::uint64_t max_input_bytes = 64ull << 20;  // larger images are not read whole for one
};

// Whether thumbnails are made for files of this type: PNG, JPEG, GIF, WebP.
bool thumbnail_supported(std::string_view mime);

// The thumbnail's JPEG bytes. Errc::unprocessable for an image over the limits or that does not
// decode.
Result<std::string> make_thumbnail(std::string_view image, const ThumbnailLimits& limits);

}  // namespace parley::files
