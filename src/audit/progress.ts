import cliProgress from 'cli-progress';

/** Called around each line of results, so a progress bar on the same terminal stays below them. */
export interface OutputHooks {
  beforeOutput(): void;
  afterOutput(): void;
}

/**
 * A progress bar on stderr for long work (scans of the log, replays), drawn only when stderr is a terminal. When
 * stdout is the same terminal, results stream above the bar: before a line the bar's line is cleared, after it
 * the cursor is saved again where the bar now redraws (cli-progress returns to that saved place when it stops).
 */
export interface Progress extends OutputHooks {
  update(position: number): void;
  stop(): void;
}

export function startProgress(label: string, total: number): Progress {
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | position {value}/{total} | {eta_formatted} left`,
      stream: process.stderr,
      // Result lines may be long: the terminal keeps wrapping them while the bar is shown.
      linewrap: true,
      forceRedraw: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const sharesTerminal = process.stderr.isTTY === true && process.stdout.isTTY === true;
  bar.start(Math.max(1, total), 0);
  return {
    update: (position) => bar.update(Math.min(position, bar.getTotal())),
    beforeOutput: () => {
      if (sharesTerminal) process.stderr.write('\r\x1b[K');
    },
    afterOutput: () => {
      if (sharesTerminal) process.stderr.write('\x1b7');
    },
    stop: () => {
      bar.update(bar.getTotal());
      bar.stop();
    },
  };
}
