// Writes the fuzz corpora from the captured fixtures, each input with its harness's control prefix:
//   records/ the FastCGI streams; pairs/ each request's PARAMS content (and GET_VALUES content);
//   scgi/    the SCGI requests, cut 64 bytes after the netstring. Inputs are cut to 72 KiB: past one largest
//            record (8 + 65535 + 255 bytes).
// Usage: seed FIXTURES_DIR RECORDS_DIR PAIRS_DIR SCGI_DIR
#include <dirent.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<uint8_t>;
constexpr size_t kMaxSeed = 72 * 1024;

void Write(const std::string& path, const Bytes& prefix, const Bytes& body) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(prefix.data()), prefix.size());
  f.write(reinterpret_cast<const char*>(body.data()), std::min(body.size(), kMaxSeed));
}

// The netstring's length when `d` opens with `<digits>:`, else 0 (not SCGI).
size_t ScgiEnd(const Bytes& d) {
  size_t i = 0, declared = 0;
  for (; i < d.size() && i < 9 && d[i] >= '0' && d[i] <= '9'; i++) declared = declared * 10 + (d[i] - '0');
  return i > 0 && i < d.size() && d[i] == ':' ? i + 1 + declared + 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: seed FIXTURES_DIR RECORDS_DIR PAIRS_DIR SCGI_DIR\n");
    return 2;
  }
  std::string dir = argv[1], records_dir = argv[2], pairs_dir = argv[3], scgi_dir = argv[4];
  DIR* d = opendir(dir.c_str());
  if (!d) {
    std::perror(dir.c_str());
    return 1;
  }
  size_t counts[3] = {0, 0, 0};
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() < 5 || name.compare(name.size() - 4, 4, ".bin") != 0) continue;
    std::ifstream f(dir + "/" + name, std::ios::binary);
    Bytes data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (size_t end = ScgiEnd(data)) {
      data.resize(std::min(data.size(), end + 64));
      Write(scgi_dir + "/" + name, {0x80, 0x00, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff}, data);
      counts[2]++;
      continue;
    }
    Write(records_dir + "/" + name, {0x80, 0x00, 0x00}, data);
    Write(records_dir + "/cap1-" + name, {0x12, 0x34, 0x80}, data);
    counts[0] += 2;
    // PARAMS content per request id up to its empty PARAMS record (FastCGI 1.0, 3.3 and 6.2).
    std::map<uint32_t, Bytes> params;
    int index = 0;
    for (size_t at = 0; at + 8 <= data.size() && data[at] == 1;) {
      uint32_t type = data[at + 1], id = uint32_t(data[at + 2]) << 8 | data[at + 3];
      size_t len = size_t(data[at + 4]) << 8 | data[at + 5];
      if (data.size() - at - 8 < len) break;
      Bytes content(data.begin() + at + 8, data.begin() + at + 8 + len);
      if (type == 4 && len > 0) {
        params[id].insert(params[id].end(), content.begin(), content.end());
      } else if ((type == 4 && params.count(id)) || (type == 9 && len > 0)) {
        Write(pairs_dir + "/" + name + "-" + std::to_string(index++), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00},
              type == 4 ? params[id] : content);
        params.erase(id);
        counts[1]++;
      }
      at += 8 + len + data[at + 6];
    }
  }
  closedir(d);
  std::printf("seeds: %zu records, %zu pairs, %zu scgi\n", counts[0], counts[1], counts[2]);
  return 0;
}
