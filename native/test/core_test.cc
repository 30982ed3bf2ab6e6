// Tests of the C++ protocol core (native/fastcgi.cc, native/scgi.cc), plain C++17 with no framework:
// golden bytes of the encoders; the record and netstring scanners fed whole, split at every offset and one
// byte at a time; the captured fixtures; every limit and error code of the decoders; and inputs placed
// right before an unreadable page so that any over-read faults (picohttpparser's test.c).
// Built with ASan/UBSan by native/test/run.sh.
//
// Usage: core_test [FIXTURES_DIR]   (default: test/fixtures, relative to the working directory)

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#if __has_include(<sanitizer/common_interface_defs.h>)
#include <sanitizer/common_interface_defs.h>
#define CGIWIRE_HAVE_DEATH_CALLBACK 1
#endif

#include "../fastcgi.h"
#include "../scgi.h"

namespace {

namespace fcgi = cgiwire::fastcgi;
namespace scgi = cgiwire::scgi;
using Bytes = std::vector<uint8_t>;
using fcgi::PairLimits;

// ---- Harness -------------------------------------------------------------------------------------

struct TestCase {
  std::string name;
  std::function<void()> fn;
};

std::vector<TestCase>& Tests() {
  static std::vector<TestCase> tests;
  return tests;
}

struct Register {
  Register(const char* name, void (*fn)()) { Tests().push_back({name, fn}); }
};

#define TEST(name)                         \
  void name();                             \
  const Register register_##name(#name, name); \
  void name()

int g_check_failures = 0;
const char* g_running = "";

// A sanitizer report aborts the run: say which test it came from.
void OnSanitizerDeath() { std::fprintf(stderr, "CRASH in test %s\n", g_running); }

void Report(const char* file, int line, const std::string& what) {
  if (++g_check_failures <= 20) {
    std::fprintf(stderr, "    %s:%d: %s\n", file, line, what.c_str());
  } else if (g_check_failures == 21) {
    std::fprintf(stderr, "    (further failures of this test not shown)\n");
  }
}

std::string Hex(const Bytes& b) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < b.size() && i < 48; i++) {
    std::snprintf(buf, sizeof buf, "%02x ", b[i]);
    s += buf;
  }
  if (b.size() > 48) s += "... (" + std::to_string(b.size()) + " bytes)";
  return s;
}

void CheckEq(long long a, long long b, const char* what, const char* file, int line) {
  if (a != b) Report(file, line, std::string(what) + ": " + std::to_string(a) + " != " + std::to_string(b));
}

void CheckBytes(const Bytes& a, const Bytes& b, const char* what, const char* file, int line) {
  if (a != b) Report(file, line, std::string(what) + ":\n      " + Hex(a) + "\n   != " + Hex(b));
}

#define CHECK(cond)                                              \
  do {                                                           \
    if (!(cond)) Report(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)
#define CHECK_EQ(a, b) \
  CheckEq(static_cast<long long>(a), static_cast<long long>(b), #a " == " #b, __FILE__, __LINE__)
#define CHECK_BYTES(a, b) CheckBytes((a), (b), #a " == " #b, __FILE__, __LINE__)

// ---- Helpers -------------------------------------------------------------------------------------

Bytes H(const char* hex) {
  Bytes out;
  for (const char* p = hex; *p;) {
    if (*p == ' ') {
      p++;
      continue;
    }
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(p, 2), nullptr, 16)));
    p += 2;
  }
  return out;
}

Bytes B(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes Fill(size_t n, uint8_t first) {
  Bytes b(n);
  for (size_t i = 0; i < n; i++) b[i] = static_cast<uint8_t>(first + i * 7);
  return b;
}

uint32_t g_rng = 0x12345678;
uint32_t Rand() {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 17;
  g_rng ^= g_rng << 5;
  return g_rng;
}

// A FastCGI record as a sender would write it; padding bytes are 0xAA so that a scanner reporting them
// as content is caught.
Bytes Rec(uint8_t type, uint16_t id, const Bytes& content, uint8_t padding, uint8_t version = 1) {
  Bytes r = {version, type, static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id),
             static_cast<uint8_t>(content.size() >> 8), static_cast<uint8_t>(content.size()), padding, 0};
  r.insert(r.end(), content.begin(), content.end());
  r.insert(r.end(), padding, 0xAA);
  return r;
}

// An encoded name-value pair, built here byte by byte (FastCGI 1.0, section 3.4).
Bytes EncodedLength(uint32_t n, bool four = false) {
  if (n < 128 && !four) return {static_cast<uint8_t>(n)};
  return {static_cast<uint8_t>(0x80 | n >> 24), static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 8),
          static_cast<uint8_t>(n)};
}
Bytes P(const std::string& name, const std::string& value) {
  return Cat({EncodedLength(static_cast<uint32_t>(name.size())), EncodedLength(static_cast<uint32_t>(value.size())),
              B(name), B(value)});
}

// SCGI header bytes: NAME\0VALUE\0 ...
Bytes Hdr(std::initializer_list<std::pair<std::string, std::string>> pairs) {
  Bytes out;
  for (const auto& [name, value] : pairs) {
    out.insert(out.end(), name.begin(), name.end());
    out.push_back(0);
    out.insert(out.end(), value.begin(), value.end());
    out.push_back(0);
  }
  return out;
}

// Copies bytes so that they end exactly where a PROT_NONE page begins: any read past the end faults.
class Guarded {
 public:
  explicit Guarded(const Bytes& b) : Guarded(b.data(), b.size()) {}
  Guarded(const uint8_t* p, size_t n) {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t pages = (n + page - 1) / page;
    size_ = (pages + 1) * page;
    void* m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      std::perror("mmap");
      std::abort();
    }
    base_ = static_cast<uint8_t*>(m);
    if (mprotect(base_ + pages * page, page, PROT_NONE) != 0) {
      std::perror("mprotect");
      std::abort();
    }
    data_ = base_ + pages * page - n;
    if (n) std::memcpy(data_, p, n);
  }
  ~Guarded() { munmap(base_, size_); }
  Guarded(const Guarded&) = delete;
  Guarded& operator=(const Guarded&) = delete;
  const uint8_t* data() const { return data_; }

 private:
  uint8_t* base_;
  uint8_t* data_;
  size_t size_;
};

const PairLimits kWide = {1u << 30, 4096, 65535, 1u << 30};

// ---- Record reassembly ---------------------------------------------------------------------------

struct Span {
  size_t at, len;
  bool operator==(const Span& o) const { return at == o.at && len == o.len; }
};

struct Record {
  uint32_t type = 0, id = 0, content_length = 0, padding = 0;
  std::vector<Span> spans;  // where the content lies in the whole stream, adjacent pieces merged
  Bytes content;            // the content bytes, when kept
};

// Feeds the chunks of one stream to ScanRecords and rebuilds records from the fragments, checking the
// fragment contract (fastcgi.h) on the way: fragments in order and inside the chunk, FIRST opens a record
// and LAST completes it, the fragments of a record add up to its contentLength, a zero-length fragment only
// for an empty record, the call stops early only when `out` is full.
class RecordReader {
 public:
  RecordReader(size_t capacity, bool keep_bytes)
      : capacity_(capacity), keep_(keep_bytes), out_(capacity * fcgi::kFragmentWords) {
    std::fill(std::begin(state), std::end(state), 0);
  }

  // chunk[start, len) holds the stream bytes [base + start, base + len).
  void Feed(const uint8_t* chunk, size_t len, size_t start, size_t base) {
    size_t pos = start;
    while (error == 0) {
      int32_t n = fcgi::ScanRecords(chunk, len, pos, state, out_.data(), capacity_);
      calls++;
      if (n < 0) {
        error = n;
        CHECK_EQ(state[fcgi::kStPhase], fcgi::kPhaseFailed);
        CHECK_EQ(state[fcgi::kStError], n);
        return;
      }
      CHECK(static_cast<size_t>(n) <= capacity_);
      size_t consumed = static_cast<size_t>(state[fcgi::kStConsumed]);
      CHECK(consumed >= pos && consumed <= len);
      size_t last_end = pos;
      for (int32_t i = 0; i < n; i++) Absorb(chunk, &out_[i * fcgi::kFragmentWords], base, consumed, &last_end);
      // A fault after some fragments: they count, and the next call reports the fault.
      if (state[fcgi::kStPhase] == fcgi::kPhaseFailed) continue;
      if (consumed >= len || consumed < pos) return;
      CHECK_EQ(n, capacity_);
      if (n == 0 && consumed == pos) return;
      pos = consumed;
    }
  }

  int32_t error = 0;
  int32_t state[fcgi::kStateSize];
  std::vector<Record> records;
  bool open = false;
  Record partial;
  size_t calls = 0;

 private:
  void Absorb(const uint8_t* chunk, const uint32_t* f, size_t base, size_t consumed, size_t* last_end) {
    uint32_t type = f[0] & 0xff, flags = (f[0] >> 8) & 0xff, id = f[0] >> 16;
    size_t off = f[1], len = f[2];
    uint32_t content_length = f[3] & 0xffff, padding = f[3] >> 16;
    CHECK_EQ(flags & ~(fcgi::kFragFirst | fcgi::kFragLast), 0);
    CHECK(off >= *last_end && off + len <= consumed);
    *last_end = off + len;
    CHECK(padding <= 255);
    CHECK(len > 0 || content_length == 0);
    if (flags & fcgi::kFragFirst) {
      CHECK(!open);
      partial = Record{type, id, content_length, padding, {}, {}};
      open = true;
    } else {
      CHECK(open);
      CHECK(partial.type == type && partial.id == id && partial.content_length == content_length &&
            partial.padding == padding);
    }
    if (len) {
      if (!partial.spans.empty() && partial.spans.back().at + partial.spans.back().len == base + off) {
        partial.spans.back().len += len;
      } else {
        partial.spans.push_back({base + off, len});
      }
      if (keep_) partial.content.insert(partial.content.end(), chunk + off, chunk + off + len);
    }
    size_t have = 0;
    for (const Span& s : partial.spans) have += s.len;
    CHECK(have <= content_length);
    CHECK_EQ(have == content_length, (flags & fcgi::kFragLast) != 0);
    if (flags & fcgi::kFragLast) {
      records.push_back(std::move(partial));
      partial = Record{};
      open = false;
    }
  }

  size_t capacity_;
  bool keep_;
  std::vector<uint32_t> out_;
};

// Scans `data` cut at the increasing offsets `cuts`. Every chunk but the last is its own heap copy, so ASan
// sees a read past its end; the last one is `data` itself entered at `start` (its end is data's end).
RecordReader ScanCut(const Bytes& data, const std::vector<size_t>& cuts, size_t capacity, bool keep) {
  RecordReader r(capacity, keep);
  size_t at = 0;
  for (size_t cut : cuts) {
    Bytes chunk(data.begin() + at, data.begin() + cut);
    r.Feed(chunk.data(), chunk.size(), 0, at);
    at = cut;
  }
  r.Feed(data.data(), data.size(), at, 0);
  return r;
}

std::vector<size_t> EveryByte(size_t n) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < n; i++) cuts.push_back(i);
  return cuts;
}

