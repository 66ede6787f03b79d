import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = [
  "fatal",
  "error",
  "warn",
  "info",
  "debug",
  "trace",
  "silent",
];

export function isLogLevel(s: string): s is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

let root: Logger | undefined;

/**
 * JSON lines on stderr for machines; pino-pretty when a person is watching a
 * terminal. Stdout stays free for command output (`--json`).
 */
export function createLogger(level: LevelWithSilent = "info", pretty = process.stderr.isTTY): Logger {
  if (pretty) {
    return pino({
      level,
      transport: {
        target: "pino-pretty",
        options: { destination: 2, colorize: true, translateTime: "SYS:HH:MM:ss.l" },
      },
    });
  }
  return pino({ level }, pino.destination({ fd: 2, sync: true }));
}

export function setRootLogger(l: Logger): void {
  root = l;
}

/** The process-wide logger, created on first use at `info` (or TORTIE_LOG_LEVEL). */
export function log(): Logger {
  if (!root) {
    const env = process.env["TORTIE_LOG_LEVEL"] ?? "info";
    root = createLogger(isLogLevel(env) ? env : "info");
  }
  return root;
}
