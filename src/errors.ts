/**
 * Typed error used across xasmap. `code` is a stable machine-readable
 * identifier (e.g. 'FILE_NOT_FOUND', 'DATASET_MISMATCH'); `exitCode` is the
 * process exit status the CLI should use when this error reaches the top level.
 */
export class XasmapError extends Error {
  constructor(
    public readonly code: string,
    message: string,
    public readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'XasmapError';
  }
}