// Every offset of a small stream; for a large one every offset in the first 4 KiB and the last 512 bytes
// plus 300 pseudo-random ones.
std::vector<size_t> SplitPoints(size_t n) {
  std::vector<size_t> points;
  if (n <= 16384) {
    for (size_t i = 0; i <= n; i++) points.push_back(i);
    return points;
  }
  for (size_t i = 0; i <= 4096; i++) points.push_back(i);
  for (size_t i = n - 512; i <= n; i++) points.push_back(i);
  for (int i = 0; i < 300; i++) points.push_back(Rand() % (n + 1));
  return points;
}

// The record layout read straight (FastCGI 1.0, section 3.3): the reference the scanner is held to.
// Records whose content is complete, up to the end or the first header whose version is not 1.
struct Model {
  std::vector<Record> records;
  bool bad_version = false;
  bool on_boundary = false;  // the stream ends right after a record's padding
};

Model ModelRecords(const Bytes& d) {
  Model m;
  size_t at = 0;
  while (at <= d.size() && d.size() - at >= 8) {
    if (d[at] != 1) {
      m.bad_version = true;
      return m;
    }
    Record r;
    r.type = d[at + 1];
    r.id = uint32_t(d[at + 2]) << 8 | d[at + 3];
    r.content_length = uint32_t(d[at + 4]) << 8 | d[at + 5];
    r.padding = d[at + 6];
    if (d.size() - at - 8 < r.content_length) return m;
    if (r.content_length) r.spans.push_back({at + 8, r.content_length});
    r.content.assign(d.begin() + at + 8, d.begin() + at + 8 + r.content_length);
    m.records.push_back(r);
    at += 8 + r.content_length + r.padding;
  }
  m.on_boundary = at == d.size();
  return m;
}

void CompareRecords(const std::vector<Record>& want, const std::vector<Record>& got, bool bytes,
                    const std::string& what) {
  if (want.size() != got.size()) {
    Report(__FILE__, __LINE__,
           what + ": " + std::to_string(got.size()) + " records, want " + std::to_string(want.size()));
  }
  for (size_t i = 0; i < want.size() && i < got.size(); i++) {
    const Record& a = want[i];
    const Record& b = got[i];
    if (a.type != b.type || a.id != b.id || a.content_length != b.content_length || a.padding != b.padding ||
        !(a.spans == b.spans) || (bytes && a.content != b.content)) {
      Report(__FILE__, __LINE__,
             what + ": record " + std::to_string(i) + " differs (type " + std::to_string(b.type) + " id " +
                 std::to_string(b.id) + " length " + std::to_string(b.content_length) + ", want type " +
                 std::to_string(a.type) + " id " + std::to_string(a.id) + " length " +
                 std::to_string(a.content_length) + ")");
      return;
    }
  }
}

// ---- Pair decoding helpers -----------------------------------------------------------------------

struct DecodedPair {
  uint32_t name_at, value_at, value_len, name_len, id;
};

struct Decoded {
  int32_t code = 0;
  uint32_t shape = 0;
  uint64_t content_length = 0;
  std::vector<DecodedPair> pairs;
};

Decoded ToDecoded(int32_t code, const std::vector<uint32_t>& out, uint32_t shape) {
  Decoded d;
  d.code = code;
  d.shape = shape;
  for (int32_t i = 0; i < code; i++) {
    const uint32_t* p = &out[i * fcgi::kPairWords];
    d.pairs.push_back({p[0], p[1], p[2], p[3] & 0xffff, p[3] >> 16});
  }
  return d;
}

// DecodePairs over the whole of `in`, placed before a guard page; `out` holds exactly `capacity` pairs.
Decoded Pairs(const Bytes& in, const PairLimits& limits = kWide, const fcgi::NameTable* names = nullptr,
              size_t capacity = 4096) {
  Guarded g(in);
  std::vector<uint32_t> out(capacity * fcgi::kPairWords);
  uint32_t shape = 0;
  int32_t n = fcgi::DecodePairs(g.data(), 0, in.size(), limits, names, out.data(), capacity, &shape);
  return ToDecoded(n, out, shape);
}

Decoded Headers(const Bytes& in, const PairLimits& limits = kWide, const fcgi::NameTable* names = nullptr,
                size_t capacity = 4096) {
  Guarded g(in);
  std::vector<uint32_t> out(capacity * fcgi::kPairWords);
  uint32_t shape = 0;
  uint64_t content_length = 0;
  int32_t n = scgi::DecodeHeaders(g.data(), 0, in.size(), limits, names, out.data(), capacity, &shape,
                                  &content_length);
  Decoded d = ToDecoded(n, out, shape);
  d.content_length = content_length;
  return d;
}

std::string NameOf(const Bytes& in, const DecodedPair& p) {
  return std::string(in.begin() + p.name_at, in.begin() + p.name_at + p.name_len);
}
std::string ValueOf(const Bytes& in, const DecodedPair& p) {
  return std::string(in.begin() + p.value_at, in.begin() + p.value_at + p.value_len);
}

// A subset of lib/codec/known-names.ts, enough for the fixtures to hit known and unknown names.
const std::vector<std::string> kKnownNames = {
    "REQUEST_METHOD", "REQUEST_URI",     "QUERY_STRING",    "CONTENT_TYPE",    "CONTENT_LENGTH",
    "SCRIPT_NAME",    "SCRIPT_FILENAME", "PATH_INFO",       "DOCUMENT_ROOT",   "SERVER_PROTOCOL",
    "HTTPS",          "GATEWAY_INTERFACE", "SERVER_SOFTWARE", "REMOTE_ADDR",   "REMOTE_PORT",
    "SERVER_ADDR",    "SERVER_PORT",     "SERVER_NAME",     "SCGI",            "HTTP_HOST",
    "HTTP_USER_AGENT", "HTTP_ACCEPT",    "HTTP_COOKIE",     "HTTP_CONNECTION", "HTTP_CONTENT_TYPE",
    "HTTP_CONTENT_LENGTH", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS",
};

uint32_t ExpectedId(const std::vector<std::string>& list, const std::string& name) {
  for (size_t i = 0; i < list.size(); i++)
    if (list[i] == name) return static_cast<uint32_t>(i + 1);
  return 0;
}

uint32_t ShapeOf(const std::vector<DecodedPair>& pairs) {
  uint32_t h = fcgi::kShapeSeed;
  for (const DecodedPair& p : pairs) h = fcgi::ShapeStep(h, p.id);
  return h;
}

// ---- Netstring reassembly ------------------------------------------------------------------------

// Feeds chunks to ScanNetstring and gathers the header bytes, checking the fragment contract (scgi.h):
// fragments in order and inside the chunk, FIRST on the first, LAST on the one that completes the declared
// length, word [3] the declared length; the scan stops right after the ','.
class NetstringReader {
 public:
  NetstringReader(uint32_t max_header, size_t capacity)
      : max_(max_header), capacity_(capacity), out_(capacity * fcgi::kFragmentWords) {
    std::fill(std::begin(state), std::end(state), 0);
  }

  void Feed(const uint8_t* chunk, size_t len, size_t start, size_t base) {
    size_t pos = start;
    while (error == 0 && !done) {
      int32_t n = scgi::ScanNetstring(chunk, len, pos, state, max_, out_.data(), capacity_);
      if (n < 0) {
        error = n;
        CHECK_EQ(state[scgi::kNsPhase], scgi::kNsFailed);
        return;
      }
      CHECK(static_cast<size_t>(n) <= capacity_);
      size_t consumed = static_cast<size_t>(state[scgi::kNsConsumed]);
      CHECK(consumed >= pos && consumed <= len);
      size_t last_end = pos;
      for (int32_t i = 0; i < n; i++) {
        const uint32_t* f = &out_[i * fcgi::kFragmentWords];
        uint32_t flags = (f[0] >> 8) & 0xff;
        size_t off = f[1], flen = f[2];
        CHECK_EQ(f[0] & ~(0xffu << 8), 0);
        CHECK(off >= last_end && off + flen <= consumed);
        last_end = off + flen;
        CHECK_EQ((flags & fcgi::kFragFirst) != 0, !started);
        started = true;
        declared = f[3];
        header.insert(header.end(), chunk + off, chunk + off + flen);
        CHECK(header.size() <= declared);
        CHECK_EQ((flags & fcgi::kFragLast) != 0, header.size() == declared);
        if (flags & fcgi::kFragLast) complete = true;
      }
      if (state[scgi::kNsPhase] == scgi::kNsDone) {
        CHECK(complete);
        CHECK(consumed > 0 && chunk[consumed - 1] == ',');
        done = true;
        body_at = base + consumed;
        return;
      }
      if (consumed >= len || consumed < pos) return;
      CHECK_EQ(n, capacity_);
      if (n == 0 && consumed == pos) return;
      pos = consumed;
    }
  }

  int32_t error = 0;
  bool done = false, started = false, complete = false;
  size_t body_at = 0;
  uint32_t declared = 0;
  Bytes header;
  int32_t state[scgi::kNsStateSize];

 private:
  uint32_t max_;
  size_t capacity_;
  std::vector<uint32_t> out_;
};

NetstringReader NetstringCut(const Bytes& data, const std::vector<size_t>& cuts, uint32_t max_header,
                             size_t capacity = 16) {
  NetstringReader r(max_header, capacity);
  size_t at = 0;
  for (size_t cut : cuts) {
    Bytes chunk(data.begin() + at, data.begin() + cut);
    r.Feed(chunk.data(), chunk.size(), 0, at);
    at = cut;
  }
  r.Feed(data.data(), data.size(), at, 0);
  return r;
}

// One call on `in` placed before a guard page: the result code and where it stopped.
std::pair<int32_t, int32_t> NetstringOnce(const Bytes& in, uint32_t max_header) {
  Guarded g(in);
  int32_t state[scgi::kNsStateSize] = {};
  uint32_t out[16 * fcgi::kFragmentWords];
  int32_t n = scgi::ScanNetstring(g.data(), in.size(), 0, state, max_header, out, 16);
  return {n, state[scgi::kNsConsumed]};
}

// =================================================================================================
// Encoders: golden bytes
// =================================================================================================

TEST(PairLength_OneByteBelow128_FourBytesWithHighBitFrom128) {
  // FastCGI 1.0, 3.4: a length below 128 is one byte; otherwise four, big-endian, high bit set.
  const std::pair<uint32_t, Bytes> cases[] = {
      {0, H("00")}, {1, H("01")}, {127, H("7f")}, {128, H("80 00 00 80")}, {300, H("80 00 01 2c")},
      {65535, H("80 00 ff ff")}, {0x7fffffff, H("ff ff ff ff")},
  };
  for (const auto& [n, want] : cases) {
    Bytes out(4, 0xEE);
    size_t w = fcgi::WritePairLength(out.data(), n);
    CHECK_EQ(w, want.size());
    CHECK_EQ(fcgi::PairLengthSize(n), want.size());
    out.resize(w);
    CHECK_BYTES(out, want);
  }
  CHECK_EQ(fcgi::PairSize(0, 0), 2);
  CHECK_EQ(fcgi::PairSize(127, 127), 1 + 1 + 254);
  CHECK_EQ(fcgi::PairSize(128, 0), 4 + 1 + 128);
  CHECK_EQ(fcgi::PairSize(5, 128), 1 + 4 + 5 + 128);
  CHECK_EQ(fcgi::PairSize(0x7fffffff, 0x7fffffff), 8 + 2 * size_t(0x7fffffff));  // no 32-bit wrap
}

