// Reads typed values from a libFuzzer input, returning zeros once the bytes run out, so every
// input, however short, maps to one deterministic call.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace pillow_fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  template <typename T>
  T take() {
    T value{};
    const size_t n = sizeof(T) <= size_ - offset_ ? sizeof(T) : size_ - offset_;
    if (n > 0) std::memcpy(&value, data_ + offset_, n);
    offset_ += n;
    return value;
  }

  // An integer in [low, high].
  int64_t take_in_range(int64_t low, int64_t high) {
    const uint32_t raw = take<uint32_t>();
    return low + static_cast<int64_t>(raw % static_cast<uint64_t>(high - low + 1));
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

}  // namespace pillow_fuzz
