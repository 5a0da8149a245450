#include "files/thumbnailer.hpp"

#include <vips/vips.h>

#include <mutex>
#include <stdexcept>

#include "core/logging.hpp"

namespace parley::files {

namespace {

void init_vips() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (vips_init("parley") != 0) throw std::runtime_error("libvips failed to initialise");
    vips_cache_set_max(0);    // no operation cache: every thumbnail is made once, then stored
    vips_concurrency_set(1);  // the blocking pool is the parallelism
  });
}

Error unprocessable(const std::string& why) {
  vips_error_clear();
  return make_error(Errc::unprocessable, why);
}

struct Unref {
  void operator()(VipsImage* image) const {
    if (image) g_object_unref(image);
  }
};

}  // namespace

bool thumbnail_supported(std::string_view mime) {
  return mime == "image/png" || mime == "image/jpeg" || mime == "image/gif" || mime == "image/webp";
}

Result<std::string> make_thumbnail(std::string_view image, const ThumbnailLimits& limits) {
  init_vips();
  if (image.size() > limits.max_input_bytes) {
    return unprocessable("the image is over " + std::to_string(limits.max_input_bytes) +
                         " bytes, too large for a thumbnail");
  }
  // The header only (libvips decodes lazily): its dimensions decide before any pixel is read.
  std::unique_ptr<VipsImage, Unref> header(
      vips_image_new_from_buffer(image.data(), image.size(), "", "access", VIPS_ACCESS_SEQUENTIAL,
                                 nullptr));
  if (!header) return unprocessable("the image cannot be decoded");
  const auto width = static_cast<std::uint64_t>(vips_image_get_width(header.get()));
  const auto height = static_cast<std::uint64_t>(vips_image_get_height(header.get()));
  if (width * height > limits.max_pixels) {
    return unprocessable("the image is " + std::to_string(width) + "x" + std::to_string(height) +
                         " pixels, over the thumbnail limit of " +
                         std::to_string(limits.max_pixels));
  }
  header.reset();
  VipsImage* raw = nullptr;
  // libvips takes a non-const buffer but only reads it.
  if (vips_thumbnail_buffer(const_cast<char*>(image.data()), image.size(), &raw, limits.max_side,
                            "height", limits.max_side, "size", VIPS_SIZE_DOWN, "fail_on",
                            VIPS_FAIL_ON_ERROR, nullptr) != 0) {
    return unprocessable("the image cannot be decoded");
  }
  std::unique_ptr<VipsImage, Unref> thumb(raw);
  void* out = nullptr;
  std::size_t out_len = 0;
  // JPEG has no alpha: flatten onto white first.
  VipsImage* flat = nullptr;
  VipsImage* source = thumb.get();
  std::unique_ptr<VipsImage, Unref> flattened;
  if (vips_image_hasalpha(source)) {
    VipsArrayDouble* white = vips_array_double_newv(3, 255.0, 255.0, 255.0);
    const int rc = vips_flatten(source, &flat, "background", white, nullptr);
    vips_area_unref(reinterpret_cast<VipsArea*>(white));
    if (rc != 0) return unprocessable("the image cannot be converted");
    flattened.reset(flat);
    source = flat;
  }
  if (vips_jpegsave_buffer(source, &out, &out_len, "Q", 80, "strip", TRUE, nullptr) != 0) {
    return unprocessable("the thumbnail cannot be encoded");
  }
  std::string jpeg(static_cast<const char*>(out), out_len);
  g_free(out);
  return jpeg;
}

}  // namespace parley::files
