// libFuzzer harness for fastcgi::DecodePairs. Input: 8 control bytes, then the pair stream.
//   [0..1] max_bytes   [2] max_pairs   [3..4] max_name   [5..6] max_value   (all ones = no limit: 2^32 - 1)
//   [7]    bits 0-1: bytes skipped before `begin`; bit 7 set: `out` holds 1..32 pairs, else 1024
// The stream is its own heap copy ending at `end`, so ASan sees any read past it. The result is held to
// a straight reading of FastCGI 1.0 section 3.4 with the checks in the order of the contract (limits, then
// lengths against what remains: CVE-2025-23016), and decoded pairs re-encode to the input.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../fastcgi.h"
#include "fuzz_check.h"

namespace fcgi = cgiwire::fastcgi;

namespace {

const std::vector<std::string> kNames = {
    "REQUEST_METHOD", "REQUEST_URI", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH", "SCRIPT_FILENAME",
    "HTTP_HOST", "HTTP_COOKIE", "HTTP_USER_AGENT", "A", "", "12345678", "1234567812345678",
    "HTTP_X_A_VERY_LONG_HEADER_NAME", "REQUEST_METHOD",
};

uint32_t Limit16(const uint8_t* p) {
  uint32_t v = uint32_t(p[0]) << 8 | p[1];
  return v == 0xffff ? 0xffffffffu : v;
}

struct Pair {
  size_t name_at, value_at, value_len, name_len;
  uint32_t id;
};

uint32_t IdOf(const uint8_t* name, size_t len) {
  for (size_t i = 0; i < kNames.size(); i++)
    if (kNames[i].size() == len && std::memcmp(kNames[i].data(), name, len) == 0) return uint32_t(i + 1);
  return 0;
}

// FastCGI 1.0, 3.4, read straight in 64-bit arithmetic.
int32_t Model(const uint8_t* buf, size_t begin, size_t end, const fcgi::PairLimits& l, size_t capacity,
              std::vector<Pair>* pairs) {
  if (end - begin > l.max_bytes) return cgiwire::kParamsTooLarge;
  uint64_t max_pairs = std::min<uint64_t>(l.max_pairs, capacity);
  uint64_t max_name = std::min<uint64_t>(l.max_name, fcgi::kMaxNameLength);
  size_t pos = begin;
  auto length = [&](uint64_t* n) {
    if (pos >= end) return false;
    if (buf[pos] < 0x80) {
      *n = buf[pos++];
      return true;
    }
    if (end - pos < 4) return false;
    *n = uint64_t(buf[pos] & 0x7f) << 24 | uint64_t(buf[pos + 1]) << 16 | uint64_t(buf[pos + 2]) << 8 | buf[pos + 3];
    pos += 4;
    return true;
  };
  while (pos < end) {
    if (pairs->size() >= max_pairs) return cgiwire::kParamsTooMany;
    uint64_t name_len, value_len;
    if (!length(&name_len) || !length(&value_len)) return cgiwire::kPairsTruncated;
    if (name_len > max_name) return cgiwire::kParamNameTooLong;
    if (value_len > l.max_value) return cgiwire::kParamValueTooLong;
    if (name_len + value_len > end - pos) return cgiwire::kPairsTruncated;
    pairs->push_back({pos, pos + name_len, value_len, name_len, IdOf(buf + pos, name_len)});
    pos += name_len + value_len;
  }
  return int32_t(pairs->size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fcgi::NameTable table(kNames);
  if (size < 8) return 0;
  fcgi::PairLimits limits{Limit16(data), data[2] == 0xff ? 0xffffffffu : data[2], Limit16(data + 3),
                          Limit16(data + 5)};
  size_t skip = data[7] & 3;
  size_t capacity = (data[7] & 0x80) ? 1 + ((data[7] >> 2) & 31) : 1024;
  if (size - 8 < skip) return 0;
  std::vector<uint8_t> buf(data + 8, data + size);
  const size_t begin = skip, end = buf.size();

  std::vector<uint32_t> out(capacity * fcgi::kPairWords);
  uint32_t shape = 0xdeadbeef;
  int32_t n = fcgi::DecodePairs(buf.data(), begin, end, limits, &table, out.data(), capacity, &shape);
  std::vector<Pair> want;
  int32_t want_n = Model(buf.data(), begin, end, limits, capacity, &want);
  FUZZ_CHECK(n == want_n);
  if (n < 0) {
    FUZZ_CHECK(n == cgiwire::kPairsTruncated || n == cgiwire::kParamsTooLarge || n == cgiwire::kParamsTooMany ||
               n == cgiwire::kParamNameTooLong || n == cgiwire::kParamValueTooLong);
    return 0;
  }

  uint32_t h = fcgi::kShapeSeed;
  size_t at = begin;
  std::vector<uint8_t> again;
  for (int32_t i = 0; i < n; i++) {
    const uint32_t* p = &out[i * fcgi::kPairWords];
    uint32_t name_at = p[0], value_at = p[1], value_len = p[2], name_len = p[3] & 0xffff, id = p[3] >> 16;
    FUZZ_CHECK(name_at >= begin && name_at > at && name_at <= end);
    FUZZ_CHECK(name_len <= limits.max_name && name_len <= fcgi::kMaxNameLength);
    FUZZ_CHECK(value_at == name_at + name_len);
    FUZZ_CHECK(value_len <= limits.max_value && value_len <= end - value_at);
    FUZZ_CHECK(name_at == want[i].name_at && value_len == want[i].value_len && id == want[i].id);
    FUZZ_CHECK(id == table.Find(buf.data() + name_at, name_len));
    h = fcgi::ShapeStep(h, id);
    at = value_at + value_len;
    size_t old = again.size();
    again.resize(old + fcgi::PairSize(name_len, value_len));
    size_t w = fcgi::WritePair(again.data() + old, buf.data() + name_at, name_len, buf.data() + value_at, value_len);
    FUZZ_CHECK(w == again.size() - old);
  }
  FUZZ_CHECK(at == end);
  FUZZ_CHECK(size_t(n) <= limits.max_pairs && size_t(n) <= capacity);
  FUZZ_CHECK(shape == h);

  // Round trip: the re-encoded pairs decode to the same pairs; with the shortest length prefixes (what
  // WritePair writes) they are the input bytes themselves.
  if (!again.empty() && again.size() == end - begin) FUZZ_CHECK(std::memcmp(again.data(), buf.data() + begin, again.size()) == 0);
  std::vector<uint32_t> out2(capacity * fcgi::kPairWords);
  uint32_t shape2 = 0;
  fcgi::PairLimits wide{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
  // The second decode is told to expect the ids just found (shifted by one on some inputs, so that some
  // expectations are wrong): only speed may depend on it.
  std::vector<uint16_t> expected;
  for (int32_t i = (data[7] & 0x40) ? 1 : 0; i < n; i++) expected.push_back(uint16_t(out[i * fcgi::kPairWords + 3] >> 16));
  FUZZ_CHECK(fcgi::DecodePairs(again.data(), 0, again.size(), wide, &table, out2.data(), capacity, &shape2,
                               fcgi::ExpectedIds{expected.data(), expected.size()}) == n);
  FUZZ_CHECK(shape2 == shape);
  for (int32_t i = 0; i < n; i++) {
    const uint32_t* p = &out[i * fcgi::kPairWords];
    const uint32_t* q = &out2[i * fcgi::kPairWords];
    FUZZ_CHECK(p[2] == q[2] && p[3] == q[3]);
    FUZZ_CHECK(std::memcmp(buf.data() + p[0], again.data() + q[0], p[3] & 0xffff) == 0);
    FUZZ_CHECK(std::memcmp(buf.data() + p[1], again.data() + q[1], p[2]) == 0);
  }
  return 0;
}
