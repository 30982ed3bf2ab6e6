// Result codes shared by every decoder in the core. Zero or positive means success (usually a count);
// negative is a fault in the peer's bytes or a limit it crossed. lib/codec/errors.ts maps each code to an
// error class with a stable `code` string; keep the two lists in step (test/codec/errors.test.ts checks).
#ifndef CGIWIRE_CODES_H
#define CGIWIRE_CODES_H

#include <cstdint>

namespace cgiwire {

enum Code : int32_t {
  kOk = 0,
  // FastCGI framing
  kBadVersion = -1,           // header byte 0 is not 1 (FastCGI 1.0, section 3.3)
  // Name-value pairs (PARAMS, GET_VALUES, GET_VALUES_RESULT)
  kPairsTruncated = -10,      // a declared length runs past the end of the stream
  kParamsTooLarge = -11,      // the whole PARAMS stream is over maxBytes
  kParamsTooMany = -12,       // more pairs than maxPairs
  kParamNameTooLong = -13,    // a name over maxNameLength
  kParamValueTooLong = -14,   // a value over maxValueLength
  // SCGI
  kScgiBadNetstring = -20,    // non-digit or leading-zero length, missing ':' or ','
  kScgiHeaderTooLarge = -21,  // declared netstring length over maxHeaderBytes
  kScgiBadHeader = -22,       // header bytes are not NAME\0VALUE\0 pairs
  kScgiNoContentLength = -23, // first header is not CONTENT_LENGTH
  kScgiBadContentLength = -24,// CONTENT_LENGTH is not a plain decimal number
  kScgiNoScgi = -25,          // no header SCGI with value 1
  kScgiDuplicateHeader = -26, // a header name appears twice
};

}  // namespace cgiwire

#endif  // CGIWIRE_CODES_H
