/**
 * A group of processes training together (one per GPU, or several CPU processes), over
 * libtorch's own c10d: rendezvous through its TCPStore, then Gloo (CPU tensors) or NCCL (CUDA).
 * Started by `onestep launch` (or torchrun-style environment variables), joined with
 * `await ProcessGroup.init()`, handed to a trainer as `processGroup`.
 */
import { typeError, valueError } from '../errors.js';
import { native } from '../native.js';
import type { NativeProcessGroup } from '../native-types.js';
import type { Device, Tensor } from '../tensor.js';
import { cuda } from '../runtime.js';

export type Backend = 'gloo' | 'nccl';

export interface ProcessGroupOptions {
  /** 'nccl' for CUDA tensors, 'gloo' for CPU ones; default: 'nccl' where CUDA is available. */
  backend?: Backend;
  /** Defaults: the environment's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR (127.0.0.1), MASTER_PORT (29500). */
  rank?: number;
  worldSize?: number;
  localRank?: number;
  masterAddr?: string;
  masterPort?: number;
  /** How long to wait for the other processes, at the rendezvous and in each collective. */
  timeoutMs?: number;
}

function integerFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw valueError(`${name}=${text} is not a non-negative integer`);
  return value;
}

export class ProcessGroup {
  #native: NativeProcessGroup | null;

  private constructor(handle: NativeProcessGroup, readonly backend: Backend, readonly rank: number, readonly worldSize: number, readonly localRank: number) {
    this.#native = handle;
  }

  /** The backends this build has ('gloo' needs libgloo-dev on Debian; 'nccl' a CUDA build). */
  static backends(): Backend[] {
    const list = native().processGroupBackends();
    return list === 'none' ? [] : (list.split(', ') as Backend[]);
  }

  /** Joins the group: resolves when every process has arrived (or rejects after timeoutMs). */
  static async init(options: ProcessGroupOptions = {}): Promise<ProcessGroup> {
    const backend = options.backend ?? (cuda.isAvailable() ? 'nccl' : 'gloo');
    if (backend !== 'gloo' && backend !== 'nccl') throw typeError(`backend must be 'gloo' or 'nccl', not ${String(backend)}`);
    const worldSize = options.worldSize ?? integerFromEnv('WORLD_SIZE', 1);
    const rank = options.rank ?? integerFromEnv('RANK', 0);
    const localRank = options.localRank ?? integerFromEnv('LOCAL_RANK', rank);
    const masterAddr = options.masterAddr ?? process.env.MASTER_ADDR ?? '127.0.0.1';
    const masterPort = options.masterPort ?? integerFromEnv('MASTER_PORT', 29500);
    const timeoutMs = options.timeoutMs ?? 300_000;
    if (!Number.isInteger(worldSize) || worldSize < 1) throw valueError(`worldSize must be a positive integer, not ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw valueError(`rank must be an integer in [0, ${worldSize}), not ${rank}`);
    if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535) throw valueError(`masterPort must be in 1–65535, not ${masterPort}`);
    if (!(timeoutMs > 0)) throw valueError('timeoutMs must be positive');
    // NVLink multicast stays off in every process that may touch NCCL (it can take a shared host's GPUs down).
    process.env.NCCL_NVLS_ENABLE = '0';
    watchLauncher();
    // Each process works on its own GPU: libtorch's streams and NCCL's communicator follow the current device.
    if (backend === 'nccl') cuda.setDevice(localRank);
    const handle = await native().processGroupInit({ backend, rank, worldSize, masterAddr, masterPort, timeoutMs });
    return new ProcessGroup(handle, backend, rank, worldSize, localRank);
  }

  /**
   * In a script started by `onestep launch` (WORLD_SIZE > 1): joins its group — NCCL when the
   * script asks for a CUDA device, Gloo otherwise. Run alone: undefined.
   */
  static async joinIfLaunched(device: string): Promise<ProcessGroup | undefined> {
    if (integerFromEnv('WORLD_SIZE', 1) <= 1) return undefined;
    return ProcessGroup.init({ backend: device.startsWith('cuda') ? 'nccl' : 'gloo' });
  }

  /** This process's device: its own GPU over NCCL, the CPU over Gloo. */
  get device(): Device {
    return this.backend === 'nccl' ? `cuda:${this.localRank}` : 'cpu';
  }

  /** The native group, for trainers. */
  get nativeHandle(): NativeProcessGroup {
    if (!this.#native) throw typeError('this process group was disposed');
    return this.#native;
  }

  /** Sums `t` over the group, in place (CPU tensors for Gloo, CUDA tensors for NCCL). */
  async allReduce(t: Tensor): Promise<void> {
    await this.nativeHandle.allReduce(t.handle);
  }

  /**
   * Leaves the group; trainers that hold it keep it until they are disposed. The last of these
   * closes it as PyTorch's destroy_process_group does (NCCL's communicators flushed and shut down),
   * and on rank 0, whose process serves the group's store, waits until every rank has closed, 5 s
   * at most: dispose the group (and its trainers) on every rank before exiting.
   */
  dispose(): void {
    this.#native?.dispose();
    this.#native = null;
  }
}

/**
 * A process started by `onestep launch` ends itself if the launcher disappears without stopping
 * it (killed with SIGKILL, say), so that no rank is left behind holding a GPU.
 */
function watchLauncher(): void {
  const parent = Number(process.env.ONESTEP_LAUNCHER_PID);
  if (!parent) return;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      console.error(`onestep: the launcher (pid ${parent}) is gone; rank ${process.env.RANK} stops`);
      process.exit(1);
    }
  }, 1000);
  timer.unref();
}
