// Each *_binding.cc registers its functions on the addon's exports.
#pragma once
#include <napi.h>

namespace pillow::napi {

void register_backend(Napi::Env env, Napi::Object exports);
void register_matmul(Napi::Env env, Napi::Object exports);

}  // namespace pillow::napi
