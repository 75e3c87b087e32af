/**
 * Starts one process per GPU (or several CPU processes) of a data-parallel run, torchrun-style:
 * each gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT (and
 * NCCL_NVLS_ENABLE=0), its output comes back line by line behind a "[rank N]" prefix, and when one
 * process fails the others are stopped (SIGTERM, then SIGKILL) and the launch rejects with an
 * error naming the rank. Several machines: run one launcher per machine with the same nnodes,
 * masterAddr and masterPort and each its nodeRank.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { OnestepError, ErrorCode, valueError } from '../errors.js';

export interface LaunchOptions {
  /** Processes on this machine. */
  nproc: number;
  /** The script each process runs (TypeScript through tsx, or JavaScript) and its arguments. */
  script: string;
  args?: string[];
  /** Machines taking part, and this one's index among them. */
  nnodes?: number;
  nodeRank?: number;
  /** Where rank 0 serves the rendezvous (c10d's TCPStore). */
  masterAddr?: string;
  masterPort?: number;
  /** Extra environment for every process. */
  env?: Record<string, string>;
  /** Milliseconds between SIGTERM and SIGKILL when stopping the others. */
  graceMs?: number;
  /** Where the prefixed output goes (default: this process's stdout and stderr). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** How each process of a launch ended. */
export interface RankExit {
  rank: number;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

function checkInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) throw valueError(`${name} must be an integer in [${min}, ${max}], not ${value}`);
}

/** Runs the processes to the end; resolves with their exits, or rejects when one fails. */
export async function launch(options: LaunchOptions): Promise<RankExit[]> {
  const { nproc, script, args = [], nnodes = 1, nodeRank = 0, masterAddr = '127.0.0.1', masterPort = 29500, graceMs = 5000 } = options;
  checkInteger('nproc', nproc, 1, 1024);
  checkInteger('nnodes', nnodes, 1, 1024);
  checkInteger('nodeRank', nodeRank, 0, nnodes - 1);
  checkInteger('masterPort', masterPort, 1, 65535);
  if (typeof script !== 'string' || script === '') throw valueError('launch needs the script to run');
  const out = options.stdout ?? process.stdout;
  const err = options.stderr ?? process.stderr;
  const worldSize = nnodes * nproc;
  const runner = /\.(c|m)?tsx?$/.test(script) ? ['--import', 'tsx'] : [];

  const children: { rank: number; child: ChildProcess; exit: Promise<RankExit> }[] = [];
  let failure: RankExit | undefined;
  let stopping = false;
  const stopAll = (signal: NodeJS.Signals = 'SIGTERM') => {
    stopping = true;
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const force = setTimeout(() => {
      for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, graceMs);
    force.unref();
  };
  // Ctrl-C or a kill of the launcher stops every rank with it.
  const onSignal = (signal: NodeJS.Signals) => stopAll(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  for (let local = 0; local < nproc; local++) {
    const rank = nodeRank * nproc + local;
    const child = spawn(process.execPath, [...runner, script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env, ...options.env,
        RANK: String(rank), WORLD_SIZE: String(worldSize), LOCAL_RANK: String(local), LOCAL_WORLD_SIZE: String(nproc),
        MASTER_ADDR: masterAddr, MASTER_PORT: String(masterPort), NCCL_NVLS_ENABLE: '0', ONESTEP_LAUNCHER_PID: String(process.pid),
      },
    });
    const prefix = `[rank ${rank}] `;
    createInterface({ input: child.stdout! }).on('line', (line) => out.write(prefix + line + '\n'));
    createInterface({ input: child.stderr! }).on('line', (line) => err.write(prefix + line + '\n'));
    const exit = new Promise<RankExit>((resolve) => {
      child.on('error', (e) => err.write(`${prefix}could not start: ${e.message}\n`));
      child.on('close', (code, signal) => {
        const result = { rank, pid: child.pid ?? -1, code, signal };
        if ((code !== 0 || signal) && !failure && !stopping) {
          failure = result;
          stopAll();
        }
        resolve(result);
      });
    });
    children.push({ rank, child, exit });
  }
  try {
    const exits = await Promise.all(children.map((c) => c.exit));
    if (failure) {
      const how = failure.signal ? `was killed by ${failure.signal}` : `exited with code ${failure.code}`;
      throw new OnestepError(ErrorCode.Distributed, `rank ${failure.rank} (pid ${failure.pid}) ${how}; the other ranks were stopped`);
    }
    const stopped = exits.find((e) => e.code !== 0 || e.signal);
    if (stopped) throw new OnestepError(ErrorCode.Distributed, `the launch was interrupted (rank ${stopped.rank} ${stopped.signal ?? `code ${stopped.code}`})`);
    return exits;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