TEST(WritePair_LengthsThenNameThenValue) {
  Bytes out(256, 0xEE);
  std::string value(130, 'v');
  size_t n = fcgi::WritePair(out.data(), reinterpret_cast<const uint8_t*>("NAME"), 4,
                             reinterpret_cast<const uint8_t*>(value.data()), 130);
  out.resize(n);
  CHECK_BYTES(out, Cat({H("04 80 00 00 82"), B("NAME"), B(value)}));
  Bytes empty(2, 0xEE);
  CHECK_EQ(fcgi::WritePair(empty.data(), nullptr, 0, nullptr, 0), 2);
  CHECK_BYTES(empty, H("00 00"));
}

TEST(WriteHeader_GoldenBytes) {
  Bytes out(8, 0xEE);
  fcgi::WriteHeader(out.data(), fcgi::kStdout, 0x1234, 0xabcd, 7);
  CHECK_BYTES(out, H("01 06 12 34 ab cd 07 00"));
  fcgi::WriteHeader(out.data(), 255, 0xffff, 65535, 255);
  CHECK_BYTES(out, H("01 ff ff ff ff ff ff 00"));
  CHECK_EQ(fcgi::PaddingFor(0), 0);
  CHECK_EQ(fcgi::PaddingFor(1), 7);
  CHECK_EQ(fcgi::PaddingFor(8), 0);
  CHECK_EQ(fcgi::PaddingFor(65535), 1);
}

TEST(WriteBeginRequest_GoldenBytes) {
  // FastCGI 1.0, 5.1: role u16, flags u8, 5 reserved bytes.
  Bytes out(16, 0xEE);
  fcgi::WriteBeginRequest(out.data(), 1, 1, 1);
  CHECK_BYTES(out, H("01 01 00 01 00 08 00 00  00 01 01 00 00 00 00 00"));
  fcgi::WriteBeginRequest(out.data(), 0xbeef, 3, 0);
  CHECK_BYTES(out, H("01 01 be ef 00 08 00 00  00 03 00 00 00 00 00 00"));
}

TEST(WriteEndRequest_GoldenBytes) {
  // FastCGI 1.0, 5.5: appStatus u32, protocolStatus u8, 3 reserved bytes.
  Bytes out(16, 0xEE);
  fcgi::WriteEndRequest(out.data(), 0x0102, 0xdeadbeef, 3);
  CHECK_BYTES(out, H("01 03 01 02 00 08 00 00  de ad be ef 03 00 00 00"));
  fcgi::WriteEndRequest(out.data(), 1, 0, 0);
  CHECK_BYTES(out, H("01 03 00 01 00 08 00 00  00 00 00 00 00 00 00 00"));
}

TEST(WriteUnknownType_GoldenBytes) {
  // FastCGI 1.0, 4.2: requestId 0, the type byte, 7 reserved bytes.
  Bytes out(16, 0xEE);
  fcgi::WriteUnknownType(out.data(), 0x2a);
  CHECK_BYTES(out, H("01 0b 00 00 00 08 00 00  2a 00 00 00 00 00 00 00"));
}

TEST(WriteAbortRequest_GoldenBytes) {
  Bytes out(9, 0xEE);
  fcgi::WriteAbortRequest(out.data(), 7);
  CHECK_BYTES(out, H("01 02 00 07 00 00 00 00 ee"));
}

TEST(WriteStreamHeaders_RecordsOfAtMost65528_PaddingOnLast_EmptyClose) {
  // FastCGI 1.0, 3.3: a stream is cut into records; the encoder uses 65528 (a multiple of 8) so that only
  // the last record needs padding; the empty record ends the stream.
  struct Case {
    size_t length;
    std::vector<std::pair<uint16_t, uint8_t>> records;  // content length, padding
  };
  std::vector<std::pair<uint16_t, uint8_t>> mib(16, {65528, 0});
  mib.push_back({128, 0});
  const Case cases[] = {
      {0, {}},
      {1, {{1, 7}}},
      {65528, {{65528, 0}}},
      {65529, {{65528, 0}, {1, 7}}},
      {65535, {{65528, 0}, {7, 1}}},
      {1 << 20, mib},
  };
  for (const Case& c : cases) {
    for (bool close : {false, true}) {
      Bytes want;
      auto header = [&](uint16_t len, uint8_t pad) {
        Bytes h = {1, 5, 0x01, 0x02, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len), pad, 0};
        want.insert(want.end(), h.begin(), h.end());
      };
      for (const auto& [len, pad] : c.records) header(len, pad);
      if (close) header(0, 0);
      size_t count = want.size() / 8;
      CHECK_EQ(fcgi::StreamRecordCount(c.length, close), count);
      Bytes out(count * 8 + 8, 0xEE);
      CHECK_EQ(fcgi::WriteStreamHeaders(out.data(), fcgi::kStdin, 0x0102, c.length, close), count);
      CHECK_EQ(out[count * 8], 0xEE);
      out.resize(count * 8);
      CHECK_BYTES(out, want);
    }
  }
}

// The records of an encoded stream, read with the model (not the scanner under test).
std::vector<Record> RecordsOf(const Bytes& encoded) {
  Model m = ModelRecords(encoded);
  CHECK(!m.bad_version && m.on_boundary);
  return m.records;
}

TEST(EncodePairRecords_SmallPairsInOneRecordPaddedTo8ThenClose) {
  std::vector<fcgi::Pair> pairs = {{"A", "1"}, {"SCRIPT_NAME", "/x.php"}, {std::string(130, 'N'), ""}};
  Bytes content = Cat({P("A", "1"), P("SCRIPT_NAME", "/x.php"), P(std::string(130, 'N'), "")});
  Bytes want = Cat({Rec(fcgi::kParams, 9, content, fcgi::PaddingFor(content.size())), Rec(fcgi::kParams, 9, {}, 0)});
  for (size_t i = 8 + content.size(); i < want.size() - 8; i++) want[i] = 0;  // padding is zeros
  CHECK_BYTES(fcgi::EncodePairRecords(fcgi::kParams, 9, pairs, true), want);
  want.resize(want.size() - 8);
  CHECK_BYTES(fcgi::EncodePairRecords(fcgi::kParams, 9, pairs, false), want);
  CHECK_BYTES(fcgi::EncodePairRecords(fcgi::kParams, 9, {}, true), H("01 04 00 09 00 00 00 00"));
  CHECK(fcgi::EncodePairRecords(fcgi::kParams, 9, {}, false).empty());
}

// For each pair of `pairs` encoded back to back, the indexes of the records it touches.
std::vector<std::vector<size_t>> PairPlacement(const std::vector<Record>& records,
                                               const std::vector<fcgi::Pair>& pairs) {
  std::vector<size_t> record_end;
  size_t total = 0;
  for (const Record& r : records) record_end.push_back(total += r.content_length);
  std::vector<std::vector<size_t>> placement;
  size_t at = 0;
  for (const fcgi::Pair& p : pairs) {
    size_t size = fcgi::PairSize(static_cast<uint32_t>(p.name.size()), static_cast<uint32_t>(p.value.size()));
    std::vector<size_t> touched;
    for (size_t r = 0; r < records.size(); r++) {
      size_t begin = r ? record_end[r - 1] : 0;
      if (begin < at + size && record_end[r] > at) touched.push_back(r);
    }
    placement.push_back(touched);
    at += size;
  }
  return placement;
}

void CheckPairStream(const Bytes& encoded, const std::vector<fcgi::Pair>& pairs) {
  std::vector<Record> records = RecordsOf(encoded);
  CHECK(!records.empty() && records.back().content_length == 0);
  Bytes all;
  for (size_t i = 0; i < records.size(); i++) {
    const Record& r = records[i];
    CHECK_EQ(r.type, fcgi::kParams);
    CHECK(r.content_length <= fcgi::kMaxEncodedContent);
    CHECK_EQ(r.padding, fcgi::PaddingFor(r.content_length));
    CHECK(r.content_length > 0 || i + 1 == records.size());
    all.insert(all.end(), r.content.begin(), r.content.end());
  }
  Decoded d = Pairs(all, kWide);
  CHECK_EQ(d.code, pairs.size());
  for (size_t i = 0; i < d.pairs.size() && i < pairs.size(); i++) {
    CHECK(NameOf(all, d.pairs[i]) == pairs[i].name);
    CHECK(ValueOf(all, d.pairs[i]) == pairs[i].value);
  }
}

TEST(EncodePairRecords_NeverSplitsAPairThatFitsInOneRecord) {
  // PHP-FPM rejects a pair split across PARAMS records: a pair that fits in a record starts a new record
  // rather than straddle two.
  std::vector<fcgi::Pair> pairs = {
      {"A", std::string(40000, 'a')},  // 40006 bytes encoded
      {"B", std::string(30000, 'b')},  // 30006: does not fit after A
      {"C", std::string(35000, 'c')},  // 35006: fits after B (65012)
      {"D", std::string(65522, 'd')},  // exactly 65528: a record of its own
      {"E", "e"},
  };
  Bytes encoded = fcgi::EncodePairRecords(fcgi::kParams, 1, pairs, true);
  CheckPairStream(encoded, pairs);
  std::vector<Record> records = RecordsOf(encoded);
  std::vector<std::vector<size_t>> placement = PairPlacement(records, pairs);
  for (size_t i = 0; i < placement.size(); i++) CHECK_EQ(placement[i].size(), 1);
  CHECK_EQ(records.size(), 5);  // [A] [B C] [D] [E] [empty]
  if (records.size() == 5) {
    CHECK_EQ(records[0].content_length, 40006);
    CHECK_EQ(records[1].content_length, 65012);
    CHECK_EQ(records[2].content_length, 65528);
    CHECK_EQ(records[2].padding, 0);
    CHECK_EQ(records[3].content_length, 4);
    CHECK_EQ(records[3].padding, 4);
  }
}

TEST(EncodePairRecords_SplitsOnlyAPairLargerThanARecord) {
  std::vector<fcgi::Pair> pairs = {
      {"S", "small"},
      {"L", std::string(100000, 'L')},  // larger than one record: must be split
      {"T", "tail"},
      {"M", std::string(200000, 'M')},
  };
  Bytes encoded = fcgi::EncodePairRecords(fcgi::kParams, 3, pairs, true);
  CheckPairStream(encoded, pairs);
  std::vector<std::vector<size_t>> placement = PairPlacement(RecordsOf(encoded), pairs);
  CHECK_EQ(placement[0].size(), 1);
  CHECK_EQ(placement[1].size(), 2);
  CHECK_EQ(placement[2].size(), 1);
  CHECK(placement[3].size() >= 4);
}

TEST(ScgiEncodeHeader_ContentLengthThenScgiThenHeaders) {
  // SCGI: CONTENT_LENGTH first, SCGI=1 present; the caller's own copies of the two are skipped.
  Bytes got = scgi::EncodeHeader(12, {{"REQUEST_METHOD", "POST"}, {"CONTENT_LENGTH", "99"}, {"SCGI", "1"}});
  Bytes want = B(std::string("45:CONTENT_LENGTH\0" "12\0SCGI\0" "1\0REQUEST_METHOD\0POST\0,", 49));
  CHECK_BYTES(got, want);
  Bytes none = scgi::EncodeHeader(0, {});
  CHECK_BYTES(none, B(std::string("24:CONTENT_LENGTH\0" "0\0SCGI\0" "1\0,", 28)));
}

