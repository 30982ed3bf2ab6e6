// Shared by the libFuzzer harnesses: a failed invariant prints where and aborts, which libFuzzer reports as
// a crash and saves the input.
#ifndef CGIWIRE_FUZZ_CHECK_H
#define CGIWIRE_FUZZ_CHECK_H

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

#endif  // CGIWIRE_FUZZ_CHECK_H
