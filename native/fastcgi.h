// FastCGI 1.0 byte-level core: record scanner, name-value pair decoder, record encoders.
// Plain C++17, no Node headers: the caller owns every byte, the core returns offsets and lengths into it.
// lib/codec/js.ts is the TypeScript twin of this file; both must give identical results.
#ifndef CGIWIRE_FASTCGI_H
#define CGIWIRE_FASTCGI_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "codes.h"

namespace cgiwire {
namespace fastcgi {

constexpr uint8_t kVersion1 = 1;
constexpr size_t kHeaderSize = 8;
constexpr uint32_t kMaxContent = 65535;
// Largest stream record the encoders emit: a multiple of 8, so a full record needs no padding.
constexpr uint32_t kMaxEncodedContent = 65528;

enum RecordType : uint8_t {
  kBeginRequest = 1,
  kAbortRequest = 2,
  kEndRequest = 3,
  kParams = 4,
  kStdin = 5,
  kStdout = 6,
  kStderr = 7,
  kData = 8,
  kGetValues = 9,
  kGetValuesResult = 10,
  kUnknownType = 11,
};

// ---- Record scanner ------------------------------------------------------------------------------
//
// The scanner is incremental and keeps its whole state in a caller-owned int32 array (so the same state
// can live in a JS Int32Array). It never copies content: each call reports the pieces of record content
// found in the chunk ("fragments") as offsets into that chunk. A record whose content is cut by a chunk
// boundary is reported as several fragments; FIRST marks the one that starts a record's content, LAST the
// one that completes it. A record with no content gives one fragment of length 0 with FIRST|LAST.

enum ScanState : int {
  kStPhase = 0,        // 0 header, 1 content, 2 padding, 3 failed
  kStHeaderFill = 1,   // header bytes collected so far (0..8)
  kStHeaderLo = 2,     // header bytes 0..3, byte i in bits 8i..8i+7
  kStHeaderHi = 3,     // header bytes 4..7
  kStContentLeft = 4,  // content bytes of the current record still to come
  kStPaddingLeft = 5,  // padding bytes of the current record still to come
  kStConsumed = 6,     // out: offset in the chunk where the call stopped
  kStError = 7,        // the sticky error code once failed
  kStateSize = 8,
};

enum ScanPhase : int32_t { kPhaseHeader = 0, kPhaseContent = 1, kPhasePadding = 2, kPhaseFailed = 3 };

constexpr uint32_t kFragFirst = 1;
constexpr uint32_t kFragLast = 2;

// One fragment is four uint32 words:
//   [0] type | flags << 8 | requestId << 16
//   [1] offset of the fragment in the chunk
//   [2] length of the fragment
//   [3] the record's contentLength | paddingLength << 16
constexpr size_t kFragmentWords = 4;

// Scans chunk[start, len). Writes at most `capacity` fragments to `out`. Returns the number written, or a
// negative Code. On a fault the state becomes failed (kStPhase == kPhaseFailed, kStError the code): the
// fragments found before it are still returned, and every later call returns the code.
// state[kStConsumed] tells where it stopped: len, or earlier when `out` filled up (call again from there).
int32_t ScanRecords(const uint8_t* chunk, size_t len, size_t start, int32_t* state, uint32_t* out,
                    size_t capacity);

// ---- Name-value pairs ----------------------------------------------------------------------------

// Limits the receiver sets; the protocol sets none (FastCGI 1.0, section 3.4).
struct PairLimits {
  uint32_t max_bytes;   // the whole encoded stream
  uint32_t max_pairs;
  uint32_t max_name;    // bytes of one name
  uint32_t max_value;   // bytes of one value
};

// Recognises well-known names on their bytes and gives each a small id (1-based; 0 = not known).
// Built once from a list; lookups allocate nothing.
class NameTable {
 public:
  explicit NameTable(const std::vector<std::string>& names);
  inline uint32_t Find(const uint8_t* name, size_t len) const;
  // Whether name[0, len) is the known name `id` (1-based): Find's comparison without the hash and probe.
  inline bool Is(uint32_t id, const uint8_t* name, size_t len) const;
  size_t size() const { return count_; }