TEST(ScgiEncodeHeader_RoundTripsThroughTheDecoders) {
  std::vector<fcgi::Pair> headers = {{"REQUEST_METHOD", "GET"}, {"X", std::string(300, 'x')}, {"EMPTY", ""}};
  Bytes wire = scgi::EncodeHeader(123456789012345ull, headers);
  NetstringReader r = NetstringCut(wire, {}, 1 << 20);
  CHECK(r.done);
  CHECK_EQ(r.body_at, wire.size());
  Decoded d = Headers(r.header);
  CHECK_EQ(d.code, 5);
  CHECK_EQ(d.content_length, 123456789012345ull);
  if (d.code == 5) CHECK(ValueOf(r.header, d.pairs[3]) == std::string(300, 'x'));
}

// =================================================================================================
// ScanRecords
// =================================================================================================

TEST(ScanRecords_FramesEveryRecordType1To11) {
  Bytes stream;
  for (uint8_t type = 1; type <= 11; type++) {
    uint16_t id = type >= 9 ? 0 : type;
    Bytes content = Fill(type * 3, type);
    stream = Cat({stream, Rec(type, id, content, type % 8)});
  }
  RecordReader r = ScanCut(stream, {}, 64, true);
  CHECK_EQ(r.error, 0);
  CompareRecords(ModelRecords(stream).records, r.records, true, "types 1..11");
  CHECK_EQ(r.records.size(), 11);
  for (size_t i = 0; i < r.records.size(); i++) CHECK_EQ(r.records[i].type, i + 1);
  CHECK_EQ(r.state[fcgi::kStPhase], fcgi::kPhaseHeader);
  CHECK_EQ(r.state[fcgi::kStConsumed], stream.size());
}

TEST(ScanRecords_UnknownTypeIsFramedNotAnError) {
  // FastCGI 1.0, 4.2: an unknown type is answered with UNKNOWN_TYPE, so it must be framed like any record
  // (fastcgi-stream threw on one and killed the process).
  for (uint8_t type : {0, 12, 255}) {
    Bytes stream = Cat({Rec(type, 0, Fill(10, 1), 6), Rec(fcgi::kStdin, 1, B("after"), 3)});
    RecordReader r = ScanCut(stream, {}, 16, true);
    CHECK_EQ(r.error, 0);
    CHECK_EQ(r.records.size(), 2);
    CompareRecords(ModelRecords(stream).records, r.records, true, "unknown type " + std::to_string(type));
  }
}

TEST(ScanRecords_BadVersionFailsAndStaysFailed) {
  // FastCGI 1.0, 3.3: version is 1; anything else is a protocol error, and the connection cannot resync.
  for (uint8_t version : {0, 2}) {
    Bytes stream = Cat({Rec(fcgi::kParams, 1, B("ok"), 0), Rec(fcgi::kStdin, 1, B("x"), 0, version)});
    int32_t state[fcgi::kStateSize] = {};
    uint32_t out[8 * fcgi::kFragmentWords];
    Guarded g(stream);
    // The PARAMS fragment before the bad header is still reported; the fault comes with the next call.
    CHECK_EQ(fcgi::ScanRecords(g.data(), stream.size(), 0, state, out, 8), 1);
    CHECK_EQ(state[fcgi::kStPhase], fcgi::kPhaseFailed);
    CHECK_EQ(state[fcgi::kStError], cgiwire::kBadVersion);
    CHECK_EQ(fcgi::ScanRecords(g.data(), stream.size(), 0, state, out, 8), cgiwire::kBadVersion);
    Bytes good = Rec(fcgi::kStdin, 1, B("more"), 0);
    CHECK_EQ(fcgi::ScanRecords(good.data(), good.size(), 0, state, out, 8), cgiwire::kBadVersion);
    CHECK_EQ(state[fcgi::kStPhase], fcgi::kPhaseFailed);
    // Cut inside the bad header: the error comes once its 8 bytes are in, whatever the split.
    for (size_t cut = 0; cut <= stream.size(); cut++) {
      RecordReader r = ScanCut(stream, {cut}, 8, true);
      CHECK_EQ(r.error, cgiwire::kBadVersion);
    }
  }
}

TEST(ScanRecords_LargestRecordFramedThenNextFound) {
  // 8 + 65535 + 255: contentLength plus padding overflowed a 16-bit accumulator in a real client (HAProxy
  // 2026); length arithmetic is 32-bit here.
  Bytes big = Fill(65535, 3);
  Bytes stream = Cat({Rec(fcgi::kStdin, 1, big, 255), Rec(fcgi::kStdin, 1, B("next"), 4), Rec(fcgi::kStdin, 1, {}, 0)});
  CHECK_EQ(stream.size(), 8 + 65535 + 255 + 8 + 4 + 4 + 8);
  Model want = ModelRecords(stream);
  for (size_t capacity : {1, 64}) {
    RecordReader r = ScanCut(stream, {}, capacity, true);
    CHECK_EQ(r.error, 0);
    CompareRecords(want.records, r.records, true, "largest record");
    if (r.records.size() == 3) {
      CHECK_EQ(r.records[0].content_length, 65535);
      CHECK_EQ(r.records[0].padding, 255);
      CHECK(r.records[1].content == B("next"));
    }
  }
  for (size_t cut : {size_t(7), size_t(8), size_t(9), size_t(8 + 65535), size_t(8 + 65535 + 254),
                     size_t(8 + 65535 + 255), size_t(8 + 65535 + 256)}) {
    CompareRecords(want.records, ScanCut(stream, {cut}, 64, true).records, true, "largest record, cut");
  }
}

TEST(ScanRecords_EmptyRecordIsOneZeroLengthFragmentFirstLast) {
  for (uint8_t padding : {0, 5}) {
    Bytes stream = Rec(fcgi::kParams, 0x0304, {}, padding);
    int32_t state[fcgi::kStateSize] = {};
    uint32_t out[4 * fcgi::kFragmentWords];
    Guarded g(stream);
    CHECK_EQ(fcgi::ScanRecords(g.data(), stream.size(), 0, state, out, 4), 1);
    CHECK_EQ(out[0], fcgi::kParams | (fcgi::kFragFirst | fcgi::kFragLast) << 8 | 0x0304u << 16);
    CHECK_EQ(out[1], 8);
    CHECK_EQ(out[2], 0);
    CHECK_EQ(out[3], uint32_t(padding) << 16);
    CHECK_EQ(state[fcgi::kStConsumed], stream.size());
    CHECK_EQ(state[fcgi::kStPhase], fcgi::kPhaseHeader);
  }
}

TEST(ScanRecords_FragmentWordsLayout) {
  Bytes stream = Rec(fcgi::kStdout, 0xa1b2, B("hello"), 3);
  int32_t state[fcgi::kStateSize] = {};
  uint32_t out[4 * fcgi::kFragmentWords];
  CHECK_EQ(fcgi::ScanRecords(stream.data(), 10, 0, state, out, 4), 1);
  CHECK_EQ(out[0], fcgi::kStdout | fcgi::kFragFirst << 8 | 0xa1b2u << 16);
  CHECK_EQ(out[1], 8);
  CHECK_EQ(out[2], 2);
  CHECK_EQ(out[3], 5u | 3u << 16);
  CHECK_EQ(state[fcgi::kStPhase], fcgi::kPhaseContent);
  CHECK_EQ(state[fcgi::kStContentLeft], 3);
  CHECK_EQ(fcgi::ScanRecords(stream.data(), stream.size(), 10, state, out, 4), 1);
  CHECK_EQ(out[0], fcgi::kStdout | fcgi::kFragLast << 8 | 0xa1b2u << 16);
  CHECK_EQ(out[1], 10);
  CHECK_EQ(out[2], 3);
  CHECK_EQ(state[fcgi::kStConsumed], stream.size());
}

// A stream with every shape of record: empty, padded, unpadded, unknown type, management, id 0xffff.
Bytes MixedStream() {
  return Cat({
      Rec(fcgi::kGetValues, 0, P("FCGI_MPXS_CONNS", ""), 7),
      Rec(fcgi::kBeginRequest, 1, H("00 01 01 00 00 00 00 00"), 0),
      Rec(fcgi::kParams, 1, Cat({P("REQUEST_METHOD", "POST"), P("X", std::string(200, 'x'))}), 3),
      Rec(fcgi::kParams, 1, {}, 0),
      Rec(fcgi::kStdin, 1, Fill(300, 9), 0),
      Rec(fcgi::kStdin, 1, B("z"), 255),
      Rec(77, 0, Fill(8, 1), 0),
      Rec(fcgi::kStdin, 1, {}, 5),
      Rec(fcgi::kBeginRequest, 0xffff, H("00 02 00 00 00 00 00 00"), 0),
      Rec(fcgi::kAbortRequest, 0xffff, {}, 0),
      Rec(fcgi::kData, 0xffff, Fill(64, 200), 1),
  });
}

// Every fragment word of one chunk, scanned with `capacity` and resumed from state[kStConsumed].
std::vector<uint32_t> Fragments(const Bytes& chunk, size_t capacity) {
  int32_t state[fcgi::kStateSize] = {};
  std::vector<uint32_t> out(capacity * fcgi::kFragmentWords), all;
  size_t pos = 0;
  do {
    int32_t n = fcgi::ScanRecords(chunk.data(), chunk.size(), pos, state, out.data(), capacity);
    CHECK(n >= 0);
    if (n < 0) break;
    all.insert(all.end(), out.begin(), out.begin() + n * fcgi::kFragmentWords);
    CHECK(n > 0 || static_cast<size_t>(state[fcgi::kStConsumed]) == chunk.size());
    pos = static_cast<size_t>(state[fcgi::kStConsumed]);
  } while (pos < chunk.size());
  return all;
}

TEST(ScanRecords_CapacityOneResumesToTheSameFragments) {
  // One fragment per call: the caller calls again from state[kStConsumed] and gets the same fragments.
  Bytes stream = MixedStream();
  std::vector<uint32_t> at_once = Fragments(stream, 256);
  CHECK_EQ(at_once.size(), 11 * fcgi::kFragmentWords);
  for (size_t capacity : {1, 2, 3})
    CHECK(Fragments(stream, capacity) == at_once);
  RecordReader whole = ScanCut(stream, {}, 256, true);
  RecordReader one = ScanCut(stream, {}, 1, true);
  CHECK_EQ(whole.error, 0);
  CHECK_EQ(one.error, 0);
  CompareRecords(ModelRecords(stream).records, whole.records, true, "whole");
  CompareRecords(whole.records, one.records, true, "capacity 1");
  CHECK(one.calls >= one.records.size());
  for (size_t cut = 0; cut <= stream.size(); cut += 7)
    CompareRecords(whole.records, ScanCut(stream, {cut}, 1, true).records, true, "capacity 1, split");
}

