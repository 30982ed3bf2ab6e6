/**
 * cgiwire: FastCGI and SCGI for Node.js.
 * This release exports the codec layer: record and netstring readers, params decoding, encoders.
 */
export * from './codec/index.js';
export * from './errors.js';
