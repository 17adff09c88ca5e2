// Device memory owned by a scope (freed also when a check throws), with the host copies the host
// entry points and the CUDA tests use to move arrays in and out.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "ops/cuda/cuda_check.h"

namespace pillow {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;  // empty: no allocation
  explicit DeviceBuffer(int64_t count) : count_(count > 0 ? count : 0) {
    if (count_ > 0) check_cuda(cudaMalloc(&data_, static_cast<size_t>(count_) * sizeof(T)), "cudaMalloc");
  }
  // A device copy of host[0, count).
  DeviceBuffer(const T* host, int64_t count) : DeviceBuffer(count) { upload(host); }
  ~DeviceBuffer() { cudaFree(data_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept : data_(other.data_), count_(other.count_) {
    other.data_ = nullptr;
    other.count_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      cudaFree(data_);
      data_ = other.data_;
      count_ = other.count_;
      other.data_ = nullptr;
      other.count_ = 0;
    }
    return *this;
  }

  T* data() const { return data_; }
  int64_t count() const { return count_; }

  void upload(const T* host) {
    if (count_ > 0) {
      check_cuda(cudaMemcpy(data_, host, static_cast<size_t>(count_) * sizeof(T), cudaMemcpyHostToDevice), "copy to device");
    }
  }
  void download(T* host) const {
    if (count_ > 0) {
      check_cuda(cudaMemcpy(host, data_, static_cast<size_t>(count_) * sizeof(T), cudaMemcpyDeviceToHost), "copy to host");
    }
  }
  // Copies host[0, count) into the first count elements (count <= this buffer's).
  void upload_prefix(const T* host, int64_t count) {
    if (count > 0) {
      check_cuda(cudaMemcpy(data_, host, static_cast<size_t>(count) * sizeof(T), cudaMemcpyHostToDevice), "copy to device");
    }
  }
  void download_prefix(T* host, int64_t count) const {
    if (count > 0) {
      check_cuda(cudaMemcpy(host, data_, static_cast<size_t>(count) * sizeof(T), cudaMemcpyDeviceToHost), "copy to host");
    }
  }
  std::vector<T> to_host() const {
    std::vector<T> host(static_cast<size_t>(count_));
    download(host.data());
    return host;
  }

 private:
  T* data_ = nullptr;
  int64_t count_ = 0;
};

}  // namespace pillow
