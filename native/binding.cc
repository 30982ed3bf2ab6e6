// The only file that knows Node: thin conversions between JS values and the protocol core.
// Hot calls are raw Node-API callbacks (one napi_get_cb_info, one buffer lookup); results go into a
// scratch Uint32Array registered once by init(), never into JS objects built here (see PERF-NOTES).
// Per-environment state lives in instance data, so the addon loads in worker threads.
#include <napi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "fastcgi.h"
#include "scgi.h"

namespace {

using cgiwire::fastcgi::NameTable;
using cgiwire::fastcgi::PairLimits;
using cgiwire::fastcgi::ShapeTable;

// Scratch layout, shared with lib/codec/core.ts. Number arguments travel in scratch words rather than as JS
// arguments: a typed-array store costs about 1 ns, a napi_get_value_* call tens.
constexpr size_t kScratchLimits = 0;     // 4 words: maxBytes, maxPairs, maxName, maxValue
constexpr size_t kScratchShape = 4;      // out: shape hash of the decoded pairs
constexpr size_t kScratchLengthLo = 5;   // out: SCGI CONTENT_LENGTH, low 32 bits
constexpr size_t kScratchLengthHi = 6;   // out: high bits
constexpr size_t kScratchBegin = 7;      // in: start offset in the buffer
constexpr size_t kScratchEnd = 8;        // in: end offset (decoders) or maxHeader (netstring scanner)
constexpr size_t kScratchCount = 9;      // out: pair count of decodePairsText
constexpr size_t kScratchShapeId = 10;   // out: index of the registered shape the decoded pairs have, or 0
constexpr size_t kScratchState = 16;     // in/out: a scanner's state words (8)
constexpr size_t kScratchFragments = 24; // out: fragments, 4 words each, kFragmentCapacity of them
constexpr size_t kFragmentCapacity = 256;
constexpr size_t kScratchPairs = kScratchFragments + 4 * kFragmentCapacity;  // out: pairs, 4 words each

struct Core {
  napi_ref scratch_ref = nullptr;
  uint32_t* scratch = nullptr;
  size_t scratch_words = 0;
  std::unique_ptr<NameTable> names;
  ShapeTable shapes;

