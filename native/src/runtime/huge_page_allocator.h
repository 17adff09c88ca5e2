// A std::allocator for the model's weight matrices: blocks of 2 MiB or more are 2 MiB-aligned and
// marked MADV_HUGEPAGE, so the kernel backs them with transparent huge pages where it allows them
// ("madvise" mode, the usual default, gives huge pages only to memory that asks).
//
// Why: decode streams every weight once per token. With 4 KiB pages a 440 MB f32 model is ~110 000
// pages, each one a TLB miss and (in a VM) a two-level page walk; with 2 MiB pages it is ~220. On the
// 2-core EPYC VM this project is measured on, a one-thread f32 GEMV over 440 MB streamed 15.5-17.6
// GB/s from 4 KiB pages and 17.2-19.4 GB/s from huge pages (same process, alternating, 6 rounds).
// Where huge pages are off, or on other systems, this is an aligned allocation and nothing more.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pillow {

inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

inline void* allocate_weight_bytes(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  if (bytes < kHugePageBytes) {
    void* p = ::operator new(bytes, std::align_val_t{64});
    return p;
  }
  const std::size_t rounded = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  void* p = std::aligned_alloc(kHugePageBytes, rounded);
  if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure (THP disabled) leaves 4 KiB pages
#endif
  return p;
}

inline void free_weight_bytes(void* p, std::size_t bytes) {
  if (p == nullptr) return;
  if (bytes < kHugePageBytes) {
    ::operator delete(p, std::align_val_t{64});
  } else {
    std::free(p);
  }
}

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() noexcept = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_weight_bytes(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { free_weight_bytes(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const HugePageAllocator<U>&) const noexcept { return false; }
};

}  // namespace pillow
