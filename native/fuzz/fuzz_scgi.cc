// libFuzzer harness for scgi::ScanNetstring and scgi::DecodeHeaders. Input: 8 control bytes, then the
// request bytes.
//   [0..1] where to cut the input into two chunks (a fraction of its length)
//   [2..3] max_header (all ones: 2^31 - 1, the binding's ceiling)
//   [4]    `out` capacity: 1..4 fragments or pairs when bit 7 is set, else 1024 when bit 6 is set (past
//          the 512 pairs DecodeHeaders keeps on the stack), else 256
//   [5]    max_pairs   [6] max_name   [7] max_value / 4   (all ones = no limit)
// The netstring is scanned in two chunks (each its own heap copy) and compared with a straight reading of
// the SCGI netstring; the gathered header, and the raw input too, go through DecodeHeaders, compared with
// a straight reading of the SCGI header rules; a decoded header re-encodes with EncodeHeader.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "../scgi.h"
#include "fuzz_check.h"

namespace fcgi = cgiwire::fastcgi;
namespace scgi = cgiwire::scgi;

namespace {

using Bytes = std::vector<uint8_t>;

const std::vector<std::string> kNames = {"CONTENT_LENGTH", "SCGI", "REQUEST_METHOD", "REQUEST_URI", "HTTP_HOST"};

struct Netstring {
  int32_t error = 0;
  bool done = false;
  Bytes header;
  size_t header_at = 0;  // model: where the header bytes begin, once the ':' is read
  size_t body_at = 0;
};

// `<decimal length>:<bytes>,` read straight: no leading zero, the length refused on the digit that
// crosses max_header.
Netstring ModelNetstring(const uint8_t* d, size_t n, uint32_t max_header) {
  Netstring r;
  size_t i = 0;
  uint64_t declared = 0;
  size_t digits = 0;
  for (;; i++) {
    if (i == n) return r;
    if (d[i] >= '0' && d[i] <= '9') {
      if (digits > 0 && declared == 0) {
        r.error = cgiwire::kScgiBadNetstring;
        return r;
      }
      declared = declared * 10 + (d[i] - '0');
      digits++;
      if (declared > max_header) {
        r.error = cgiwire::kScgiHeaderTooLarge;
        return r;
      }
    } else if (d[i] == ':' && digits > 0) {
      i++;
      r.header_at = i;
      break;
    } else {
      r.error = cgiwire::kScgiBadNetstring;
      return r;
    }
  }
  if (n - i <= declared) return r;
  if (d[i + declared] != ',') {
    r.error = cgiwire::kScgiBadNetstring;
    return r;
  }
  r.header.assign(d + i, d + i + declared);
  r.done = true;
  r.body_at = i + declared + 1;
  return r;
}

struct Scanner {
  int32_t state[scgi::kNsStateSize] = {};
  Netstring got;
  bool started = false;
  uint32_t declared = 0;

