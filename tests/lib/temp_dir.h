// A fresh directory under the system temp directory, removed with everything in it when the
// object goes; shared by the lib/ and element tests that write files.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace live::test_util {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "live-test") {
    const std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (const char* made = mkdtemp(buffer.data())) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }  // empty if mkdtemp failed
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace live::test_util