TEST(ScanRecords_AnySplitGivesTheSameRecords) {
  Bytes stream = MixedStream();
  std::vector<Record> want = ModelRecords(stream).records;
  for (size_t cut = 0; cut <= stream.size(); cut++) {
    RecordReader r = ScanCut(stream, {cut}, 256, true);
    CHECK_EQ(r.error, 0);
    CompareRecords(want, r.records, true, "split at " + std::to_string(cut));
    CHECK(!r.open);
  }
  CompareRecords(want, ScanCut(stream, EveryByte(stream.size()), 256, true).records, true, "byte at a time");
  CompareRecords(want, ScanCut(stream, EveryByte(stream.size()), 1, true).records, true, "byte at a time, cap 1");
  for (int i = 0; i < 500; i++) {
    std::vector<size_t> cuts;
    for (int k = Rand() % 6; k > 0; k--) cuts.push_back(Rand() % (stream.size() + 1));
    std::sort(cuts.begin(), cuts.end());
    size_t capacity = 1 + Rand() % 4;
    CompareRecords(want, ScanCut(stream, cuts, capacity, true).records, true, "random cuts");
  }
}

TEST(ScanRecords_StreamEndingMidRecordKeepsItsState) {
  Bytes stream = MixedStream();
  std::vector<Record> all = ModelRecords(stream).records;
  for (size_t end = 0; end <= stream.size(); end++) {
    Bytes prefix(stream.begin(), stream.begin() + end);
    Guarded g(prefix);
    RecordReader r(256, true);
    r.Feed(g.data(), prefix.size(), 0, 0);
    CHECK_EQ(r.error, 0);
    std::vector<Record> want = ModelRecords(prefix).records;
    CompareRecords(want, r.records, true, "prefix of " + std::to_string(end));
    if (r.open) {  // the open record's content so far is a prefix of the whole record's
      const Record& full = all[r.records.size()];
      CHECK(r.partial.content.size() < full.content.size());
      CHECK(std::equal(r.partial.content.begin(), r.partial.content.end(), full.content.begin()));
    }
  }
}

TEST(ScanRecords_WrappedStdinLengthFailsTheConnection) {
  // HAProxy 2026 with tune.bufsize > 65536: a 65536-byte STDIN record written with length 0 ends STDIN early
  // and the body is read as records; its first byte is no version 1, so the stream fails cleanly.
  Bytes body = Fill(65536, 0xa5);
  Bytes stream = Cat({Rec(fcgi::kStdin, 1, {}, 0), body});
  RecordReader r = ScanCut(stream, {}, 64, true);
  CHECK_EQ(r.error, cgiwire::kBadVersion);
  // The early end of STDIN is delivered, whatever the chunking; nothing of the body becomes a record.
  CHECK_EQ(r.records.size(), 1);
}

// =================================================================================================
// Fixtures captured from real servers (test/fixtures/README.md)
// =================================================================================================

Bytes ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

bool IsScgi(const Bytes& d) {
  size_t i = 0;
  while (i < d.size() && d[i] >= '0' && d[i] <= '9') i++;
  return i > 0 && i < d.size() && d[i] == ':';
}

// Decodes each request's PARAMS stream: the PARAMS content of one request id concatenated up to its empty
// PARAMS record (FastCGI 1.0, 6.2); an id is used again after its request ends (BEGIN_REQUEST starts anew).
// Also the GET_VALUES content (HAProxy). Returns the number of streams decoded.
size_t DecodeFixtureParams(const std::vector<Record>& records) {
  fcgi::NameTable table(kKnownNames);
  std::map<uint32_t, Bytes> open;
  size_t streams = 0;
  auto decode = [&](const Bytes& params) {
    Decoded d = Pairs(params, kWide, &table);
    CHECK(d.code > 0);
    if (d.code <= 0) return;
    Bytes again;
    for (const DecodedPair& p : d.pairs) {
      std::string name = NameOf(params, p), value = ValueOf(params, p);
      CHECK_EQ(p.id, ExpectedId(kKnownNames, name));
      again = Cat({again, P(name, value)});
    }
    CHECK_BYTES(again, params);  // every front end writes the shortest length prefixes
    CHECK_EQ(d.shape, ShapeOf(d.pairs));
    streams++;
  };
  for (const Record& r : records) {
    if (r.type == fcgi::kBeginRequest) {
      CHECK(open.count(r.id) == 0);
      open[r.id] = Bytes();
    } else if (r.type == fcgi::kParams) {
      auto it = open.find(r.id);
      CHECK(it != open.end());
      if (it == open.end()) continue;
      if (r.content_length == 0) {
        decode(it->second);
        open.erase(it);
      } else {
        it->second.insert(it->second.end(), r.content.begin(), r.content.end());
      }
    } else if (r.type == fcgi::kGetValues) {
      decode(r.content);
    }
  }
  CHECK(open.empty());
  return streams;
}

void CheckFastcgiFixture(const std::string& name, const Bytes& data) {
  Model model = ModelRecords(data);
  CHECK(!model.bad_version);
  CHECK(model.on_boundary);
  RecordReader whole = ScanCut(data, {}, 256, true);
  CHECK_EQ(whole.error, 0);
  CHECK(!whole.open);
  CHECK_EQ(whole.state[fcgi::kStPhase], fcgi::kPhaseHeader);
  CHECK_EQ(whole.state[fcgi::kStHeaderFill], 0);
  CompareRecords(model.records, whole.records, true, name + " whole");
  CompareRecords(whole.records, ScanCut(data, EveryByte(data.size()), 256, true).records, true,
                 name + " byte at a time");
  CompareRecords(whole.records, ScanCut(data, {}, 1, false).records, false, name + " capacity 1");
  for (size_t cut : SplitPoints(data.size()))
    CompareRecords(whole.records, ScanCut(data, {cut}, 256, false).records, false,
                   name + " split at " + std::to_string(cut));
  size_t streams = DecodeFixtureParams(whole.records);
  if (name.rfind("php-fpm-response", 0) == 0) {
    CHECK_EQ(streams, 0);
  } else {
    CHECK(streams >= 1);
  }
}

void CheckScgiFixture(const std::string& name, const Bytes& data) {
  NetstringReader whole = NetstringCut(data, {}, 1 << 20);
  CHECK(whole.done);
  CHECK_EQ(whole.error, 0);
  NetstringReader bytewise = NetstringCut(data, EveryByte(std::min(data.size(), whole.body_at + 8)), 1 << 20, 1);
  CHECK(bytewise.done && bytewise.header == whole.header && bytewise.body_at == whole.body_at);
  for (size_t cut : SplitPoints(whole.body_at)) {
    NetstringReader r = NetstringCut(data, {cut}, 1 << 20);
    if (!(r.done && r.header == whole.header && r.body_at == whole.body_at))
      Report(__FILE__, __LINE__, name + ": netstring split at " + std::to_string(cut) + " differs");
  }
  fcgi::NameTable table(kKnownNames);
  Decoded d = Headers(whole.header, kWide, &table);
  CHECK(d.code >= 2);
  CHECK_EQ(d.content_length, data.size() - whole.body_at);
  if (d.code >= 2) CHECK(NameOf(whole.header, d.pairs[0]) == "CONTENT_LENGTH");
  for (const DecodedPair& p : d.pairs) CHECK_EQ(p.id, ExpectedId(kKnownNames, NameOf(whole.header, p)));
  CHECK_EQ(d.shape, ShapeOf(d.pairs));
}

void RegisterFixtures(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 4 && n.compare(n.size() - 4, 4, ".bin") == 0) names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  Tests().push_back({"Fixtures_DirectoryHasCaptures", [dir, count = names.size()] {
                       if (count < 10) Report(__FILE__, __LINE__, "no fixtures found in " + dir);
                     }});
  for (const std::string& n : names) {
    std::string path = dir + "/" + n;
    Tests().push_back({"Fixture_" + n, [n, path] {
                         Bytes data = ReadFile(path);
                         CHECK(!data.empty());
                         if (IsScgi(data)) {
                           CheckScgiFixture(n, data);
                         } else {
                           CheckFastcgiFixture(n, data);
                         }
                       }});
  }
}

// =================================================================================================
// DecodePairs and NameTable
// =================================================================================================

TEST(DecodePairs_OneAndFourByteLengths) {
  std::string long_name(200, 'n'), long_value(70000, 'v');
  Bytes in = Cat({P("A", "1"), P(long_name, "x"), P("B", long_value), P("", ""),
                  Cat({EncodedLength(3, true), EncodedLength(2, true), B("ABCde")})});
  Decoded d = Pairs(in);
  CHECK_EQ(d.code, 5);
  if (d.code != 5) return;
  CHECK(NameOf(in, d.pairs[0]) == "A" && ValueOf(in, d.pairs[0]) == "1");
  CHECK_EQ(d.pairs[0].name_at, 2);
  CHECK_EQ(d.pairs[0].value_at, 3);
  CHECK(NameOf(in, d.pairs[1]) == long_name && ValueOf(in, d.pairs[1]) == "x");
  CHECK_EQ(d.pairs[1].name_at, 4 + 4 + 1);
  CHECK(NameOf(in, d.pairs[2]) == "B" && ValueOf(in, d.pairs[2]) == long_value);
  CHECK_EQ(d.pairs[3].name_len, 0);
  CHECK_EQ(d.pairs[3].value_len, 0);
  CHECK(NameOf(in, d.pairs[4]) == "ABC" && ValueOf(in, d.pairs[4]) == "de");  // 4-byte form of a short length
  CHECK_EQ(d.shape, ShapeOf(d.pairs));
}

TEST(DecodePairs_OffsetsAreAbsoluteInBuf) {
  Bytes in = Cat({B("garbage!"), P("NAME", "value"), B("tail")});
  std::vector<uint32_t> out(4 * fcgi::kPairWords);
  uint32_t shape = 0;
  CHECK_EQ(fcgi::DecodePairs(in.data(), 8, in.size() - 4, kWide, nullptr, out.data(), 4, &shape), 1);
  CHECK_EQ(out[0], 10);
  CHECK_EQ(out[1], 14);
  CHECK_EQ(out[2], 5);
  CHECK_EQ(out[3], 4);
  CHECK_EQ(shape, fcgi::ShapeStep(fcgi::kShapeSeed, 0));
}

TEST(DecodePairs_EmptyStreamIsZeroPairs) {
  Decoded d = Pairs({});
  CHECK_EQ(d.code, 0);
  CHECK_EQ(d.shape, fcgi::kShapeSeed);
}

TEST(DecodePairs_ParamsTooLarge) {
  Bytes in = Cat({P("A", "12345"), P("B", "6")});  // 8 + 4 bytes
  PairLimits l = kWide;
  l.max_bytes = 12;
  CHECK_EQ(Pairs(in, l).code, 2);
  l.max_bytes = 11;
  CHECK_EQ(Pairs(in, l).code, cgiwire::kParamsTooLarge);
  l.max_bytes = 0;
  CHECK_EQ(Pairs({}, l).code, 0);
  CHECK_EQ(Pairs(H("00"), l).code, cgiwire::kParamsTooLarge);
}

TEST(DecodePairs_ParamsTooMany) {
  Bytes in;
  for (int i = 0; i < 10; i++) in = Cat({in, P("N" + std::to_string(i), "v")});
  PairLimits l = kWide;
  l.max_pairs = 10;
  CHECK_EQ(Pairs(in, l).code, 10);
  l.max_pairs = 9;
  CHECK_EQ(Pairs(in, l).code, cgiwire::kParamsTooMany);
  l.max_pairs = 0;
  CHECK_EQ(Pairs(in, l).code, cgiwire::kParamsTooMany);
  CHECK_EQ(Pairs({}, l).code, 0);
}

