/**
 * The one place the local CA loads @peculiar/x509. It reads decorators' metadata through the Reflect API,
 * so reflect-metadata must be evaluated first, and it must sign with Node's WebCrypto: its own default
 * lookup is aimed at browsers and is not something to depend on.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509, webcrypto };
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
