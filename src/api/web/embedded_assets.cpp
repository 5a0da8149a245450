#include "api/web/embedded_assets.hpp"

#ifdef PARLEY_WEB_ASSETS_INC
#include PARLEY_WEB_ASSETS_INC  // defines kEmbeddedAssets
#endif

namespace parley::api::web {

std::span<const EmbeddedAsset> embedded_assets() {
#ifdef PARLEY_WEB_ASSETS_INC
  return kEmbeddedAssets;
#else
  return {};
#endif
}

}  // namespace parley::api::web
