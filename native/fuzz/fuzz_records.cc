// libFuzzer harness for fastcgi::ScanRecords. Input: 3 control bytes, then the stream.
//   [0..1] where to cut the stream into two chunks (a fraction of its length)
//   [2]    `out` capacity: 1..8 fragments when the high bit is set, else 64
// Each chunk is its own heap copy, so ASan sees any read past its end. Held to the fragment contract of
// fastcgi.h and to a straight reading of the record layout (FastCGI 1.0, section 3.3).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../fastcgi.h"
#include "fuzz_check.h"

namespace fcgi = cgiwire::fastcgi;

namespace {

struct Record {
  uint32_t type, id, content_length, padding;
  size_t header_at;               // model only
  std::vector<uint8_t> content;
};

struct Model {
  std::vector<Record> records;  // records whose content is complete
  bool bad_version = false;
};

Model Read(const uint8_t* d, size_t n) {
  Model m;
  size_t at = 0;
  while (at <= n && n - at >= 8) {
    if (d[at] != 1) {
      m.bad_version = true;
      break;
    }
    Record r{d[at + 1], uint32_t(d[at + 2]) << 8 | d[at + 3], uint32_t(d[at + 4]) << 8 | d[at + 5], d[at + 6], at, {}};
    if (n - at - 8 < r.content_length) break;
    r.content.assign(d + at + 8, d + at + 8 + r.content_length);
    m.records.push_back(r);
    at += 8 + size_t(r.content_length) + r.padding;
  }
  return m;
}

struct Reader {
  int32_t state[fcgi::kStateSize] = {};
  int32_t error = 0;
  std::vector<Record> records;
  bool open = false;
  Record partial{};

  void Feed(const uint8_t* chunk, size_t len, size_t capacity) {
    std::vector<uint32_t> out(capacity * fcgi::kFragmentWords);
    size_t pos = 0;
    while (error == 0) {
      int32_t n = fcgi::ScanRecords(chunk, len, pos, state, out.data(), capacity);
      if (n < 0) {
        FUZZ_CHECK(n == cgiwire::kBadVersion);
        FUZZ_CHECK(state[fcgi::kStPhase] == fcgi::kPhaseFailed && state[fcgi::kStError] == n);
        int32_t again = fcgi::ScanRecords(chunk, len, pos, state, out.data(), capacity);
        FUZZ_CHECK(again == n);  // the failure is sticky
        error = n;
        return;
      }
      FUZZ_CHECK(size_t(n) <= capacity);
      size_t consumed = size_t(state[fcgi::kStConsumed]);
      FUZZ_CHECK(consumed >= pos && consumed <= len);
      size_t last_end = pos;
      for (int32_t i = 0; i < n; i++) {
        const uint32_t* f = &out[i * fcgi::kFragmentWords];
        uint32_t type = f[0] & 0xff, flags = (f[0] >> 8) & 0xff, id = f[0] >> 16;
        size_t off = f[1], flen = f[2];
        uint32_t content_length = f[3] & 0xffff, padding = f[3] >> 16;
        FUZZ_CHECK((flags & ~(fcgi::kFragFirst | fcgi::kFragLast)) == 0);
        FUZZ_CHECK(off >= last_end && flen <= consumed - off);  // inside this call's part of the chunk
        FUZZ_CHECK(padding <= 255);
        FUZZ_CHECK(flen > 0 || content_length == 0);
        last_end = off + flen;
        if (flags & fcgi::kFragFirst) {
          FUZZ_CHECK(!open);
          partial = Record{type, id, content_length, padding, 0, {}};
          open = true;
        } else {
          FUZZ_CHECK(open);
          FUZZ_CHECK(partial.type == type && partial.id == id && partial.content_length == content_length &&
                     partial.padding == padding);
        }
        partial.content.insert(partial.content.end(), chunk + off, chunk + off + flen);
        FUZZ_CHECK(partial.content.size() <= content_length);
        FUZZ_CHECK((partial.content.size() == content_length) == ((flags & fcgi::kFragLast) != 0));
        if (flags & fcgi::kFragLast) {
          records.push_back(std::move(partial));
          partial = Record{};
          open = false;
        }
      }
      // A fault after some fragments: they count, and the next call reports the fault (sticky).
      if (state[fcgi::kStPhase] == fcgi::kPhaseFailed) continue;
      if (consumed == len) return;
      FUZZ_CHECK(size_t(n) == capacity);  // stops early only when `out` is full
      FUZZ_CHECK(n > 0 || consumed > pos);
      pos = consumed;
    }
  }
};

bool Same(const Record& a, const Record& b) {
  return a.type == b.type && a.id == b.id && a.content_length == b.content_length && a.padding == b.padding &&
         a.content == b.content;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t* stream = data + 3;
  size_t n = size - 3;
  size_t cut = size_t(uint32_t(data[0]) << 8 | data[1]) * n / 65535;
  size_t capacity = (data[2] & 0x80) ? 1 + (data[2] & 7) : 64;

  Reader r;
  std::vector<uint8_t> first(stream, stream + cut), second(stream + cut, stream + n);
  r.Feed(first.data(), first.size(), capacity);
  r.Feed(second.data(), second.size(), capacity);

  Model m = Read(stream, n);
  FUZZ_CHECK(r.error == (m.bad_version ? cgiwire::kBadVersion : 0));
  // Every record before a bad header is delivered, wherever the stream was cut.
  FUZZ_CHECK(r.records.size() == m.records.size());
  for (size_t i = 0; i < r.records.size(); i++) FUZZ_CHECK(Same(r.records[i], m.records[i]));
  if (r.open) {  // the stream ended inside a record
    FUZZ_CHECK(r.partial.content.size() < r.partial.content_length);
    if (r.records.size() < m.records.size()) {
      const Record& whole = m.records[r.records.size()];
      FUZZ_CHECK(std::equal(r.partial.content.begin(), r.partial.content.end(), whole.content.begin()));
    }
  }

  // Encoder round trip: WriteHeader gives back each record's header bytes (byte 7 is reserved).
  for (const Record& rec : m.records) {
    uint8_t h[8];
    fcgi::WriteHeader(h, uint8_t(rec.type), uint16_t(rec.id), uint16_t(rec.content_length), uint8_t(rec.padding));
    FUZZ_CHECK(std::memcmp(h, stream + rec.header_at, 7) == 0);
  }
  return 0;
}