 private:
  // A name is matched by its length and its first and last eight bytes (which cover names of up to 16
  // bytes whole); only longer names compare their middle bytes against the pool.
  struct Slot {
    uint64_t head;
    uint64_t tail;
    uint32_t len;
    uint32_t id;  // 0 = empty
    uint32_t offset;
  };
  std::vector<Slot> slots_;
  std::vector<Slot> by_id_;  // index = id; the id of a name never found (a repeat, too long) has len UINT32_MAX
  std::string pool_;
  size_t mask_ = 0;
  size_t count_ = 0;
};

// A name's first and last eight bytes (zero-extended below eight) and a hash of them and the length.
struct NameKey {
  uint64_t head;
  uint64_t tail;
  uint32_t hash;
};
// Length plus the first and last eight bytes, mixed by one multiplication: a few cycles whatever the
// length (a byte-serial hash cost 20 ns per name). Collisions only cost a comparison.
inline NameKey KeyOf(const uint8_t* name, size_t len) {
  uint64_t a = 0, b = 0;
  if (len >= 8) {
    std::memcpy(&a, name, 8);
    std::memcpy(&b, name + len - 8, 8);
  } else {
    for (size_t i = 0; i < len; i++) a = a << 8 | name[i];
  }
  uint64_t h = (a ^ (b * 0xC2B2AE3D27D4EB4Full) ^ len) * 0x9E3779B97F4A7C15ull;
  return NameKey{a, b, static_cast<uint32_t>(h >> 40)};
}
uint32_t HashName(const uint8_t* name, size_t len);

// Inline: it runs once per pair on the hot path.
inline uint32_t NameTable::Find(const uint8_t* name, size_t len) const {
  NameKey key = KeyOf(name, len);
  for (size_t i = key.hash & mask_;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.id == 0) return 0;
    if (s.len == len && s.head == key.head && s.tail == key.tail &&
        (len <= 16 || std::memcmp(pool_.data() + s.offset + 8, name + 8, len - 16) == 0))
      return s.id;
  }
}

inline bool NameTable::Is(uint32_t id, const uint8_t* name, size_t len) const {
  if (id >= by_id_.size()) return false;
  const Slot& s = by_id_[id];
  if (s.len != len) return false;
  NameKey key = KeyOf(name, len);
  return s.head == key.head && s.tail == key.tail &&
         (len <= 16 || std::memcmp(pool_.data() + s.offset + 8, name + 8, len - 16) == 0);
}

// One decoded pair is four uint32 words: [nameOffset, valueOffset, valueLength, nameLength | knownId << 16].
// Offsets are absolute positions in `buf`. Names are therefore at most 65535 bytes, whatever max_name says.
constexpr size_t kPairWords = 4;
constexpr uint32_t kMaxNameLength = 65535;

// Decodes the pairs in buf[begin, end). Every declared length is checked against the limits and against
// what remains before it is used, in 64-bit-safe size_t arithmetic (CVE-2025-23016: two 31-bit lengths
// summed in 32 bits wrapped libfcgi's allocation). `names` may be null (no ids). On success returns the
// pair count and sets *shape to a hash of the sequence of known ids (0 when a name is not known).
// `expected` lists the ids the caller expects, in order (the shape matched last): each name is first
// compared with its expected known name, and hashed only when that fails. Only speed depends on it.
struct ExpectedIds {
  const uint16_t* ids = nullptr;
  size_t count = 0;
};
int32_t DecodePairs(const uint8_t* buf, size_t begin, size_t end, const PairLimits& limits,
                    const NameTable* names, uint32_t* out, size_t capacity, uint32_t* shape,
                    ExpectedIds expected = {});

// Folds one id into a shape hash; the TypeScript side computes the same sequence.
inline uint32_t ShapeStep(uint32_t h, uint32_t id) { return (h ^ id) * 16777619u; }
constexpr uint32_t kShapeSeed = 2166136261u;

// Sequences of known-name ids ("shapes") registered by the caller. A web server location sends the same
// names in the same order on every request; the JS side registers a sequence it has made a builder for,
// and each decode then says which registered sequence it produced. Matching compares the ids one by one,
// so a hash collision never reports a wrong shape.
class ShapeTable {
 public:
  static constexpr uint32_t kCapacity = 64;
  // Remembers ids[0, n). Returns its index (1-based): a new one, the existing one when the sequence is
  // already registered, or 0 when the table is full.
  uint32_t Register(const uint16_t* ids, size_t n);
  // The index of the registered sequence equal to the known ids of `n` decoded pairs (pair words as
  // DecodePairs writes them), whose shape hash is `hash`; 0 when none is. Remembers the one it found.
  uint32_t Match(const uint32_t* pairs, size_t n, uint32_t hash);
  // The ids of the sequence matched last (none before a match): what the next decode most likely finds.
  ExpectedIds Last() const {
    if (last_ == 0) return {};
    const std::vector<uint16_t>& ids = entries_[last_ - 1].ids;
    return ExpectedIds{ids.data(), ids.size()};
  }
  void Clear() {
    entries_.clear();
    last_ = 0;
  }

