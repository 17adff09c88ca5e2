// Entry point of pillow_native.node: registers every binding.
#include <napi.h>

#include "napi/bindings.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  pillow::napi::register_backend(env, exports);
  pillow::napi::register_matmul(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(pillow_native, init)