TEST(DecodePairs_NeverWritesPastCapacity) {
  // `out` holds exactly `capacity` pairs (ASan guards its end); more pairs than that is an error.
  Bytes in;
  for (int i = 0; i < 10; i++) in = Cat({in, P("N", "v")});
  CHECK_EQ(Pairs(in, kWide, nullptr, 10).code, 10);
  CHECK(Pairs(in, kWide, nullptr, 9).code < 0);
  CHECK(Pairs(in, kWide, nullptr, 1).code < 0);
}

TEST(DecodePairs_ParamNameTooLong) {
  PairLimits l = kWide;
  l.max_name = 4;
  CHECK_EQ(Pairs(P("NAME", "v"), l).code, 1);
  CHECK_EQ(Pairs(P("NAMES", "v"), l).code, cgiwire::kParamNameTooLong);
  // Names are at most 65535 bytes whatever max_name says (offsets pack the length in 16 bits).
  l.max_name = 0xffffffffu;
  CHECK_EQ(Pairs(P(std::string(65535, 'n'), ""), l).code, 1);
  CHECK_EQ(Pairs(P(std::string(65536, 'n'), ""), l).code, cgiwire::kParamNameTooLong);
}

TEST(DecodePairs_ParamValueTooLong) {
  PairLimits l = kWide;
  l.max_value = 5;
  CHECK_EQ(Pairs(P("N", "12345"), l).code, 1);
  CHECK_EQ(Pairs(P("N", "123456"), l).code, cgiwire::kParamValueTooLong);
  l.max_value = 0;
  CHECK_EQ(Pairs(P("N", ""), l).code, 1);
  CHECK_EQ(Pairs(P("N", "1"), l).code, cgiwire::kParamValueTooLong);
}

TEST(DecodePairs_TruncatedAtEveryCutPoint) {
  // Any prefix that ends inside a pair is kPairsTruncated, read only within the prefix (guard page).
  std::vector<std::pair<std::string, std::string>> pairs = {
      {"A", "1"}, {std::string(130, 'N'), "v"}, {"B", std::string(140, 'V')}, {"", ""}, {"C", ""}};
  Bytes in;
  std::vector<size_t> boundaries = {0};
  for (const auto& [n, v] : pairs) {
    in = Cat({in, P(n, v)});
    boundaries.push_back(in.size());
  }
  for (size_t cut = 0; cut <= in.size(); cut++) {
    Decoded d = Pairs(Bytes(in.begin(), in.begin() + cut));
    auto at = std::find(boundaries.begin(), boundaries.end(), cut);
    if (at != boundaries.end()) {
      CHECK_EQ(d.code, at - boundaries.begin());
    } else if (d.code != cgiwire::kPairsTruncated) {
      Report(__FILE__, __LINE__, "cut at " + std::to_string(cut) + ": " + std::to_string(d.code));
    }
  }
}

TEST(DecodePairs_CVE_2025_23016_LengthsNear2pow31AreRefusedNotWrapped) {
  // libfcgi summed two 31-bit lengths in 32 bits and under-allocated: heap overflow. Each length here is
  // checked against what remains, never added; inputs end before a guard page.
  PairLimits all = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
  struct Case {
    Bytes in;
    PairLimits limits;
    int32_t want;
  };
  const Case cases[] = {
      {H("ff ff ff ff ff ff ff ff 41 42"), all, cgiwire::kParamNameTooLong},
      {H("ff ff ff ff ff ff ff ff 41 42"), kWide, cgiwire::kParamNameTooLong},
      {H("01 ff ff ff ff 41 42 43"), all, cgiwire::kPairsTruncated},
      {H("01 ff ff ff ff 41 42 43"), kWide, cgiwire::kParamValueTooLong},
      {H("80 00 ff ff ff ff ff ff 41"), all, cgiwire::kPairsTruncated},
      {H("80 00 ff ff 80 00 00 02 41"), all, cgiwire::kPairsTruncated},
      {H("7f ff ff ff ff"), all, cgiwire::kPairsTruncated},
      {H("ff ff ff ff"), all, cgiwire::kPairsTruncated},
      {H("ff ff ff"), all, cgiwire::kPairsTruncated},
      {Cat({P("A", "b"), H("01 fe ff ff fe 41")}), all, cgiwire::kPairsTruncated},
  };
  for (const Case& c : cases) CHECK_EQ(Pairs(c.in, c.limits, nullptr, 16).code, c.want);
}

