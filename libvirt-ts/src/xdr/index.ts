export { XdrWriter } from './writer.js';
export { XdrReader, XdrDecodeError } from './reader.js';