 private:
  struct Entry {
    uint32_t hash;
    std::vector<uint16_t> ids;
  };
  std::vector<Entry> entries_;  // index - 1
  uint32_t last_ = 0;
};

// ---- Encoders ------------------------------------------------------------------------------------

void WriteHeader(uint8_t* out, uint8_t type, uint16_t request_id, uint16_t content_length,
                 uint8_t padding_length);
// Bytes of padding that make `content_length` a multiple of 8.
inline uint8_t PaddingFor(size_t content_length) { return (8 - (content_length & 7)) & 7; }

// Length prefix of a name or value: 1 byte below 128, else 4 bytes with the high bit set.
size_t PairLengthSize(uint32_t n);
size_t WritePairLength(uint8_t* out, uint32_t n);
size_t PairSize(uint32_t name_len, uint32_t value_len);
size_t WritePair(uint8_t* out, const uint8_t* name, uint32_t name_len, const uint8_t* value,
                 uint32_t value_len);

// Record headers for a stream payload of `length` bytes cut into records of kMaxEncodedContent, the last
// one padded to 8; `close` adds the empty record that ends the stream. Writes 8 bytes per record to
// `out` (room for RecordCount(length, close) * 8) and returns the number of records.
size_t StreamRecordCount(size_t length, bool close);
size_t WriteStreamHeaders(uint8_t* out, uint8_t type, uint16_t request_id, size_t length, bool close);

// Whole fixed-size records (16 bytes each).
void WriteBeginRequest(uint8_t* out, uint16_t request_id, uint16_t role, uint8_t flags);
void WriteEndRequest(uint8_t* out, uint16_t request_id, uint32_t app_status, uint8_t protocol_status);
void WriteUnknownType(uint8_t* out, uint8_t type);
// ABORT_REQUEST has no content: 8 bytes.
void WriteAbortRequest(uint8_t* out, uint16_t request_id);

// A stream of pairs (PARAMS, GET_VALUES, GET_VALUES_RESULT) as records: a pair is never split across two
// records when it fits in one (PHP-FPM rejects split pairs); a pair larger than one record is split
// because it must be. Returns the encoded bytes; `close` appends the empty record.
struct Pair {
  std::string name;
  std::string value;
};
std::vector<uint8_t> EncodePairRecords(uint8_t type, uint16_t request_id, const std::vector<Pair>& pairs,
                                       bool close);

}  // namespace fastcgi
}  // namespace cgiwire

#endif  // CGIWIRE_FASTCGI_H