TEST(NameTable_IdsOneBasedInListOrder_ZeroUnknown_RepeatKeepsFirst) {
  std::vector<std::string> list = {"REQUEST_METHOD", "A", "REQUEST_METHOD", "", "HTTP_X_A_VERY_LONG_HEADER_NAME",
                                   "HTTP_X_A_VERY_LONG_HEADER_NAMF", "12345678", "1234567812345678"};
  fcgi::NameTable t(list);
  CHECK_EQ(t.size(), list.size());
  auto find = [&](const std::string& s) {
    return t.Find(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  CHECK_EQ(find("REQUEST_METHOD"), 1);
  CHECK_EQ(find("A"), 2);
  CHECK_EQ(find(""), 4);
  CHECK_EQ(find("HTTP_X_A_VERY_LONG_HEADER_NAME"), 5);
  CHECK_EQ(find("HTTP_X_A_VERY_LONG_HEADER_NAMF"), 6);
  CHECK_EQ(find("12345678"), 7);
  CHECK_EQ(find("1234567812345678"), 8);
  // Same length, same first and last eight bytes, different middle.
  CHECK_EQ(find("HTTP_X_A_VERY_LONG_HEADEX_NAME"), 0);
  CHECK_EQ(find("REQUEST_METHOd"), 0);
  CHECK_EQ(find("REQUEST_METHOD "), 0);
  CHECK_EQ(find(std::string("\0A", 2)), 0);
  CHECK_EQ(find("B"), 0);
  CHECK_EQ(find("1234567"), 0);
  CHECK_EQ(find("123456781234567"), 0);
  fcgi::NameTable empty({});
  CHECK_EQ(empty.Find(reinterpret_cast<const uint8_t*>("A"), 1), 0);
  // A name too long to be reported (over 65535 bytes) takes its place in the list but is never found.
  std::string huge(65536, 'h');
  fcgi::NameTable with_huge({huge, "B"});
  CHECK_EQ(with_huge.Find(reinterpret_cast<const uint8_t*>(huge.data()), huge.size()), 0);
  CHECK_EQ(with_huge.Find(reinterpret_cast<const uint8_t*>("B"), 1), 2);
}

TEST(NameTable_ManyNamesAllFound) {
  std::vector<std::string> list;
  for (int i = 0; i < 500; i++) list.push_back("HTTP_X_HEADER_" + std::to_string(i * 7919));
  fcgi::NameTable t(list);
  for (size_t i = 0; i < list.size(); i++)
    CHECK_EQ(t.Find(reinterpret_cast<const uint8_t*>(list[i].data()), list[i].size()), i + 1);
}

TEST(NameTable_IsComparesWithOneKnownName) {
  std::vector<std::string> list = {"REQUEST_METHOD", "HTTP_X_A_VERY_LONG_HEADER_NAME", "SCGI", "REQUEST_METHOD", "AB"};
  fcgi::NameTable t(list);
  auto is = [&](uint32_t id, const std::string& s) {
    return t.Is(id, reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  CHECK(is(1, "REQUEST_METHOD"));
  CHECK(is(2, "HTTP_X_A_VERY_LONG_HEADER_NAME"));
  CHECK(is(3, "SCGI"));
  CHECK(is(5, "AB"));
  CHECK(!is(1, "REQUEST_METHOd"));
  CHECK(!is(2, "HTTP_X_A_VERY_LONG_HEADEX_NAME"));  // only the middle differs
  CHECK(!is(1, "SCGI"));
  CHECK(!is(4, "REQUEST_METHOD"));  // a repeat is never reported: Find gives 1
  CHECK(!is(0, ""));
  CHECK(!is(6, "AB"));
  CHECK(!is(60000, "AB"));
}

TEST(DecodePairs_ExpectedIdsChangeNothingButSpeed) {
  fcgi::NameTable t(kKnownNames);
  Bytes in = Cat({P("REQUEST_METHOD", "GET"), P("X_UNKNOWN", "1"), P("HTTP_HOST", "h"), P("SCGI", "1"),
                  P("REQUEST_METHOD", "again"), P("HTTP_HOST", "x")});
  Decoded plain = Pairs(in, kWide, &t);
  CHECK_EQ(plain.code, 6);
  std::vector<uint16_t> right;
  for (const DecodedPair& p : plain.pairs) right.push_back(static_cast<uint16_t>(p.id));
  std::vector<std::vector<uint16_t>> expectations = {
      right,
      std::vector<uint16_t>(right.begin(), right.begin() + 3),
      [&] { std::vector<uint16_t> v = right; v.push_back(1); v.push_back(2); return v; }(),
      std::vector<uint16_t>(right.rbegin(), right.rend()),
      {1, 1, 1, 1, 1, 1},
      {60000, 0, 65535, 3, 2, 1},
      {},
  };
  Guarded g(in);
  for (const std::vector<uint16_t>& ids : expectations) {
    std::vector<uint32_t> out(64 * fcgi::kPairWords);
    uint32_t shape = 0;
    int32_t n = fcgi::DecodePairs(g.data(), 0, in.size(), kWide, &t, out.data(), 64, &shape,
                                  fcgi::ExpectedIds{ids.data(), ids.size()});
    Decoded d = ToDecoded(n, out, shape);
    CHECK_EQ(d.code, plain.code);
    CHECK_EQ(d.shape, plain.shape);
    for (size_t i = 0; i < d.pairs.size() && i < plain.pairs.size(); i++) {
      CHECK_EQ(d.pairs[i].id, plain.pairs[i].id);
      CHECK_EQ(d.pairs[i].name_at, plain.pairs[i].name_at);
      CHECK_EQ(d.pairs[i].value_len, plain.pairs[i].value_len);
    }
  }
}

TEST(DecodePairs_ShapeIsTheFoldOfShapeStepOverIds) {
  fcgi::NameTable t(kKnownNames);
  Bytes in = Cat({P("REQUEST_METHOD", "GET"), P("X_UNKNOWN", "1"), P("HTTP_HOST", "h"), P("SCGI", "1"),
                  P("REQUEST_METHOD", "again")});
  Decoded d = Pairs(in, kWide, &t);
  CHECK_EQ(d.code, 5);
  uint32_t h = fcgi::kShapeSeed;
  for (uint32_t id : {ExpectedId(kKnownNames, "REQUEST_METHOD"), 0u, ExpectedId(kKnownNames, "HTTP_HOST"),
                      ExpectedId(kKnownNames, "SCGI"), ExpectedId(kKnownNames, "REQUEST_METHOD")})
    h = fcgi::ShapeStep(h, id);
  CHECK_EQ(d.shape, h);
  if (d.code == 5) {
    CHECK_EQ(d.pairs[0].id, 1);
    CHECK_EQ(d.pairs[1].id, 0);
  }
  CHECK_EQ(Pairs(in).shape, fcgi::ShapeStep(fcgi::ShapeStep(fcgi::ShapeStep(fcgi::ShapeStep(
                                fcgi::ShapeStep(fcgi::kShapeSeed, 0), 0), 0), 0), 0));
}

// Pair words with the given known ids (offsets and lengths do not matter to a shape).
std::vector<uint32_t> PairWordsWithIds(const std::vector<uint16_t>& ids) {
  std::vector<uint32_t> words(ids.size() * fcgi::kPairWords, 0);
  for (size_t i = 0; i < ids.size(); i++) words[i * fcgi::kPairWords + 3] = 7u | uint32_t(ids[i]) << 16;
  return words;
}

uint32_t FoldShape(const std::vector<uint16_t>& ids) {
  uint32_t h = fcgi::kShapeSeed;
  for (uint16_t id : ids) h = fcgi::ShapeStep(h, id);
  return h;
}

TEST(ShapeTable_MatchesOnlyTheRegisteredSequence) {
  fcgi::ShapeTable t;
  std::vector<uint16_t> a = {3, 0, 5, 5}, b = {3, 0, 5}, c = {3, 0, 6, 5};
  CHECK_EQ(t.Match(PairWordsWithIds(a).data(), a.size(), FoldShape(a)), 0);
  CHECK_EQ(t.Register(a.data(), a.size()), 1);
  CHECK_EQ(t.Register(a.data(), a.size()), 1);  // registering again gives the same index
  CHECK_EQ(t.Register(b.data(), b.size()), 2);
  CHECK_EQ(t.Match(PairWordsWithIds(a).data(), a.size(), FoldShape(a)), 1);
  CHECK_EQ(t.Match(PairWordsWithIds(b).data(), b.size(), FoldShape(b)), 2);
  CHECK_EQ(t.Match(PairWordsWithIds(c).data(), c.size(), FoldShape(c)), 0);
  // A hash collision must not pass: the ids are compared one by one.
  CHECK_EQ(t.Match(PairWordsWithIds(c).data(), c.size(), FoldShape(a)), 0);
  CHECK_EQ(t.Match(PairWordsWithIds(a).data(), 3, FoldShape(a)), 0);
  std::vector<uint16_t> none;
  CHECK_EQ(t.Match(nullptr, 0, FoldShape(none)), 0);
  CHECK_EQ(t.Register(none.data(), 0), 3);
  CHECK_EQ(t.Match(nullptr, 0, FoldShape(none)), 3);
}

TEST(ShapeTable_FullRefusesMore_ClearForgetsAll) {
  fcgi::ShapeTable t;
  for (uint16_t i = 0; i < fcgi::ShapeTable::kCapacity; i++) {
    std::vector<uint16_t> ids = {i, 1};
    CHECK_EQ(t.Register(ids.data(), ids.size()), i + 1u);
  }
  std::vector<uint16_t> more = {999};
  CHECK_EQ(t.Register(more.data(), more.size()), 0);
  std::vector<uint16_t> first = {0, 1};
  CHECK_EQ(t.Match(PairWordsWithIds(first).data(), 2, FoldShape(first)), 1);
  t.Clear();
  CHECK_EQ(t.Match(PairWordsWithIds(first).data(), 2, FoldShape(first)), 0);
  CHECK_EQ(t.Register(more.data(), more.size()), 1);
}

TEST(ShapeTable_LastIsTheSequenceMatchedLast) {
  fcgi::ShapeTable t;
  CHECK_EQ(t.Last().count, 0);
  std::vector<uint16_t> a = {3, 0, 5}, b = {7};
  t.Register(a.data(), a.size());
  t.Register(b.data(), b.size());
  CHECK_EQ(t.Last().count, 0);
  CHECK_EQ(t.Match(PairWordsWithIds(b).data(), 1, FoldShape(b)), 2);
  CHECK_EQ(t.Last().count, 1);
  CHECK_EQ(t.Last().ids[0], 7);
  std::vector<uint16_t> other = {9, 9};
  CHECK_EQ(t.Match(PairWordsWithIds(other).data(), 2, FoldShape(other)), 0);  // a miss keeps the last one
  CHECK_EQ(t.Last().count, 1);
  CHECK_EQ(t.Match(PairWordsWithIds(a).data(), 3, FoldShape(a)), 1);
  CHECK_EQ(t.Last().count, 3);
  t.Clear();
  CHECK_EQ(t.Last().count, 0);
}

// =================================================================================================
// SCGI: netstring and headers
// =================================================================================================

TEST(ScanNetstring_AcceptsEmptyHeader) {
  Bytes in = B("0:,BODY");
  Guarded g(in);
  int32_t state[scgi::kNsStateSize] = {};
  uint32_t out[4 * fcgi::kFragmentWords];
  CHECK_EQ(scgi::ScanNetstring(g.data(), in.size(), 0, state, 100, out, 4), 1);
  CHECK_EQ(out[0], (fcgi::kFragFirst | fcgi::kFragLast) << 8);
  CHECK_EQ(out[1], 2);
  CHECK_EQ(out[2], 0);
  CHECK_EQ(out[3], 0);
  CHECK_EQ(state[scgi::kNsPhase], scgi::kNsDone);
  CHECK_EQ(state[scgi::kNsConsumed], 3);  // the body begins right after the ','
  CHECK_EQ(NetstringOnce(B("0:,"), 0).first, 1);
}

TEST(ScanNetstring_StopsRightAfterTheComma) {
  Bytes in = B("5:hello,12345");
  NetstringReader r = NetstringCut(in, {}, 100);
  CHECK(r.done);
  CHECK(r.header == B("hello"));
  CHECK_EQ(r.body_at, 8);
  CHECK_EQ(NetstringOnce(in, 5).second, 8);
  CHECK_EQ(NetstringOnce(B("5:hello,"), 5).first, 1);
}

TEST(ScanNetstring_RefusesNonDigit) {
  for (const char* s : {"a:", ":", " 1:x,", "1a:x,", "+1:x,", "-1:x,", "1 :x,"})
    CHECK_EQ(NetstringOnce(B(s), 100).first, cgiwire::kScgiBadNetstring);
}

TEST(ScanNetstring_RefusesLeadingZero) {
  for (const char* s : {"01:x,", "00:,", "007:abcdefg,"}) CHECK_EQ(NetstringOnce(B(s), 100).first, cgiwire::kScgiBadNetstring);
  CHECK_EQ(NetstringOnce(B("10:0123456789,"), 100).first, 1);
}

TEST(ScanNetstring_RefusesLengthOverMaxAsSoonAsDigitsSayIt) {
  // Refused on the digit that crosses the limit, before any ':' arrives.
  CHECK_EQ(NetstringOnce(B("100"), 100).first, 0);
  auto r = NetstringOnce(B("101"), 100);
  CHECK_EQ(r.first, cgiwire::kScgiHeaderTooLarge);
  r = NetstringOnce(B("1000"), 999);
  CHECK_EQ(r.first, cgiwire::kScgiHeaderTooLarge);
  CHECK_EQ(NetstringOnce(B("1"), 0).first, cgiwire::kScgiHeaderTooLarge);
  // One digit per chunk: the third chunk fails.
  int32_t state[scgi::kNsStateSize] = {};
  uint32_t out[4 * fcgi::kFragmentWords];
  const uint8_t d1[] = {'1'}, d0[] = {'0'}, d2[] = {'2'};
  CHECK_EQ(scgi::ScanNetstring(d1, 1, 0, state, 100, out, 4), 0);
  CHECK_EQ(scgi::ScanNetstring(d0, 1, 0, state, 100, out, 4), 0);
  CHECK_EQ(scgi::ScanNetstring(d2, 1, 0, state, 100, out, 4), cgiwire::kScgiHeaderTooLarge);
  CHECK_EQ(state[scgi::kNsPhase], scgi::kNsFailed);
}

TEST(ScanNetstring_RefusesLengthOverflowing32Bits) {
  for (uint32_t max : {0x7fffffffu, 0xffffffffu}) {
    CHECK_EQ(NetstringOnce(B("4294967296:"), max).first, cgiwire::kScgiHeaderTooLarge);
    CHECK_EQ(NetstringOnce(B("42949672950:"), max).first, cgiwire::kScgiHeaderTooLarge);
    CHECK_EQ(NetstringOnce(B("99999999999999999999999999:"), max).first, cgiwire::kScgiHeaderTooLarge);
    CHECK_EQ(NetstringOnce(B("18446744073709551616:"), max).first, cgiwire::kScgiHeaderTooLarge);
  }
  // The largest length the limit allows is accepted and reported whole in word [3].
  Guarded g(B("4294967295:ab"));
  int32_t state[scgi::kNsStateSize] = {};
  uint32_t out[4 * fcgi::kFragmentWords];
  CHECK_EQ(scgi::ScanNetstring(g.data(), 13, 0, state, 0xffffffffu, out, 4), 1);
  CHECK_EQ(out[2], 2);
  CHECK_EQ(out[3], 0xffffffffu);
  CHECK_EQ(out[0], fcgi::kFragFirst << 8);
}

TEST(ScanNetstring_RefusesMissingColon) {
  for (const std::string& s : {std::string("12,"), std::string("3;abc,"), std::string("3abc,"), std::string("3\0abc,", 6)})
    CHECK_EQ(NetstringOnce(B(s), 100).first, cgiwire::kScgiBadNetstring);
}

TEST(ScanNetstring_RefusesMissingComma) {
  for (const char* s : {"3:abc;", "3:abcd", "0:;", "3:abc\n"}) {
    auto r = NetstringOnce(B(s), 100);
    CHECK_EQ(r.first, cgiwire::kScgiBadNetstring);
  }
}

TEST(ScanNetstring_FailureIsSticky) {
  int32_t state[scgi::kNsStateSize] = {};
  uint32_t out[4 * fcgi::kFragmentWords];
  Bytes bad = B("x"), good = B("3:abc,");
  CHECK_EQ(scgi::ScanNetstring(bad.data(), 1, 0, state, 100, out, 4), cgiwire::kScgiBadNetstring);
  CHECK_EQ(scgi::ScanNetstring(good.data(), good.size(), 0, state, 100, out, 4), cgiwire::kScgiBadNetstring);
  CHECK_EQ(state[scgi::kNsError], cgiwire::kScgiBadNetstring);
}

TEST(ScanNetstring_AnySplitGivesTheSameHeader) {
  Bytes header = Hdr({{"CONTENT_LENGTH", "4"}, {"SCGI", "1"}, {"REQUEST_METHOD", "POST"}});
  Bytes in = Cat({B(std::to_string(header.size()) + ":"), header, B(",BODY")});
  NetstringReader whole = NetstringCut(in, {}, 1000);
  CHECK(whole.done && whole.header == header && whole.body_at == in.size() - 4);
  for (size_t capacity : {1, 16}) {
    for (size_t cut = 0; cut <= in.size(); cut++) {
      NetstringReader r = NetstringCut(in, {cut}, 1000, capacity);
      if (!(r.done && r.header == header && r.body_at == whole.body_at))
        Report(__FILE__, __LINE__, "split at " + std::to_string(cut));
    }
    NetstringReader r = NetstringCut(in, EveryByte(in.size()), 1000, capacity);
    CHECK(r.done && r.header == header && r.body_at == whole.body_at);
  }
  for (const char* bad : {"01:", "2:ab;", "x", "1001:"}) {  // errors too, whatever the split
    Bytes b = B(bad);
    int32_t want = NetstringOnce(b, 1000).first;
    CHECK(want < 0);
    for (size_t cut = 0; cut <= b.size(); cut++) CHECK_EQ(NetstringCut(b, {cut}, 1000).error, want);
  }
}

Bytes MinimalHeader() { return Hdr({{"CONTENT_LENGTH", "27"}, {"SCGI", "1"}}); }

TEST(DecodeHeaders_AcceptsTheProtocolExample) {
  // The example of the SCGI protocol description.
  Bytes in = Hdr({{"CONTENT_LENGTH", "27"}, {"SCGI", "1"}, {"REQUEST_METHOD", "POST"},
                  {"REQUEST_URI", "/deepthought"}});
  fcgi::NameTable t(kKnownNames);
  Decoded d = Headers(in, kWide, &t);
  CHECK_EQ(d.code, 4);
  CHECK_EQ(d.content_length, 27);
  if (d.code != 4) return;
  CHECK_EQ(d.pairs[0].name_at, 0);
  CHECK_EQ(d.pairs[0].name_len, 14);
  CHECK_EQ(d.pairs[0].value_at, 15);
  CHECK_EQ(d.pairs[0].value_len, 2);
  CHECK(NameOf(in, d.pairs[3]) == "REQUEST_URI" && ValueOf(in, d.pairs[3]) == "/deepthought");
  CHECK_EQ(d.pairs[2].id, ExpectedId(kKnownNames, "REQUEST_METHOD"));
  CHECK_EQ(d.shape, ShapeOf(d.pairs));
  CHECK_EQ(Headers(MinimalHeader()).code, 2);
  CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTH", "0"}, {"X", ""}, {"SCGI", "1"}})).code, 3);
}

TEST(DecodeHeaders_RefusesFirstHeaderNotContentLength) {
  CHECK_EQ(Headers(Hdr({{"SCGI", "1"}, {"CONTENT_LENGTH", "0"}})).code, cgiwire::kScgiNoContentLength);
  CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTh", "0"}, {"SCGI", "1"}})).code, cgiwire::kScgiNoContentLength);
  CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTH_", "0"}, {"SCGI", "1"}})).code, cgiwire::kScgiNoContentLength);
  CHECK_EQ(Headers({}).code, cgiwire::kScgiNoContentLength);
}

TEST(DecodeHeaders_RefusesContentLengthNotPlainDecimal) {
  for (const char* v : {"", "x", "1x", "-1", "+1", " 1", "1 ", "01", "00", "1234567890123456", "0x10"})
    CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTH", v}, {"SCGI", "1"}})).code, cgiwire::kScgiBadContentLength);
  Decoded d = Headers(Hdr({{"CONTENT_LENGTH", "999999999999999"}, {"SCGI", "1"}}));  // 15 digits: exact in JS
  CHECK_EQ(d.code, 2);
  CHECK_EQ(d.content_length, 999999999999999ull);
  d = Headers(Hdr({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}}));
  CHECK_EQ(d.code, 2);
  CHECK_EQ(d.content_length, 0);
}

TEST(DecodeHeaders_RefusesMissingScgiOrScgiNotOne) {
  CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTH", "0"}})).code, cgiwire::kScgiNoScgi);
  CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTH", "0"}, {"X", "1"}})).code, cgiwire::kScgiNoScgi);
  for (const char* v : {"", "0", "2", "11", "1 ", "01"})
    CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTH", "0"}, {"SCGI", v}})).code, cgiwire::kScgiNoScgi);
  CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTH", "0"}, {"scgi", "1"}})).code, cgiwire::kScgiNoScgi);
}

TEST(DecodeHeaders_RefusesRepeatedName) {
  CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"A", "1"}, {"A", "2"}})).code,
           cgiwire::kScgiDuplicateHeader);
  CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"CONTENT_LENGTH", "0"}})).code,
           cgiwire::kScgiDuplicateHeader);
  CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"SCGI", "1"}})).code,
           cgiwire::kScgiDuplicateHeader);
  CHECK_EQ(Headers(Hdr({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"A", "1"}, {"a", "2"}, {"AA", ""}})).code, 5);
  // Past the 512 pairs that fit the on-stack set: the heap set finds the repeat too.
  Bytes many = MinimalHeader();
  for (int i = 0; i < 3000; i++) {
    Bytes h = Hdr({{"X_" + std::to_string(i), "v"}});
    many.insert(many.end(), h.begin(), h.end());
  }
  CHECK_EQ(Headers(many).code, 3002);
  CHECK_EQ(Headers(Cat({many, Hdr({{"X_1234", "again"}})})).code, cgiwire::kScgiDuplicateHeader);
}

