export { bundleId, type Listing } from './id.js';
export { DEFAULT_BUNDLE_LIMITS, bundleLimits, type BundleLimits } from './limits.js';
export { BUNDLE_MANIFEST } from './manifest-files.js';
export { packBundle, packBundleToFile, type PackOptions, type PackResult } from './pack.js';
export { unpackBundle, type UnpackResult } from './unpack.js';
