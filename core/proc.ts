import { readFileSync } from "node:fs";

/** Fields of /proc/PID/stat after the command name (which may itself hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** The kernel's start time of a process (field 22 of /proc/PID/stat): a PID plus this names one process. */
export function processStart(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** True while the process runs; a zombie (exited, not yet reaped) counts as gone. With `start`, only that very process. */
export function isAlive(pid: number, start?: string): boolean {
  const fields = statFields(pid);
  if (!fields) return false;
  if (fields[0] === "Z" || fields[0] === "X") return false;
  return start === undefined || start === "" || fields[19] === start;
}
