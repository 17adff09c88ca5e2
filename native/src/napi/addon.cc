// Entry point of pillow_native.node: runs every binding's registration (see bindings.h).
#include <napi.h>

#include "napi/bindings.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  for (auto register_function : pillow::napi::binding_registry()) register_function(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(pillow_native, init)