TEST(DecodeHeaders_AcceptsRepeatedHttpNameAsNginxSendsIt) {
  CHECK_EQ(Headers(Cat({MinimalHeader(), Hdr({{"HTTP_X_REP", "one"}, {"HTTP_X_REP", "two"}})})).code, 4);
  CHECK_EQ(Headers(Cat({MinimalHeader(), Hdr({{"HTTP_", "a"}, {"HTTP_", "b"}})})).code, cgiwire::kScgiDuplicateHeader);
}

TEST(DecodeHeaders_RefusesEmptyName) {
  CHECK_EQ(Headers(Cat({MinimalHeader(), Hdr({{"", "v"}})})).code, cgiwire::kScgiBadHeader);
  CHECK_EQ(Headers(Cat({Hdr({{"", "0"}}), MinimalHeader()})).code, cgiwire::kScgiBadHeader);
}

TEST(DecodeHeaders_RefusesMissingNul) {
  // Inputs end before a guard page: the search for the NUL must stop at `end`.
  CHECK_EQ(Headers(Cat({MinimalHeader(), B("NAME")})).code, cgiwire::kScgiBadHeader);
  CHECK_EQ(Headers(Cat({MinimalHeader(), B("NAME"), H("00")})).code, cgiwire::kScgiBadHeader);
  CHECK_EQ(Headers(Cat({MinimalHeader(), B("NAME"), H("00"), B("value")})).code, cgiwire::kScgiBadHeader);
  CHECK_EQ(Headers(B("CONTENT_LENGTH")).code, cgiwire::kScgiBadHeader);
  // A NUL just past `end` does not count.
  Bytes in = Cat({MinimalHeader(), B("N"), H("00"), B("v"), H("00")});
  std::vector<uint32_t> out(16 * fcgi::kPairWords);
  uint32_t shape;
  uint64_t length;
  CHECK_EQ(scgi::DecodeHeaders(in.data(), 0, in.size() - 1, kWide, nullptr, out.data(), 16, &shape, &length),
           cgiwire::kScgiBadHeader);
}

TEST(DecodeHeaders_Limits) {
  Bytes in = Hdr({{"CONTENT_LENGTH", "5"}, {"SCGI", "1"}, {"NAME", "12345"}});
  PairLimits l = kWide;
  l.max_bytes = static_cast<uint32_t>(in.size());
  CHECK_EQ(Headers(in, l).code, 3);
  l.max_bytes--;
  CHECK_EQ(Headers(in, l).code, cgiwire::kScgiHeaderTooLarge);
  l = kWide;
  l.max_pairs = 3;
  CHECK_EQ(Headers(in, l).code, 3);
  l.max_pairs = 2;
  CHECK_EQ(Headers(in, l).code, cgiwire::kParamsTooMany);
  CHECK(Headers(in, kWide, nullptr, 2).code < 0);
  l = kWide;
  l.max_name = 14;
  CHECK_EQ(Headers(in, l).code, 3);
  l.max_name = 13;
  CHECK_EQ(Headers(in, l).code, cgiwire::kParamNameTooLong);
  l = kWide;
  l.max_value = 5;
  CHECK_EQ(Headers(in, l).code, 3);
  l.max_value = 4;
  CHECK_EQ(Headers(in, l).code, cgiwire::kParamValueTooLong);
  l = kWide;
  l.max_name = 0xffffffffu;
  CHECK_EQ(Headers(Cat({in, Hdr({{std::string(65536, 'n'), ""}})}), l).code, cgiwire::kParamNameTooLong);
}

TEST(DecodeHeaders_TruncatedAtEveryCutPoint) {
  Bytes in = Hdr({{"CONTENT_LENGTH", "12"}, {"SCGI", "1"}});
  std::vector<size_t> ok = {in.size()};  // complete once SCGI is in, then after each pair
  for (Bytes more : {Hdr({{"A", ""}}), Hdr({{"REQUEST_METHOD", "GET"}})}) {
    in = Cat({in, more});
    ok.push_back(in.size());
  }
  for (size_t cut = 0; cut <= in.size(); cut++) {
    Decoded d = Headers(Bytes(in.begin(), in.begin() + cut));
    bool boundary = std::find(ok.begin(), ok.end(), cut) != ok.end();
    if (boundary != (d.code > 0)) Report(__FILE__, __LINE__, "cut at " + std::to_string(cut) + ": " + std::to_string(d.code));
  }
}

// =================================================================================================
// Over-reads: every decoder on inputs that end right before an unreadable page
// =================================================================================================

TEST(GuardPage_ReadPastTheEndFaults) {
  // The guard the over-read tests rely on really faults here.
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    Guarded g(B("abc"));
    volatile const uint8_t* p = g.data();
    uint8_t sink = p[3];
    (void)sink;
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

TEST(Decoders_NeverReadPastTheEnd) {
  Bytes records = MixedStream();
  Bytes pairs = Cat({P("REQUEST_METHOD", "GET"), P(std::string(200, 'n'), std::string(300, 'v')), P("", "")});
  Bytes header = Hdr({{"CONTENT_LENGTH", "3"}, {"SCGI", "1"}, {"NAME", "value"}});
  Bytes netstring = Cat({B(std::to_string(header.size()) + ":"), header, B(",")});
  PairLimits all = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
  for (size_t end = 0; end <= records.size(); end++) {
    Guarded g(records.data(), end);
    for (size_t capacity : {1, 64}) {
      RecordReader r(capacity, false);
      r.Feed(g.data(), end, 0, 0);
      CHECK_EQ(r.error, 0);
    }
  }
  for (size_t end = 0; end <= pairs.size(); end++) {
    Pairs(Bytes(pairs.begin(), pairs.begin() + end), all, nullptr, 8);
    Bytes flipped(pairs.begin(), pairs.begin() + end);
    for (uint8_t& b : flipped) b ^= 0x80;  // turn short lengths into long ones and back
    Pairs(flipped, all, nullptr, 8);
  }
  for (size_t end = 0; end <= header.size(); end++) Headers(Bytes(header.begin(), header.begin() + end));
  for (size_t end = 0; end <= netstring.size(); end++) {
    Guarded g(netstring.data(), end);
    int32_t state[scgi::kNsStateSize] = {};
    uint32_t out[4 * fcgi::kFragmentWords];
    CHECK(scgi::ScanNetstring(g.data(), end, 0, state, 1000, out, 4) >= 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
#ifdef CGIWIRE_HAVE_DEATH_CALLBACK
  __sanitizer_set_death_callback(OnSanitizerDeath);
#endif
  RegisterFixtures(argc > 1 ? argv[1] : "test/fixtures");
  int passed = 0, failed = 0;
  for (const TestCase& t : Tests()) {
    g_check_failures = 0;
    g_running = t.name.c_str();
    t.fn();
    if (g_check_failures == 0) {
      passed++;
      std::printf("ok   %s\n", t.name.c_str());
    } else {
      failed++;
      std::printf("FAIL %s (%d checks)\n", t.name.c_str(), g_check_failures);
    }
    std::fflush(stdout);
  }
  std::printf("core tests: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
