#include "fastcgi.h"

#include <algorithm>
#include <cstring>

namespace cgiwire {
namespace fastcgi {

namespace {

inline uint8_t HeaderByte(const int32_t* state, int i) {
  uint32_t word = static_cast<uint32_t>(state[i < 4 ? kStHeaderLo : kStHeaderHi]);
  return static_cast<uint8_t>(word >> (8 * (i & 3)));
}

inline void SetHeaderByte(int32_t* state, int i, uint8_t b) {
  int slot = i < 4 ? kStHeaderLo : kStHeaderHi;
  uint32_t word = static_cast<uint32_t>(state[slot]);
  int shift = 8 * (i & 3);
  word = (word & ~(0xffu << shift)) | (static_cast<uint32_t>(b) << shift);
  state[slot] = static_cast<int32_t>(word);
}

inline int32_t Fail(int32_t* state, size_t pos, int32_t code) {
  state[kStPhase] = kPhaseFailed;
  state[kStError] = code;
  state[kStConsumed] = static_cast<int32_t>(pos);
  return code;
}

}  // namespace

int32_t ScanRecords(const uint8_t* chunk, size_t len, size_t start, int32_t* state, uint32_t* out,
                    size_t capacity) {
  if (state[kStPhase] == kPhaseFailed) {
    state[kStConsumed] = static_cast<int32_t>(start);
    return state[kStError];
  }
  // The current record's header lives in locals while scanning and in `state` between calls.
  uint8_t h[8];
  for (int i = 0; i < 8; i++) h[i] = HeaderByte(state, i);
  int32_t phase = state[kStPhase];
  uint32_t fill = static_cast<uint32_t>(state[kStHeaderFill]);
  uint32_t content_left = static_cast<uint32_t>(state[kStContentLeft]);
  uint32_t padding_left = static_cast<uint32_t>(state[kStPaddingLeft]);
  size_t pos = start;
  size_t n = 0;
  int32_t result = 0;
  while (pos < len && n < capacity) {
    if (phase == kPhaseHeader) {
      if (fill == 0 && len - pos >= 8) {
        std::memcpy(h, chunk + pos, 8);
        pos += 8;
        fill = 8;
      } else {
        while (fill < 8 && pos < len) h[fill++] = chunk[pos++];
        if (fill < 8) break;
      }
      fill = 0;
      if (h[0] != kVersion1) {
        result = kBadVersion;
        break;
      }
      content_left = uint32_t(h[4]) << 8 | h[5];
      padding_left = h[6];
      if (content_left == 0) {
        uint32_t* f = out + n++ * kFragmentWords;
        f[0] = h[1] | ((kFragFirst | kFragLast) << 8) | (uint32_t(h[2]) << 8 | h[3]) << 16;
        f[1] = static_cast<uint32_t>(pos);
        f[2] = 0;
        f[3] = padding_left << 16;
        phase = padding_left ? kPhasePadding : kPhaseHeader;
      } else {
        phase = kPhaseContent;
      }
    } else if (phase == kPhaseContent) {
      uint32_t content = uint32_t(h[4]) << 8 | h[5];
      size_t take = std::min<size_t>(content_left, len - pos);
      uint32_t flags = (content_left == content ? kFragFirst : 0) | (take == content_left ? kFragLast : 0);
      uint32_t* f = out + n++ * kFragmentWords;
      f[0] = h[1] | (flags << 8) | (uint32_t(h[2]) << 8 | h[3]) << 16;
      f[1] = static_cast<uint32_t>(pos);
      f[2] = static_cast<uint32_t>(take);
      f[3] = content | uint32_t(h[6]) << 16;
      pos += take;
      content_left -= static_cast<uint32_t>(take);
      if (content_left == 0) phase = padding_left ? kPhasePadding : kPhaseHeader;
    } else {  // padding
      size_t take = std::min<size_t>(padding_left, len - pos);
      pos += take;
      padding_left -= static_cast<uint32_t>(take);
      if (padding_left == 0) phase = kPhaseHeader;
    }
  }
  for (int i = 0; i < 8; i++) SetHeaderByte(state, i, h[i]);
  state[kStHeaderFill] = static_cast<int32_t>(fill);
  state[kStContentLeft] = static_cast<int32_t>(content_left);
  state[kStPaddingLeft] = static_cast<int32_t>(padding_left);
  if (result != 0) {
    // The fragments before the bad header still count, so the records delivered do not depend on where the
    // stream was cut; the error comes now if there are none, else from the next call.
    int32_t code = Fail(state, pos, result);
    return n == 0 ? code : static_cast<int32_t>(n);
  }
  state[kStPhase] = phase;
  state[kStConsumed] = static_cast<int32_t>(pos);
  return static_cast<int32_t>(n);
}

// ---- Name table ----------------------------------------------------------------------------------

uint32_t HashName(const uint8_t* name, size_t len) { return KeyOf(name, len).hash; }

NameTable::NameTable(const std::vector<std::string>& names) {
  size_t cap = 16;
  while (cap < names.size() * 4) cap <<= 1;
  slots_.assign(cap, Slot{0, 0, 0, 0, 0});
  by_id_.assign(names.size() + 1, Slot{0, 0, UINT32_MAX, 0, 0});
  mask_ = cap - 1;
  for (const std::string& name : names) {
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(name.data());
    if (name.size() > kMaxNameLength || Find(bytes, name.size()) != 0) {  // a repeat keeps the first id
      count_++;
      continue;
    }
    NameKey key = KeyOf(bytes, name.size());
    size_t i = key.hash & mask_;
    while (slots_[i].id != 0) i = (i + 1) & mask_;
    slots_[i] = Slot{key.head, key.tail, static_cast<uint32_t>(name.size()), static_cast<uint32_t>(count_ + 1),
                     static_cast<uint32_t>(pool_.size())};
    by_id_[count_ + 1] = slots_[i];
    pool_ += name;
    count_++;
  }
}

// ---- Pair decoder --------------------------------------------------------------------------------

namespace {

// Reads one length prefix at buf[*pos]; returns false when the prefix itself does not fit.
inline bool ReadPairLength(const uint8_t* buf, size_t end, size_t* pos, uint32_t* n) {
  if (*pos >= end) return false;
  uint8_t b = buf[*pos];
  if ((b & 0x80) == 0) {
    *n = b;
    *pos += 1;
    return true;
  }
  if (end - *pos < 4) return false;
  *n = (uint32_t(b & 0x7f) << 24) | (uint32_t(buf[*pos + 1]) << 16) | (uint32_t(buf[*pos + 2]) << 8) |
       buf[*pos + 3];
  *pos += 4;
  return true;
}

}  // namespace

int32_t DecodePairs(const uint8_t* buf, size_t begin, size_t end, const PairLimits& limits,
                    const NameTable* names, uint32_t* __restrict out, size_t capacity, uint32_t* shape,
                    ExpectedIds expected) {
  if (end - begin > limits.max_bytes) return kParamsTooLarge;
  const size_t max_pairs = std::min<size_t>(limits.max_pairs, capacity);
  const uint32_t max_name = std::min(limits.max_name, kMaxNameLength);
  const uint32_t max_value = limits.max_value;
  uint32_t h = kShapeSeed;
  size_t pos = begin;
  size_t n = 0;
  while (pos < end) {
    if (n >= max_pairs) return kParamsTooMany;
    uint32_t name_len, value_len;
    if (end - pos >= 2 && (buf[pos] | buf[pos + 1]) < 0x80) {  // both lengths in one byte: the usual case
      name_len = buf[pos];
      value_len = buf[pos + 1];
      pos += 2;
    } else {
      if (!ReadPairLength(buf, end, &pos, &name_len)) return kPairsTruncated;
      if (!ReadPairLength(buf, end, &pos, &value_len)) return kPairsTruncated;
    }
    if (name_len > max_name) return kParamNameTooLong;
    if (value_len > max_value) return kParamValueTooLong;
    // Compare against what remains; never add the two declared lengths.
    if (name_len > end - pos) return kPairsTruncated;
    if (value_len > end - pos - name_len) return kPairsTruncated;
    uint32_t id = 0;
    if (names) {
      uint32_t want = n < expected.count ? expected.ids[n] : 0;
      id = want != 0 && names->Is(want, buf + pos, name_len) ? want : names->Find(buf + pos, name_len);
    }
    uint32_t* p = out + n * kPairWords;
    p[0] = static_cast<uint32_t>(pos);
    p[1] = static_cast<uint32_t>(pos + name_len);
    p[2] = value_len;
    p[3] = name_len | id << 16;
    h = ShapeStep(h, id);
    pos += size_t(name_len) + value_len;
    n++;
  }
  *shape = h;
  return static_cast<int32_t>(n);
}

// ---- Shapes --------------------------------------------------------------------------------------

uint32_t ShapeTable::Register(const uint16_t* ids, size_t n) {
  uint32_t hash = kShapeSeed;
  for (size_t i = 0; i < n; i++) hash = ShapeStep(hash, ids[i]);
  for (size_t e = 0; e < entries_.size(); e++) {
    const Entry& entry = entries_[e];
    if (entry.hash == hash && entry.ids.size() == n && (n == 0 || std::memcmp(entry.ids.data(), ids, n * 2) == 0))
      return static_cast<uint32_t>(e + 1);
  }
  if (entries_.size() >= kCapacity) return 0;
  entries_.push_back(Entry{hash, std::vector<uint16_t>(ids, ids + n)});
  return static_cast<uint32_t>(entries_.size());
}

uint32_t ShapeTable::Match(const uint32_t* pairs, size_t n, uint32_t hash) {
  for (size_t e = 0; e < entries_.size(); e++) {
    const Entry& entry = entries_[e];
    if (entry.hash != hash || entry.ids.size() != n) continue;
    size_t i = 0;
    while (i < n && entry.ids[i] == pairs[i * kPairWords + 3] >> 16) i++;
    if (i == n) return last_ = static_cast<uint32_t>(e + 1);
  }
  return 0;
}

// ---- Encoders ------------------------------------------------------------------------------------

void WriteHeader(uint8_t* out, uint8_t type, uint16_t request_id, uint16_t content_length,
                 uint8_t padding_length) {
  out[0] = kVersion1;
  out[1] = type;
  out[2] = static_cast<uint8_t>(request_id >> 8);
  out[3] = static_cast<uint8_t>(request_id);
  out[4] = static_cast<uint8_t>(content_length >> 8);
  out[5] = static_cast<uint8_t>(content_length);
  out[6] = padding_length;
  out[7] = 0;
}

size_t PairLengthSize(uint32_t n) { return n < 128 ? 1 : 4; }

size_t WritePairLength(uint8_t* out, uint32_t n) {
  if (n < 128) {
    out[0] = static_cast<uint8_t>(n);
    return 1;
  }
  out[0] = static_cast<uint8_t>((n >> 24) | 0x80);
  out[1] = static_cast<uint8_t>(n >> 16);
  out[2] = static_cast<uint8_t>(n >> 8);
  out[3] = static_cast<uint8_t>(n);
  return 4;
}

size_t PairSize(uint32_t name_len, uint32_t value_len) {
  return PairLengthSize(name_len) + PairLengthSize(value_len) + size_t(name_len) + value_len;
}

size_t WritePair(uint8_t* out, const uint8_t* name, uint32_t name_len, const uint8_t* value,
                 uint32_t value_len) {
  size_t i = WritePairLength(out, name_len);
  i += WritePairLength(out + i, value_len);
  if (name_len) std::memcpy(out + i, name, name_len);
  i += name_len;
  if (value_len) std::memcpy(out + i, value, value_len);
  return i + value_len;
}

size_t StreamRecordCount(size_t length, bool close) {
  return (length + kMaxEncodedContent - 1) / kMaxEncodedContent + (close ? 1 : 0);
}

size_t WriteStreamHeaders(uint8_t* out, uint8_t type, uint16_t request_id, size_t length, bool close) {
  size_t n = 0;
  while (length > 0) {
    size_t part = std::min<size_t>(length, kMaxEncodedContent);
    WriteHeader(out + 8 * n++, type, request_id, static_cast<uint16_t>(part), PaddingFor(part));
    length -= part;
  }
  if (close) WriteHeader(out + 8 * n++, type, request_id, 0, 0);
  return n;
}

void WriteBeginRequest(uint8_t* out, uint16_t request_id, uint16_t role, uint8_t flags) {
  WriteHeader(out, kBeginRequest, request_id, 8, 0);
  std::memset(out + 8, 0, 8);
  out[8] = static_cast<uint8_t>(role >> 8);
  out[9] = static_cast<uint8_t>(role);
  out[10] = flags;
}

void WriteEndRequest(uint8_t* out, uint16_t request_id, uint32_t app_status, uint8_t protocol_status) {
  WriteHeader(out, kEndRequest, request_id, 8, 0);
  out[8] = static_cast<uint8_t>(app_status >> 24);
  out[9] = static_cast<uint8_t>(app_status >> 16);
  out[10] = static_cast<uint8_t>(app_status >> 8);
  out[11] = static_cast<uint8_t>(app_status);
  out[12] = protocol_status;
  out[13] = out[14] = out[15] = 0;
}

void WriteUnknownType(uint8_t* out, uint8_t type) {
  WriteHeader(out, kUnknownType, 0, 8, 0);
  std::memset(out + 8, 0, 8);
  out[8] = type;
}

void WriteAbortRequest(uint8_t* out, uint16_t request_id) { WriteHeader(out, kAbortRequest, request_id, 0, 0); }

std::vector<uint8_t> EncodePairRecords(uint8_t type, uint16_t request_id, const std::vector<Pair>& pairs,
                                       bool close) {
  std::vector<uint8_t> out;
  std::vector<uint8_t> content;  // content of the record being filled
  auto flush = [&]() {
    if (content.empty()) return;
    uint8_t header[8];
    uint8_t pad = PaddingFor(content.size());
    WriteHeader(header, type, request_id, static_cast<uint16_t>(content.size()), pad);
    out.insert(out.end(), header, header + 8);
    out.insert(out.end(), content.begin(), content.end());
    out.insert(out.end(), pad, 0);
    content.clear();
  };
  for (const Pair& p : pairs) {
    size_t size = PairSize(static_cast<uint32_t>(p.name.size()), static_cast<uint32_t>(p.value.size()));
    std::vector<uint8_t> encoded(size);
    WritePair(encoded.data(), reinterpret_cast<const uint8_t*>(p.name.data()), static_cast<uint32_t>(p.name.size()),
              reinterpret_cast<const uint8_t*>(p.value.data()), static_cast<uint32_t>(p.value.size()));
    if (content.size() + size > kMaxEncodedContent) flush();  // keep the pair whole in the next record
    size_t at = 0;
    while (at < size) {  // only a pair larger than one record is cut
      size_t take = std::min<size_t>(size - at, kMaxEncodedContent - content.size());
      content.insert(content.end(), encoded.begin() + at, encoded.begin() + at + take);
      at += take;
      if (content.size() == kMaxEncodedContent) flush();
    }
  }
  flush();
  if (close) {
    uint8_t header[8];
    WriteHeader(header, type, request_id, 0, 0);
    out.insert(out.end(), header, header + 8);
  }
  return out;
}

}  // namespace fastcgi
}  // namespace cgiwire
