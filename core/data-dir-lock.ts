// One agent per data_dir: two agents sharing a disk queue would send, acknowledge and delete
// each other's records. The lock is a directory (proper-lockfile: atomic mkdir, its mtime kept
// fresh while held), because a pid alone cannot tell a live holder from a dead one across
// container restarts and PID namespaces (every container's agent is pid 1). Beside the lock,
// its holder writes who it is (pushkit.owner), so that the usual cases are decided at once:
// - held by a live process of this host (not us): refused now, naming it;
// - left by a dead process of this host, or by an earlier run of this container (same host
//   name, our own pid): taken over now;
// - held by another host (an old pod on the same hostPath): waited for until it goes stale
//   (its holder stopped refreshing it), then taken over; refused if it stays fresh.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import lockfile from "proper-lockfile";
import type { Logger } from "pino";
import { ConfigError } from "./options.ts";

const LOCK = "pushkit.lock";
const OWNER = "pushkit.owner";
/** A lock not refreshed for this long is stale: its holder is gone (proper-lockfile's default). */
const STALE_MS = 10_000;

interface Owner {
  pid: number;
  host: string;
  since: string;
}

export interface DataDirLock {
  release(): Promise<void>;
}

/** Who holds the lock, when it is held and its holder said so. */
function readOwner(dataDir: string): Owner | undefined {
  if (!existsSync(path.join(dataDir, LOCK))) return undefined;
  try {
    return JSON.parse(readFileSync(path.join(dataDir, OWNER), "utf8")) as Owner;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function describe(o: Owner | undefined): string {
  return o ? `pid ${o.pid} on host ${o.host}, since ${o.since}` : "an agent that did not say who it is";
}

export async function lockDataDir(dataDir: string, log: Logger): Promise<DataDirLock> {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (e) {
    throw new ConfigError(`data_dir ${dataDir}: cannot create it: ${(e as Error).message}`);
  }
  const lockDir = path.join(dataDir, LOCK);
  const me: Owner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  const ownerFile = path.join(dataDir, OWNER);
  const holder = readOwner(dataDir);
  if (holder && holder.host === me.host) {
    if (holder.pid !== me.pid && alive(holder.pid)) {
      throw new ConfigError(`data_dir ${dataDir} is in use by another pushkit (${describe(holder)}); two agents must not share a data_dir (its lock: ${lockDir})`);
    }
    log.info({ lock: lockDir, previous: holder }, "taking over the data_dir lock its previous holder left");
    rmSync(lockDir, { recursive: true, force: true });
  }

  const options = {
    lockfilePath: lockDir,
    realpath: false,
    stale: STALE_MS,
    // Waits out a holder on another host for a little longer than the stale time.
    retries: { retries: Math.ceil(STALE_MS / 1000) + 2, factor: 1, minTimeout: 1000, maxTimeout: 1000 },
    onCompromised: (e: Error) => {
      // The refresh came late (the event loop was held for longer than the stale time) or the
      // lock was removed; nobody else is expected to take it (one agent per node), so go on.
      log.error({ lock: lockDir, error: e.message }, "data_dir lock compromised; continuing");
    },
  };
  if (holder && holder.host !== me.host) log.warn({ lock: lockDir, holder }, "data_dir is locked by an agent on another host; waiting for its lock to go stale");
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dataDir, options);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOCKED") {
      throw new ConfigError(`data_dir ${dataDir} is in use by another pushkit (${describe(readOwner(dataDir))}); two agents must not share a data_dir (its lock: ${lockDir})`);
    }
    throw new ConfigError(`data_dir ${dataDir}: cannot lock it: ${(e as Error).message}`);
  }
  writeFileSync(ownerFile, JSON.stringify(me) + "\n");
  return {
    async release() {
      try {
        rmSync(ownerFile, { force: true });
        await release();
      } catch (e) {
        log.warn({ lock: lockDir, error: (e as Error).message }, "cannot release the data_dir lock");
      }
    },
  };
}
