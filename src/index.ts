/** xasmap library entry. */
export * from './physics/index.js';
export { XasmapError } from './errors.js';
export { VERSION } from './version.js';
