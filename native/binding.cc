// The only file that knows Node: thin conversions between JS values and the protocol core.
// Hot calls are raw Node-API callbacks (one napi_get_cb_info, one buffer lookup); results go into a
// scratch Uint32Array registered once by init(), never into JS objects built here (see PERF-NOTES).
// Per-environment state lives in instance data, so the addon loads in worker threads.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "fastcgi.h"
#include "scgi.h"

namespace {

using cgiwire::fastcgi::NameTable;
using cgiwire::fastcgi::PairLimits;

// Scratch layout, shared with lib/codec/native.ts.
constexpr size_t kScratchLimits = 0;     // 4 words: maxBytes, maxPairs, maxName, maxValue
constexpr size_t kScratchShape = 4;      // out: shape hash of the decoded pairs
constexpr size_t kScratchLengthLo = 5;   // out: SCGI CONTENT_LENGTH, low 32 bits
constexpr size_t kScratchLengthHi = 6;   // out: high bits
constexpr size_t kScratchEntries = 8;    // out: fragments or pairs, 4 words each

struct Core {
  napi_ref scratch_ref = nullptr;
  uint32_t* scratch = nullptr;
  size_t scratch_words = 0;
  std::unique_ptr<NameTable> names;

  size_t Capacity() const { return scratch_words > kScratchEntries ? (scratch_words - kScratchEntries) / 4 : 0; }
  PairLimits Limits() const {
    return PairLimits{scratch[0], scratch[1], scratch[2], scratch[3]};
  }
};

void DeleteCore(napi_env env, void* data, void*) {
  Core* core = static_cast<Core*>(data);
  if (core->scratch_ref) napi_delete_reference(env, core->scratch_ref);
  delete core;
}

napi_value Throw(napi_env env, const char* message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return nullptr;
}

napi_value Int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

bool GetBytes(napi_env env, napi_value v, const uint8_t** data, size_t* len) {
  void* p = nullptr;
  if (napi_get_buffer_info(env, v, &p, len) != napi_ok) return false;
  *data = static_cast<const uint8_t*>(p);
  return true;
}

bool GetInt32Array(napi_env env, napi_value v, int32_t** data, size_t* len) {
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr) != napi_ok) return false;
  if (type != napi_int32_array) return false;
  *data = static_cast<int32_t*>(p);
  return true;
}

// Reads the arguments every hot call shares: (bytes, start, end-or-state...).
template <size_t N>
bool Args(napi_env env, napi_callback_info info, napi_value (&argv)[N], Core** core) {
  size_t argc = N;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, &data) != napi_ok || argc < N) return false;
  *core = static_cast<Core*>(data);
  return (*core)->scratch != nullptr;
}

// init(scratch: Uint32Array, names: string[]): registers the scratch array and the known-name table.
napi_value Init(napi_env env, napi_callback_info info) {
  Napi::CallbackInfo args(env, info);
  Core* core = static_cast<Core*>(args.Data());
  if (args.Length() < 2 || !args[0].IsTypedArray() || !args[1].IsArray())
    return Throw(env, "init(scratch: Uint32Array, names: string[])");
  Napi::TypedArray typed = args[0].As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_uint32_array || typed.ElementLength() < kScratchEntries + 4)
    return Throw(env, "scratch must be a Uint32Array of at least 12 words");
  Napi::Array list = args[1].As<Napi::Array>();
  std::vector<std::string> names;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsString()) return Throw(env, "names must be strings");
    names.push_back(v.As<Napi::String>().Utf8Value());
  }
  if (core->scratch_ref) napi_delete_reference(env, core->scratch_ref);
  napi_create_reference(env, typed, 1, &core->scratch_ref);
  core->scratch = reinterpret_cast<uint32_t*>(typed.As<Napi::Uint32Array>().Data());
  core->scratch_words = typed.ElementLength();
  core->names = std::make_unique<NameTable>(names);
  return args.Env().Undefined();
}

// scanRecords(chunk, start, state: Int32Array): fragments into scratch; returns count or a negative code.
napi_value ScanRecords(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Core* core;
  const uint8_t* chunk;
  size_t len, state_len;
  uint32_t start;
  int32_t* state;
  if (!Args(env, info, argv, &core) || !GetBytes(env, argv[0], &chunk, &len) ||
      napi_get_value_uint32(env, argv[1], &start) != napi_ok || !GetInt32Array(env, argv[2], &state, &state_len) ||
      state_len < cgiwire::fastcgi::kStateSize || start > len || len > INT32_MAX)
    return Throw(env, "scanRecords(chunk: Uint8Array, start: number, state: Int32Array)");
  return Int(env, cgiwire::fastcgi::ScanRecords(chunk, len, start, state, core->scratch + kScratchEntries,
                                                core->Capacity()));
}

