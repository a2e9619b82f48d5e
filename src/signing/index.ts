/** Signed modules (docs/signing.md): the API the node and the CLI use. */
export { loadTrustPolicy, type TrustOptions, type TrustPolicy } from './trust.js';
export { signManifest, signModule, signModuleDetached, type Signed } from './sign.js';
export { verifyManifestSignature, verifyModuleSignature, type KeyInfo, type TrustView, type Verified } from './verify.js';
export { generateSigningKey, readPublicKey, readSigningKey, writeKeyPair, type PublicKeyInfo, type SigningKey } from './keys.js';