  size_t PairCapacity() const { return (scratch_words - kScratchPairs) / 4; }
  PairLimits Limits() const {
    return PairLimits{scratch[0], scratch[1], scratch[2], scratch[3]};
  }
  // After a decode that returned n >= 0 pairs: which registered shape they have.
  void MatchShape(int32_t n) {
    if (n >= 0) scratch[kScratchShapeId] = shapes.Match(scratch + kScratchPairs, n, scratch[kScratchShape]);
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

// Reads the arguments of a hot call and the core it belongs to.
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
  if (typed.TypedArrayType() != napi_uint32_array || typed.ElementLength() < kScratchPairs + 4)
    return Throw(env, "scratch must be a Uint32Array with room for fragments and pairs");
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

// Reads (bytes) and the scratch-held begin offset; false when they do not fit.
bool BytesArg(napi_env env, napi_callback_info info, Core** core, const uint8_t** buf, size_t* len,
              size_t* begin) {
  napi_value argv[1];
  if (!Args(env, info, argv, core) || !GetBytes(env, argv[0], buf, len) || *len > INT32_MAX) return false;
  *begin = (*core)->scratch[kScratchBegin];
  return *begin <= *len;
}

int32_t* State(Core* core) { return reinterpret_cast<int32_t*>(core->scratch + kScratchState); }

// scanRecords(chunk): from scratch[begin], with the state in scratch; fragments into scratch.
napi_value ScanRecords(napi_env env, napi_callback_info info) {
  Core* core;
  const uint8_t* chunk;
  size_t len, start;
  if (!BytesArg(env, info, &core, &chunk, &len, &start)) return Throw(env, "scanRecords(chunk: Uint8Array)");
  return Int(env, cgiwire::fastcgi::ScanRecords(chunk, len, start, State(core),
                                                core->scratch + kScratchFragments, kFragmentCapacity));
}

// scanNetstring(chunk): like scanRecords, for the SCGI netstring; maxHeader in scratch[end].
napi_value ScanNetstring(napi_env env, napi_callback_info info) {
  Core* core;
  const uint8_t* chunk;
  size_t len, start;
  if (!BytesArg(env, info, &core, &chunk, &len, &start) || core->scratch[kScratchEnd] > INT32_MAX)
    return Throw(env, "scanNetstring(chunk: Uint8Array)");
  return Int(env, cgiwire::scgi::ScanNetstring(chunk, len, start, State(core), core->scratch[kScratchEnd],
                                               core->scratch + kScratchFragments, kFragmentCapacity));
}

bool RangeArgs(napi_env env, napi_callback_info info, Core** core, const uint8_t** buf, size_t* begin,
               size_t* end) {
  size_t len;
  if (!BytesArg(env, info, core, buf, &len, begin)) return false;
  *end = (*core)->scratch[kScratchEnd];
  return *begin <= *end && *end <= len;
}

// decodePairs(buf): pairs of buf[begin, end) into scratch under the limits in scratch; count or a code.
napi_value DecodePairs(napi_env env, napi_callback_info info) {
  Core* core;
  const uint8_t* buf;
  size_t begin, end;
  if (!RangeArgs(env, info, &core, &buf, &begin, &end)) return Throw(env, "decodePairs(buf: Uint8Array)");
  int32_t n = cgiwire::fastcgi::DecodePairs(buf, begin, end, core->Limits(), core->names.get(),
                                            core->scratch + kScratchPairs, core->PairCapacity(),
                                            core->scratch + kScratchShape, core->shapes.Last());
  core->MatchShape(n);
  return Int(env, n);
}

// decodePairsText(buf): as decodePairs, but on success returns the latin1 string of buf[begin, end) (the
// count is in scratch[kScratchCount]): the string every value is cut from, made in the same crossing.
napi_value DecodePairsText(napi_env env, napi_callback_info info) {
  Core* core;
  const uint8_t* buf;
  size_t begin, end;
  if (!RangeArgs(env, info, &core, &buf, &begin, &end)) return Throw(env, "decodePairsText(buf: Uint8Array)");
  int32_t n = cgiwire::fastcgi::DecodePairs(buf, begin, end, core->Limits(), core->names.get(),
                                            core->scratch + kScratchPairs, core->PairCapacity(),
                                            core->scratch + kScratchShape, core->shapes.Last());
  if (n < 0) return Int(env, n);
  core->MatchShape(n);
  core->scratch[kScratchCount] = static_cast<uint32_t>(n);
  napi_value text;
  if (napi_create_string_latin1(env, reinterpret_cast<const char*>(buf + begin), end - begin, &text) != napi_ok)
    return nullptr;
  return text;
}

// decodeScgiHeaders(buf): as decodePairs, plus CONTENT_LENGTH in scratch.
napi_value DecodeScgiHeaders(napi_env env, napi_callback_info info) {
  Core* core;
  const uint8_t* buf;
  size_t begin, end;
  if (!RangeArgs(env, info, &core, &buf, &begin, &end)) return Throw(env, "decodeScgiHeaders(buf: Uint8Array)");
  uint64_t length = 0;
  int32_t n = cgiwire::scgi::DecodeHeaders(buf, begin, end, core->Limits(), core->names.get(),
                                           core->scratch + kScratchPairs, core->PairCapacity(),
                                           core->scratch + kScratchShape, &length);
  core->scratch[kScratchLengthLo] = static_cast<uint32_t>(length);
  core->scratch[kScratchLengthHi] = static_cast<uint32_t>(length >> 32);
  core->MatchShape(n);
  return Int(env, n);
}

// registerShape(ids: Uint16Array): remembers a sequence of known-name ids; its index (1-based), or 0 when
// the table is full. Later decodes report it in scratch[kScratchShapeId]. Not on the hot path.
napi_value RegisterShape(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Core* core;
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (!Args(env, info, argv, &core) ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint16_array)
    return Throw(env, "registerShape(ids: Uint16Array)");
  return Int(env, static_cast<int32_t>(core->shapes.Register(static_cast<const uint16_t*>(data), length)));
}

// forgetShapes(): clears the registered shapes.
napi_value ForgetShapes(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  static_cast<Core*>(data)->shapes.Clear();
  return nullptr;
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

// Reads the one argument of the fd calls.
bool FdArg(napi_env env, napi_callback_info info, int32_t* fd) {
  size_t argc = 1;
  napi_value argv[1];
  return napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc >= 1 &&
         napi_get_value_int32(env, argv[0], fd) == napi_ok;
}

// socketKind(fd): "listening", "connected" or "not-socket". Spawn mode (FastCGI 1.0, 2.2): the web server
// passes a listening socket as fd 0, on which getpeername fails with ENOTCONN; a pipe gives ENOTSOCK.
napi_value SocketKind(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!FdArg(env, info, &fd)) return Throw(env, "socketKind(fd: number)");
  sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  const char* kind = "connected";
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) kind = errno == ENOTCONN ? "listening" : "not-socket";
  napi_value out;
  napi_create_string_utf8(env, kind, NAPI_AUTO_LENGTH, &out);
  return out;
}

// quickAck(fd): asks the kernel to acknowledge received data at once on this TCP socket (TCP_QUICKACK; the
// mode lapses, so it is asked again after reads). Without it, a request body that ends in a small segment
// the peer holds back under Nagle waits for the 40 ms delayed ACK. Returns false where it does not apply.
napi_value QuickAck(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!FdArg(env, info, &fd)) return Throw(env, "quickAck(fd: number)");
  int on = 1;
  bool ok = false;
  (void)on;
#ifdef TCP_QUICKACK
  ok = setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof(on)) == 0;
#endif
  napi_value out;
  napi_get_boolean(env, ok, &out);
  return out;
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
                    {"decodePairsText", DecodePairsText},
                    {"decodeScgiHeaders", DecodeScgiHeaders},
                    {"registerShape", RegisterShape},
                    {"forgetShapes", ForgetShapes},
                    {"writeStreamHeaders", WriteStreamHeaders},
                    {"socketKind", SocketKind},
                    {"quickAck", QuickAck}};
  for (const Fn& fn : fns) {
    napi_value f;
    napi_create_function(env, fn.name, NAPI_AUTO_LENGTH, fn.cb, core, &f);
    exports.Set(fn.name, Napi::Value(env, f));
  }
  exports.Set("abi", Napi::Number::New(env, 1));
  return exports;
}

NODE_API_MODULE(cgiwire, InitModule)
