/** Where a command writes; tests pass collectors, the binary passes the process streams. */
export interface CliIo {
  stdout(text: string): void;
  stderr(line: string): void;
  /** whether stderr is a terminal (progress bars redraw in place) */
  readonly isTTY: boolean;
}

export const processIo: CliIo = {
  stdout: (t) => {
    process.stdout.write(t);
  },
  stderr: (l) => {
    process.stderr.write(l.endsWith('\n') || l.endsWith('\r') ? l : `${l}\n`);
  },
  isTTY: Boolean(process.stderr.isTTY),
};
