#ifndef SPENDLEDGER_CBORINGSHA256_SHIM_H
#define SPENDLEDGER_CBORINGSHA256_SHIM_H
// One declaration: BoringSSL's one-shot SHA-256, as swift-crypto builds it into every program that
// links its `Crypto` product (its copy of BoringSSL prefixes every symbol with `CCryptoBoringSSL_`).
// The chain hash calls it directly because `Crypto.SHA256` allocates and zeroes a context object
// for every digest, a third of the cost of hashing one ~200-byte event. Should swift-crypto ever
// rename the symbol, linking fails; nothing can go wrong silently.
#include <stddef.h>
#include <stdint.h>

uint8_t *CCryptoBoringSSL_SHA256(const uint8_t *data, size_t len, uint8_t out[32]);
#endif
