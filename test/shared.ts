/** Access to ../shared (present in CI and developer checkouts, absent in a user's clone). */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SHARED_DIR = fileURLToPath(new URL('../../shared/', import.meta.url));
export const HAVE_SHARED = existsSync(SHARED_DIR);

export function sharedPath(rel: string): string {
  return `${SHARED_DIR}${rel}`;
}

export function readSharedJson<T>(rel: string): T {
  return JSON.parse(readFileSync(sharedPath(rel), 'utf8')) as T;
}

if (!HAVE_SHARED) {
  console.warn(`note: ${SHARED_DIR} is absent: tests against the shared reference data are skipped`);
}
