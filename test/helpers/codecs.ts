/**
 * The two codecs every codec test runs against. The native one must load: a suite that silently fell back
 * to the TypeScript core would test one implementation twice.
 */
import { createCodec, type Codec } from '../../lib/index.js';

export interface NamedCodec {
  readonly name: 'native' | 'js';
  readonly codec: Codec;
}

export const CODECS: readonly NamedCodec[] = [
  { name: 'native', codec: createCodec('native') },
  { name: 'js', codec: createCodec('js') },
];

/** The two codecs by name, for the differential tests. */
export const NATIVE: Codec = CODECS[0].codec;
export const JS: Codec = CODECS[1].codec;
