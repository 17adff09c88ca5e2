// Each *_binding.cc registers its functions on the addon's exports with PILLOW_REGISTER_BINDING,
// so adding an op never means editing addon.cc.
#pragma once
#include <napi.h>

#include <vector>

namespace pillow::napi {

using RegisterFunction = void (*)(Napi::Env env, Napi::Object exports);

inline std::vector<RegisterFunction>& binding_registry() {
  static std::vector<RegisterFunction> registry;
  return registry;
}

struct BindingRegistrar {
  explicit BindingRegistrar(RegisterFunction function) { binding_registry().push_back(function); }
};

}  // namespace pillow::napi

#define PILLOW_REGISTER_BINDING(function) \
  static ::pillow::napi::BindingRegistrar pillow_binding_registrar_##function(&function)
