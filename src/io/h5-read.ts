/**
 * Small h5wasm helpers shared by the render readers and writer (params-map.ts, measured.ts,
 * render-file.ts). Nothing from h5wasm leaves src/io: callers get typed arrays, numbers,
 * strings and XasmapErrors.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Dataset as H5Dataset, File as H5File, Group as H5Group } from 'h5wasm/node';
import { XasmapError } from '../errors.js';

export type { H5Dataset, H5File, H5Group };
export const H5: { File: typeof h5wasm.File } = h5wasm;

let readyPromise: Promise<void> | undefined;

/** Waits for the WASM module and turns on h5wasm's throwing error handler (see dataset-file.ts). */
export async function h5ready(): Promise<typeof h5wasm> {
  readyPromise ??= h5wasm.ready.then((Module) => {
    Module.activate_throwing_error_handler();
  });
  await readyPromise;
  return h5wasm;
}

/** Short reason from an h5wasm error (the HDF5 error stack is many lines). */
export function h5Reason(e: unknown): string {
  if (e instanceof XasmapError) return e.message;
  const msg = e instanceof Error ? e.message : String(e);
  const frames = msg
    .split('\n')
    .map((l) => /#\d+: .* in \w+\(\): (.*)$/.exec(l)?.[1])
    .filter((s): s is string => s !== undefined);
  if (frames.length === 0) return msg.split('\n')[0] ?? msg;
  const first = frames[0];
  const last = frames[frames.length - 1];
  return first === last ? `${first}` : `${first}: ${last}`;
}

export const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * 'FILE_NOT_FOUND' / 'NOT_HDF5' checks before handing the path to HDF5 (the superblock is at
 * offset 0 or, after a user block such as NXstxm's 32 KiB one, at 512 * 2^k).
 */
export function checkHdf5File(abs: string, what: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new XasmapError('FILE_NOT_FOUND', `${what} not found: ${abs}`);
  }
  if (!st.isFile()) throw new XasmapError('NOT_HDF5', `${what} ${abs} is not a regular file`);
  let fd: number;
  try {
    fd = fs.openSync(abs, 'r');
  } catch (e) {
    throw new XasmapError('FILE_UNREADABLE', `${what} ${abs} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const buf = Buffer.alloc(8);
    for (let off = 0; off + 8 <= st.size; off = off === 0 ? 512 : off * 2) {
      if (fs.readSync(fd, buf, 0, 8, off) === 8 && buf.equals(HDF5_SIGNATURE)) return;
    }
  } finally {
    fs.closeSync(fd);
  }
  throw new XasmapError('NOT_HDF5', `${what} ${abs} is not an HDF5 file (no HDF5 signature)`);
}

/** Opens read-only; a truncated or damaged file becomes a clear 'FILE_CORRUPT' naming it. */
export function openRead(abs: string, what: string): H5File {
  try {
    return new h5wasm.File(abs, 'r');
  } catch (e) {
    throw new XasmapError('FILE_CORRUPT', `${what} ${abs} cannot be opened as HDF5 (truncated or damaged?): ${h5Reason(e)}`);
  }
}

export function safeClose(f: { close(): unknown } | null | undefined): void {
  try {
    f?.close();
  } catch {
    /* already failing; keep the original error */
  }
}

/** The raw value of an attribute; undefined if absent or unreadable. */
function attrValue(obj: H5Group | H5Dataset, name: string): unknown {
  try {
    return obj.attrs[name]?.value;
  } catch {
    return undefined;
  }
}

/** g.get(name), or null where HDF5 cannot resolve it. */
export function safeGet(g: { get(name: string): unknown }, name: string): unknown {
  try {
    return g.get(name);
  } catch {
    return null;
  }
}

/** g.keys(), or [] where HDF5 cannot list it. */
export function safeKeys(g: { keys(): string[] }): string[] {
  try {
    return g.keys();
  } catch {
    return [];
  }
}

/** An attribute as a string (1-element string arrays, as NXstxm writes them, count too); undefined if absent or not text. */
export function attrString(obj: H5Group | H5Dataset, name: string): string | undefined {
  let v = attrValue(obj, name);
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.length === 1) v = v[0];
  if (typeof v === 'string') return v.replace(/\0+$/, '');
  return undefined;
}

/** An attribute as a list of strings (a string array, or one string split at ',' ':' or whitespace). */
export function attrStrings(obj: H5Group | H5Dataset, name: string): string[] | undefined {
  let v = attrValue(obj, name);
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v.split(/[,:\s]+/).filter((s) => s !== '');
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return (v as string[]).map((s) => s.replace(/\0+$/, ''));
  return undefined;
}

/** An attribute as a number (numeric scalars, 1-element arrays, bigint). */
export function attrNumber(obj: H5Group | H5Dataset, name: string): number | undefined {
  let v = attrValue(obj, name);
  if (v === undefined) return undefined;
  if (ArrayBuffer.isView(v) && (v as unknown as ArrayLike<unknown>).length === 1) v = (v as unknown as ArrayLike<unknown>)[0];
  if (Array.isArray(v) && v.length === 1) v = v[0];
  if (typeof v === 'bigint') return Number(v);
  return typeof v === 'number' ? v : undefined;
}

/** Any numeric typed array (or a bigint one) as Float64Array; null for non-numeric data. */
export function toFloat64(v: unknown): Float64Array | null {
  if (v instanceof Float64Array) return v;
  if (typeof v === 'number') return Float64Array.of(v);
  if (typeof v === 'bigint') return Float64Array.of(Number(v));
  if (v instanceof BigInt64Array || v instanceof BigUint64Array) return Float64Array.from(v, (x) => Number(x));
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Float64Array.from(v as unknown as ArrayLike<number>);
  return null;
}

/** Numeric dataset? (HDF5 class 0 = integer, 1 = float) */
export function isNumeric(ds: H5Dataset): boolean {
  const t = ds.metadata.type;
  return t === 0 || t === 1;
}

export function isGroup(e: unknown): e is H5Group {
  return e instanceof h5wasm.Group;
}

export function isDataset(e: unknown): e is H5Dataset {
  return e instanceof h5wasm.Dataset;
}

/**
 * Resolve, check and open an HDF5 file read-only and build a reader on it; the file is
 * closed again if the reader cannot be built. Errors other than XasmapError become
 * `unreadableCode` naming the file.
 */
export async function openHdf5Reader<R>(path: string, what: string, make: (f: H5File, abs: string) => R, unreadableCode: string): Promise<R> {
  await h5ready();
  const abs = nodePath.resolve(path);
  checkHdf5File(abs, what);
  const f = openRead(abs, what);
  try {
    return make(f, abs);
  } catch (e) {
    safeClose(f);
    if (e instanceof XasmapError) throw e;
    throw new XasmapError(unreadableCode, `${what} ${abs}: ${h5Reason(e)}`);
  }
}

/** Provenance attributes of an xasmap output's NXentry. */
export interface EntryProvenance {
  ion: string;
  model: string;
  version: string;
  commandLine: string;
  date: string;
}

/**
 * The NXroot (default 'entry') and its NXentry of an xasmap output file, with the provenance
 * attributes and `default` naming the NXdata group to plot; the caller adds its own attributes.
 */
export function createOutputEntry(f: H5File, defaultGroup: string, p: EntryProvenance): H5Group {
  f.create_attribute('NX_class', 'NXroot');
  f.create_attribute('default', 'entry');
  const entry = f.create_group('entry');
  entry.create_attribute('NX_class', 'NXentry');
  entry.create_attribute('default', defaultGroup);
  entry.create_attribute('ion', p.ion);
  entry.create_attribute('model', p.model);
  entry.create_attribute('xasmap_version', p.version);
  entry.create_attribute('command_line', p.commandLine);
  entry.create_attribute('date', p.date);
  return entry;
}

/** Creates (truncates) an HDF5 output file; OUTPUT_UNWRITABLE naming the path if it can't. */
export async function createOutputFile(path: string): Promise<{ f: H5File; abs: string }> {
  await h5ready();
  const abs = nodePath.resolve(path);
  try {
    return { f: new H5.File(abs, 'w'), abs };
  } catch (e) {
    throw new XasmapError('OUTPUT_UNWRITABLE', `cannot create ${abs}: ${h5Reason(e)}`);
  }
}
