#include "aes_cbc.h"

#include <memory>

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace live::hlssink {

Result<std::vector<uint8_t>> aes128_cbc_encrypt(std::span<const uint8_t> plain, const AesKey& key,
                                                const AesIv& iv) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      &EVP_CIPHER_CTX_free);
  if (!ctx) return make_error(Errc::unsupported, "EVP_CIPHER_CTX_new failed");
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_cbc(), nullptr, key.data(), iv.data()) != 1)
    return make_error(Errc::unsupported, "AES-128-CBC init failed");
  std::vector<uint8_t> out(plain.size() + 16);
  int len1 = 0, len2 = 0;
  if (EVP_EncryptUpdate(ctx.get(), out.data(), &len1, plain.data(), int(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + len1, &len2) != 1)
    return make_error(Errc::unsupported, "AES-128-CBC encryption failed");
  out.resize(size_t(len1) + size_t(len2));
  return out;
}

Result<AesKey> random_aes_key() {
  AesKey key{};
  if (RAND_bytes(key.data(), int(key.size())) != 1)
    return make_error(Errc::unsupported, "RAND_bytes failed");
  return key;
}

AesIv iv_from_sequence(uint64_t media_sequence) {
  AesIv iv{};
  for (int i = 0; i < 8; ++i) iv[15 - i] = uint8_t(media_sequence >> (8 * i));
  return iv;
}

}  // namespace live::hlssink