// scanNetstring(chunk, start, state: Int32Array, maxHeader): like scanRecords, for the SCGI netstring.
napi_value ScanNetstring(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Core* core;
  const uint8_t* chunk;
  size_t len, state_len;
  uint32_t start, max_header;
  int32_t* state;
  if (!Args(env, info, argv, &core) || !GetBytes(env, argv[0], &chunk, &len) ||
      napi_get_value_uint32(env, argv[1], &start) != napi_ok || !GetInt32Array(env, argv[2], &state, &state_len) ||
      napi_get_value_uint32(env, argv[3], &max_header) != napi_ok || state_len < cgiwire::scgi::kNsStateSize ||
      start > len || len > INT32_MAX || max_header > INT32_MAX)
    return Throw(env, "scanNetstring(chunk: Uint8Array, start: number, state: Int32Array, maxHeader: number)");
  return Int(env, cgiwire::scgi::ScanNetstring(chunk, len, start, state, max_header,
                                               core->scratch + kScratchEntries, core->Capacity()));
}

bool RangeArgs(napi_env env, napi_callback_info info, Core** core, const uint8_t** buf, size_t* begin,
               size_t* end) {
  napi_value argv[3];
  size_t len;
  uint32_t b, e;
  if (!Args(env, info, argv, core) || !GetBytes(env, argv[0], buf, &len) ||
      napi_get_value_uint32(env, argv[1], &b) != napi_ok || napi_get_value_uint32(env, argv[2], &e) != napi_ok ||
      b > e || e > len)
    return false;
  *begin = b;
  *end = e;
  return true;
}

// decodePairs(buf, begin, end): pairs into scratch with the limits in scratch[0..3]; count or a code.
napi_value DecodePairs(napi_env env, napi_callback_info info) {
  Core* core;
  const uint8_t* buf;
  size_t begin, end;
  if (!RangeArgs(env, info, &core, &buf, &begin, &end))
    return Throw(env, "decodePairs(buf: Uint8Array, begin: number, end: number)");
  return Int(env, cgiwire::fastcgi::DecodePairs(buf, begin, end, core->Limits(), core->names.get(),
                                                core->scratch + kScratchEntries, core->Capacity(),
                                                core->scratch + kScratchShape));
}

// decodeScgiHeaders(buf, begin, end): as decodePairs, plus CONTENT_LENGTH in scratch[5..6].
napi_value DecodeScgiHeaders(napi_env env, napi_callback_info info) {
  Core* core;
  const uint8_t* buf;
  size_t begin, end;
  if (!RangeArgs(env, info, &core, &buf, &begin, &end))
    return Throw(env, "decodeScgiHeaders(buf: Uint8Array, begin: number, end: number)");
  uint64_t length = 0;
  int32_t n = cgiwire::scgi::DecodeHeaders(buf, begin, end, core->Limits(), core->names.get(),
                                           core->scratch + kScratchEntries, core->Capacity(),
                                           core->scratch + kScratchShape, &length);
  core->scratch[kScratchLengthLo] = static_cast<uint32_t>(length);
  core->scratch[kScratchLengthHi] = static_cast<uint32_t>(length >> 32);
  return Int(env, n);
}

// writeStreamHeaders(out, offset, type, requestId, length, close): the record headers for a stream payload
// of `length` bytes, 8 bytes each at out[offset..]; returns the record count.
napi_value WriteStreamHeaders(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  void* data;
  uint8_t* out;
  size_t out_len;
  uint32_t offset, type, id, length;
  bool close;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, &data) != napi_ok || argc < 6 ||
      napi_get_buffer_info(env, argv[0], reinterpret_cast<void**>(&out), &out_len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &offset) != napi_ok || napi_get_value_uint32(env, argv[2], &type) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &id) != napi_ok || napi_get_value_uint32(env, argv[4], &length) != napi_ok ||
      napi_get_value_bool(env, argv[5], &close) != napi_ok || type > 255 || id > 65535)
    return Throw(env, "writeStreamHeaders(out, offset, type, requestId, length, close)");
  size_t count = cgiwire::fastcgi::StreamRecordCount(length, close);
  if (offset > out_len || count * 8 > out_len - offset) return Throw(env, "writeStreamHeaders: out is too small");
  return Int(env, static_cast<int32_t>(cgiwire::fastcgi::WriteStreamHeaders(
                      out + offset, static_cast<uint8_t>(type), static_cast<uint16_t>(id), length, close)));
}

}  // namespace

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  Core* core = new Core();
  napi_set_instance_data(env, core, DeleteCore, nullptr);
  struct Fn {
    const char* name;
    napi_callback cb;
  };
  const Fn fns[] = {{"init", Init},
                    {"scanRecords", ScanRecords},
                    {"scanNetstring", ScanNetstring},
                    {"decodePairs", DecodePairs},
                    {"decodeScgiHeaders", DecodeScgiHeaders},
                    {"writeStreamHeaders", WriteStreamHeaders}};
  for (const Fn& fn : fns) {
    napi_value f;
    napi_create_function(env, fn.name, NAPI_AUTO_LENGTH, fn.cb, core, &f);
    exports.Set(fn.name, Napi::Value(env, f));
  }
  exports.Set("abi", Napi::Number::New(env, 1));
  return exports;
}

NODE_API_MODULE(cgiwire, InitModule)
