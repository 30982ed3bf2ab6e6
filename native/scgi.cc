#include "scgi.h"

#include <algorithm>
#include <cstring>

namespace cgiwire {
namespace scgi {

namespace {

inline int32_t Fail(int32_t* state, size_t pos, int32_t code) {
  state[kNsPhase] = kNsFailed;
  state[kNsError] = code;
  state[kNsConsumed] = static_cast<int32_t>(pos);
  return code;
}

constexpr char kContentLength[] = "CONTENT_LENGTH";
constexpr size_t kContentLengthLen = sizeof(kContentLength) - 1;
// 2^53 - 1 has 16 digits; 15 keeps every accepted length exact in a JS number.
constexpr size_t kMaxLengthDigits = 15;

}  // namespace

int32_t ScanNetstring(const uint8_t* chunk, size_t len, size_t start, int32_t* state, uint32_t max_header,
                      uint32_t* out, size_t capacity) {
  if (state[kNsPhase] == kNsFailed) {
    state[kNsConsumed] = static_cast<int32_t>(start);
    return state[kNsError];
  }
  size_t pos = start;
  size_t n = 0;
  while (n < capacity) {
    int32_t phase = state[kNsPhase];
    if (phase == kNsDone || pos >= len) break;
    if (phase == kNsLength) {
      uint8_t b = chunk[pos];
      if (b >= '0' && b <= '9') {
        // "0" alone is a length; "0" followed by more digits is a leading zero.
        if (state[kNsDigits] > 0 && state[kNsDeclared] == 0) return Fail(state, pos, kScgiBadNetstring);
        uint64_t declared = uint64_t(state[kNsDeclared]) * 10 + (b - '0');
        if (declared > max_header) return Fail(state, pos, kScgiHeaderTooLarge);
        state[kNsDeclared] = static_cast<int32_t>(declared);
        state[kNsDigits]++;
        pos++;
      } else if (b == ':' && state[kNsDigits] > 0) {
        pos++;
        state[kNsLeft] = state[kNsDeclared];
        if (state[kNsDeclared] == 0) {
          uint32_t* f = out + n++ * fastcgi::kFragmentWords;
          f[0] = (fastcgi::kFragFirst | fastcgi::kFragLast) << 8;
          f[1] = static_cast<uint32_t>(pos);
          f[2] = 0;
          f[3] = 0;
          state[kNsPhase] = kNsComma;
        } else {
          state[kNsPhase] = kNsHeader;
        }
      } else {
        return Fail(state, pos, kScgiBadNetstring);
      }
    } else if (phase == kNsHeader) {
      uint32_t declared = static_cast<uint32_t>(state[kNsDeclared]);
      uint32_t left = static_cast<uint32_t>(state[kNsLeft]);
      size_t take = std::min<size_t>(left, len - pos);
      uint32_t* f = out + n++ * fastcgi::kFragmentWords;
      f[0] = ((left == declared ? fastcgi::kFragFirst : 0) | (take == left ? fastcgi::kFragLast : 0)) << 8;
      f[1] = static_cast<uint32_t>(pos);
      f[2] = static_cast<uint32_t>(take);
      f[3] = declared;
      pos += take;
      left -= static_cast<uint32_t>(take);
      state[kNsLeft] = static_cast<int32_t>(left);
      if (left == 0) state[kNsPhase] = kNsComma;
    } else {  // comma
      if (chunk[pos] != ',') return Fail(state, pos, kScgiBadNetstring);
      pos++;
      state[kNsPhase] = kNsDone;
    }
  }
  state[kNsConsumed] = static_cast<int32_t>(pos);
  return static_cast<int32_t>(n);
}

int32_t DecodeHeaders(const uint8_t* buf, size_t begin, size_t end, const fastcgi::PairLimits& limits,
                      const fastcgi::NameTable* names, uint32_t* out, size_t capacity, uint32_t* shape,
                      uint64_t* content_length) {
  if (end - begin > limits.max_bytes) return kScgiHeaderTooLarge;
  size_t max_pairs = std::min<size_t>(limits.max_pairs, capacity);
  size_t max_name = std::min(limits.max_name, fastcgi::kMaxNameLength);
  uint32_t h = fastcgi::kShapeSeed;
  bool scgi_seen = false;
  size_t pos = begin;
  size_t n = 0;
  // Repeated names: an open-addressing set of pair indexes keyed by name hash, sized for the most pairs these
  // bytes can hold (a pair takes at least 3 bytes: a name byte and two NULs), so small headers clear little.
  size_t most_pairs = std::min(max_pairs, (end - begin) / 3 + 1);
  constexpr size_t kStackSlots = 1024;
  uint32_t stack_slots[kStackSlots];
  std::vector<uint32_t> heap_slots;
  uint32_t* slots = stack_slots;
  size_t slot_count = 16;
  while (slot_count < most_pairs * 2) slot_count <<= 1;
  if (slot_count > kStackSlots) {
    heap_slots.resize(slot_count);
    slots = heap_slots.data();
  }
  std::fill(slots, slots + slot_count, 0xffffffffu);
  size_t mask = slot_count - 1;

  while (pos < end) {
    if (n >= max_pairs) return kParamsTooMany;
    const uint8_t* name_end = static_cast<const uint8_t*>(std::memchr(buf + pos, 0, end - pos));
    if (name_end == nullptr || name_end == buf + pos) return kScgiBadHeader;
    size_t name_len = static_cast<size_t>(name_end - (buf + pos));
    if (name_len > max_name) return kParamNameTooLong;
    size_t value_at = pos + name_len + 1;
    const uint8_t* value_end = static_cast<const uint8_t*>(std::memchr(buf + value_at, 0, end - value_at));
    if (value_end == nullptr) return kScgiBadHeader;
    size_t value_len = static_cast<size_t>(value_end - (buf + value_at));
    if (value_len > limits.max_value) return kParamValueTooLong;
    const uint8_t* name = buf + pos;
    const uint8_t* value = buf + value_at;
    if (n == 0) {
      if (name_len != kContentLengthLen || std::memcmp(name, kContentLength, kContentLengthLen) != 0)
        return kScgiNoContentLength;
      if (value_len == 0 || value_len > kMaxLengthDigits || (value_len > 1 && value[0] == '0'))
        return kScgiBadContentLength;
      uint64_t v = 0;
      for (size_t i = 0; i < value_len; i++) {
        if (value[i] < '0' || value[i] > '9') return kScgiBadContentLength;
        v = v * 10 + (value[i] - '0');
      }
      *content_length = v;
    }
    if (name_len == 4 && std::memcmp(name, "SCGI", 4) == 0) {
      if (value_len != 1 || value[0] != '1') return kScgiNoScgi;
      scgi_seen = true;
    }
    uint32_t hash = fastcgi::HashName(name, name_len);
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      uint32_t other = slots[i];
      if (other == 0xffffffffu) {
        slots[i] = static_cast<uint32_t>(n);
        break;
      }
      const uint32_t* o = out + other * fastcgi::kPairWords;
      if ((o[3] & 0xffff) == name_len && std::memcmp(buf + o[0], name, name_len) == 0) {
        // nginx before 1.23 sends a repeated request header as two HTTP_ names: a repeat the HTTP layer
        // merges. Any other name must not repeat (SCGI protocol description).
        if (name_len > 5 && std::memcmp(name, "HTTP_", 5) == 0) break;
        return kScgiDuplicateHeader;
      }
    }
    uint32_t id = names ? names->Find(name, name_len) : 0;
    uint32_t* p = out + n * fastcgi::kPairWords;
    p[0] = static_cast<uint32_t>(pos);
    p[1] = static_cast<uint32_t>(value_at);
    p[2] = static_cast<uint32_t>(value_len);
    p[3] = static_cast<uint32_t>(name_len) | id << 16;
    h = fastcgi::ShapeStep(h, id);
    n++;
    pos = value_at + value_len + 1;
  }
  if (n == 0) return kScgiNoContentLength;
  if (!scgi_seen) return kScgiNoScgi;
  *shape = h;
  return static_cast<int32_t>(n);
}

std::vector<uint8_t> EncodeHeader(uint64_t content_length, const std::vector<fastcgi::Pair>& headers) {
  std::string body;
  body += kContentLength;
  body += '\0';
  body += std::to_string(content_length);
  body += '\0';
  body += "SCGI";
  body += '\0';
  body += "1";
  body += '\0';
  for (const fastcgi::Pair& p : headers) {
    if (p.name == kContentLength || p.name == "SCGI") continue;
    body += p.name;
    body += '\0';
    body += p.value;
    body += '\0';
  }
  std::string head = std::to_string(body.size()) + ":";
  std::vector<uint8_t> out(head.begin(), head.end());
  out.insert(out.end(), body.begin(), body.end());
  out.push_back(',');
  return out;
}

}  // namespace scgi
}  // namespace cgiwire
