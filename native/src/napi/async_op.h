// Runs a native computation on libuv's worker pool and settles a Promise with its result, so long
// calls never block the JS thread. Inputs are pinned with references until the work finishes.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "napi/arguments.h"
#include "runtime/errors.h"

namespace pillow::napi {

class AsyncOp : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  AsyncOp(Napi::Env env, Work work, Result result)
      : Napi::AsyncWorker(env, "pillow.native"), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), result_(std::move(result)) {}

  // Keeps a JS value (an input or output typed array) alive while the worker thread uses its memory.
  void pin(Napi::Value value) { pinned_.push_back(Napi::Persistent(value)); }

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      work_();
    } catch (const PillowError& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::exception& e) {
      code_ = kErrorInternal;
      SetError(e.what());
    }
  }

  void OnOK() override {
    Napi::HandleScope scope(Env());
    deferred_.Resolve(result_(Env()));
  }

  void OnError(const Napi::Error& error) override {
    Napi::HandleScope scope(Env());
    deferred_.Reject(make_error(Env(), code_.c_str(), error.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  Result result_;
  std::vector<Napi::Reference<Napi::Value>> pinned_;
  std::string code_ = kErrorInternal;
};

}  // namespace pillow::napi
