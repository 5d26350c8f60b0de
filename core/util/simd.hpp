// SPDX-License-Identifier: Apache-2.0
#pragma once
// Whether this CPU runs AVX2, asked once. The few hot scans that use it (UTF-8 validation and
// the search for token starts in template bodies) are compiled for AVX2 on their own with
// __attribute__((target("avx2"))), so the binary still runs on any x86-64 and elsewhere falls
// back to plain loops.

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VAULTFWD_X86 1
#else
#define VAULTFWD_X86 0
#endif

namespace vaultfwd::util {

inline bool has_avx2() {
#if VAULTFWD_X86
    static const bool yes = __builtin_cpu_supports("avx2");
    return yes;
#else
    return false;
#endif
}

} // namespace vaultfwd::util
