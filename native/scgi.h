// SCGI byte-level core: the incremental netstring scanner, the header decoder with every validation rule
// of the SCGI protocol description, and the client-side header encoder. Plain C++17, no Node headers.
// lib/codec/js.ts is the TypeScript twin; both must give identical results.
#ifndef CGIWIRE_SCGI_H
#define CGIWIRE_SCGI_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "codes.h"
#include "fastcgi.h"

namespace cgiwire {
namespace scgi {

enum NetstringState : int {
  kNsPhase = 0,     // 0 length digits, 1 header bytes, 2 comma, 3 done, 4 failed
  kNsDeclared = 1,  // declared header length
  kNsDigits = 2,    // digits read so far
  kNsLeft = 3,      // header bytes still to come
  kNsConsumed = 4,  // out: offset in the chunk where the call stopped
  kNsError = 5,     // the sticky error code once failed
  kNsStateSize = 6,
};

enum NetstringPhase : int32_t { kNsLength = 0, kNsHeader = 1, kNsComma = 2, kNsDone = 3, kNsFailed = 4 };

// Scans the netstring `<length>:<header bytes>,` that opens an SCGI request, across chunks of any size.
// Header bytes are reported as fragments in the FastCGI scanner's format (type 0, requestId 0, word [3] the
// declared length), never copied. Stops right after the ','; state[kNsConsumed] is then where the body
// begins. A length over max_header is refused as soon as its digits say so.
int32_t ScanNetstring(const uint8_t* chunk, size_t len, size_t start, int32_t* state, uint32_t max_header,
                      uint32_t* out, size_t capacity);

// Decodes the header bytes buf[begin, end) into pairs (fastcgi::kPairWords words each; a value follows its
// name after one NUL byte). Enforces: NAME\0VALUE\0 pairs, non-empty names; CONTENT_LENGTH first and a plain
// decimal number (stored in *content_length); SCGI present with value 1; no repeated name except HTTP_*
// ones (nginx 1.22 sends a repeated request header that way); the limits.
int32_t DecodeHeaders(const uint8_t* buf, size_t begin, size_t end, const fastcgi::PairLimits& limits,
                      const fastcgi::NameTable* names, uint32_t* out, size_t capacity, uint32_t* shape,
                      uint64_t* content_length);

// Client side: the whole netstring for these headers. CONTENT_LENGTH and SCGI=1 are written first;
// any of the two in `headers` is skipped.
std::vector<uint8_t> EncodeHeader(uint64_t content_length, const std::vector<fastcgi::Pair>& headers);

}  // namespace scgi
}  // namespace cgiwire

#endif  // CGIWIRE_SCGI_H