  void Feed(const uint8_t* chunk, size_t len, size_t base, uint32_t max_header, size_t capacity) {
    std::vector<uint32_t> out(capacity * fcgi::kFragmentWords);
    size_t pos = 0;
    while (got.error == 0 && !got.done) {
      int32_t n = scgi::ScanNetstring(chunk, len, pos, state, max_header, out.data(), capacity);
      if (n < 0) {
        FUZZ_CHECK(state[scgi::kNsPhase] == scgi::kNsFailed && state[scgi::kNsError] == n);
        got.error = n;
        return;
      }
      FUZZ_CHECK(size_t(n) <= capacity);
      size_t consumed = size_t(state[scgi::kNsConsumed]);
      FUZZ_CHECK(consumed >= pos && consumed <= len);
      size_t last_end = pos;
      for (int32_t i = 0; i < n; i++) {
        const uint32_t* f = &out[i * fcgi::kFragmentWords];
        uint32_t flags = (f[0] >> 8) & 0xff;
        size_t off = f[1], flen = f[2];
        FUZZ_CHECK((f[0] & ~(0xffu << 8)) == 0);
        FUZZ_CHECK(off >= last_end && flen <= consumed - off);
        last_end = off + flen;
        FUZZ_CHECK(((flags & fcgi::kFragFirst) != 0) == !started);
        FUZZ_CHECK(!started || f[3] == declared);
        started = true;
        declared = f[3];
        got.header.insert(got.header.end(), chunk + off, chunk + off + flen);
        FUZZ_CHECK(got.header.size() <= declared);
        FUZZ_CHECK(((flags & fcgi::kFragLast) != 0) == (got.header.size() == declared));
      }
      if (state[scgi::kNsPhase] == scgi::kNsDone) {
        FUZZ_CHECK(consumed > 0 && chunk[consumed - 1] == ',');
        got.done = true;
        got.body_at = base + consumed;
        return;
      }
      if (consumed == len) return;
      FUZZ_CHECK(size_t(n) == capacity);
      pos = consumed;
    }
  }
};

struct Header {
  int32_t code = 0;
  uint64_t content_length = 0;
  std::vector<std::pair<std::string, std::string>> pairs;
};

// SCGI header rules read straight, checks in the contract's order (scgi.h).
Header ModelHeaders(const Bytes& b, const fcgi::PairLimits& l, size_t capacity) {
  Header h;
  if (b.size() > l.max_bytes) return {cgiwire::kScgiHeaderTooLarge, 0, {}};
  size_t max_pairs = std::min<size_t>(l.max_pairs, capacity);
  size_t max_name = std::min<size_t>(l.max_name, fcgi::kMaxNameLength);
  std::set<std::string> seen;
  bool scgi_seen = false;
  size_t pos = 0;
  while (pos < b.size()) {
    if (h.pairs.size() >= max_pairs) return {cgiwire::kParamsTooMany, 0, {}};
    size_t name_end = pos;
    while (name_end < b.size() && b[name_end] != 0) name_end++;
    if (name_end == b.size() || name_end == pos) return {cgiwire::kScgiBadHeader, 0, {}};
    std::string name(b.begin() + pos, b.begin() + name_end);
    if (name.size() > max_name) return {cgiwire::kParamNameTooLong, 0, {}};
    size_t value_end = name_end + 1;
    while (value_end < b.size() && b[value_end] != 0) value_end++;
    if (value_end == b.size()) return {cgiwire::kScgiBadHeader, 0, {}};
    std::string value(b.begin() + name_end + 1, b.begin() + value_end);
    if (value.size() > l.max_value) return {cgiwire::kParamValueTooLong, 0, {}};
    if (h.pairs.empty()) {
      if (name != "CONTENT_LENGTH") return {cgiwire::kScgiNoContentLength, 0, {}};
      if (value.empty() || value.size() > 15 || (value.size() > 1 && value[0] == '0'))
        return {cgiwire::kScgiBadContentLength, 0, {}};
      for (char c : value)
        if (c < '0' || c > '9') return {cgiwire::kScgiBadContentLength, 0, {}};
      h.content_length = std::stoull(value);
    }
    if (name == "SCGI") {
      if (value != "1") return {cgiwire::kScgiNoScgi, 0, {}};
      scgi_seen = true;
    }
    // A repeated HTTP_ name is allowed (nginx 1.22 sends repeated request headers so); no other repeat.
    bool http = name.size() > 5 && name.compare(0, 5, "HTTP_") == 0;
    if (!seen.insert(name).second && !http) return {cgiwire::kScgiDuplicateHeader, 0, {}};
    h.pairs.push_back({name, value});
    pos = value_end + 1;
  }
  if (h.pairs.empty()) return {cgiwire::kScgiNoContentLength, 0, {}};
  if (!scgi_seen) return {cgiwire::kScgiNoScgi, 0, {}};
  h.code = int32_t(h.pairs.size());
  return h;
}

const fcgi::NameTable& Table() {
  static const fcgi::NameTable table(kNames);
  return table;
}

// DecodeHeaders on its own heap copy of `in`; returns the pairs it decoded.
Header Decode(const Bytes& in, const fcgi::PairLimits& limits, size_t capacity) {
  Bytes buf(in);
  std::vector<uint32_t> out(capacity * fcgi::kPairWords);
  uint32_t shape = 0;
  uint64_t content_length = 0;
  int32_t n = scgi::DecodeHeaders(buf.data(), 0, buf.size(), limits, &Table(), out.data(), capacity, &shape,
                                  &content_length);
  Header want = ModelHeaders(in, limits, capacity);
  FUZZ_CHECK(n == want.code);
  if (n < 0) return want;
  FUZZ_CHECK(content_length == want.content_length);
  uint32_t h = fcgi::kShapeSeed;
  size_t at = 0;
  for (int32_t i = 0; i < n; i++) {
    const uint32_t* p = &out[i * fcgi::kPairWords];
    uint32_t name_at = p[0], value_at = p[1], value_len = p[2], name_len = p[3] & 0xffff, id = p[3] >> 16;
    FUZZ_CHECK(name_at == at && name_len > 0 && value_at == name_at + name_len + 1);
    FUZZ_CHECK(value_at + value_len < buf.size() && buf[value_at - 1] == 0 && buf[value_at + value_len] == 0);
    FUZZ_CHECK(std::string(buf.begin() + name_at, buf.begin() + name_at + name_len) == want.pairs[i].first);
    FUZZ_CHECK(value_len == want.pairs[i].second.size());
    FUZZ_CHECK(id == Table().Find(buf.data() + name_at, name_len));
    h = fcgi::ShapeStep(h, id);
    at = value_at + value_len + 1;
  }
  FUZZ_CHECK(at == buf.size());
  FUZZ_CHECK(shape == h);
  return want;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  const uint8_t* in = data + 8;
  size_t n = size - 8;
  size_t cut = size_t(uint32_t(data[0]) << 8 | data[1]) * n / 65535;
  uint32_t max_header = uint32_t(data[2]) << 8 | data[3];
  if (max_header == 0xffff) max_header = 0x7fffffff;
  size_t capacity = (data[4] & 0x80) ? 1 + (data[4] & 3) : (data[4] & 0x40) ? 1024 : 256;
  fcgi::PairLimits limits{max_header, data[5] == 0xff ? 0xffffffffu : data[5],
                          data[6] == 0xff ? 0xffffffffu : data[6], data[7] == 0xff ? 0xffffffffu : data[7] * 4u};

  Scanner s;
  Bytes first(in, in + cut), second(in + cut, in + n);
  s.Feed(first.data(), first.size(), 0, max_header, capacity);
  s.Feed(second.data(), second.size(), cut, max_header, capacity);
  Netstring want = ModelNetstring(in, n, max_header);
  FUZZ_CHECK(s.got.error == want.error && s.got.done == want.done);
  if (want.done) {
    FUZZ_CHECK(s.got.header == want.header && s.got.body_at == want.body_at);
  } else if (want.error == 0 && want.header_at > 0) {  // the header bytes so far, straight from the input
    FUZZ_CHECK(s.got.header.size() <= n - want.header_at);
    FUZZ_CHECK(std::equal(s.got.header.begin(), s.got.header.end(), in + want.header_at));
  }

  Decode(Bytes(in, in + n), limits, capacity);
  if (!want.done) return 0;
  Header h = Decode(want.header, limits, capacity);
  if (h.code < 0) return 0;

  // Round trip: EncodeHeader writes CONTENT_LENGTH, SCGI=1, then the rest in order; when the input had SCGI
  // second it is the input netstring byte for byte.
  std::vector<fcgi::Pair> rest;
  for (size_t i = 1; i < h.pairs.size(); i++)
    if (h.pairs[i].first != "SCGI") rest.push_back({h.pairs[i].first, h.pairs[i].second});
  Bytes wire = scgi::EncodeHeader(h.content_length, rest);
  if (h.pairs.size() >= 2 && h.pairs[1].first == "SCGI") {
    FUZZ_CHECK(wire.size() == want.body_at && std::memcmp(wire.data(), in, wire.size()) == 0);
  }
  Netstring again = ModelNetstring(wire.data(), wire.size(), 0x7fffffff);
  FUZZ_CHECK(again.done && again.body_at == wire.size());
  fcgi::PairLimits wide{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
  Header h2 = Decode(again.header, wide, capacity);
  FUZZ_CHECK(h2.code == h.code && h2.content_length == h.content_length);
  return 0;
}
