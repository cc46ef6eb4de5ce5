/**
 * @peculiar/x509's declarations name WebCrypto's types as browser globals (`CryptoKey`, `Algorithm`,
 * `Crypto`…), which come from TypeScript's DOM lib. cvm runs on Node and compiles without DOM (adding it would
 * clash with Node's own `crypto` and web types), so those names did not resolve and every x509 API that uses
 * them was typed as an unknown "error type": unchecked, as loose as `any`. The library runs on Node's WebCrypto
 * (`x509.cryptoProvider.set(webcrypto)`, see resolvers/adapters/authority/local-ca/x509.ts), so these globals
 * are exactly Node's `webcrypto` types: the only names x509's declarations need, and nothing more.
 */
import type { webcrypto } from 'node:crypto';

declare global {
  type Algorithm = webcrypto.Algorithm;
  type AlgorithmIdentifier = webcrypto.AlgorithmIdentifier;
  type BufferSource = webcrypto.BufferSource;
  type Crypto = webcrypto.Crypto;
  type CryptoKey = webcrypto.CryptoKey;
  type CryptoKeyPair = webcrypto.CryptoKeyPair;
  type EcKeyGenParams = webcrypto.EcKeyGenParams;
  type EcKeyImportParams = webcrypto.EcKeyImportParams;
  type EcdsaParams = webcrypto.EcdsaParams;
  type KeyUsage = webcrypto.KeyUsage;
  type RsaHashedImportParams = webcrypto.RsaHashedImportParams;
}
