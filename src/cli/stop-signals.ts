/** Ctrl-C and SIGTERM for long commands: remembered, not fatal, so the command can stop cleanly. */
export interface StopSignals {
  /** 'SIGINT' or 'SIGTERM' once one arrived, else null */
  readonly signal: string | null;
  /** removes the handlers (call in `finally`) */
  dispose(): void;
}

export function watchStopSignals(onSignal?: (sig: string) => void): StopSignals {
  const state = { signal: null as string | null };
  const handler = (sig: string) => () => {
    state.signal = sig;
    onSignal?.(sig);
  };
  const sigint = handler('SIGINT');
  const sigterm = handler('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  return {
    get signal() {
      return state.signal;
    },
    dispose() {
      process.off('SIGINT', sigint);
      process.off('SIGTERM', sigterm);
    },
  };
}
