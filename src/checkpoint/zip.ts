/**
 * torch.save's zip container, read with yauzl (a maintained, ZIP64-capable reader): the pickle
 * record and the byte range of every storage record, so that storages are read in place.
 */
import { close, fstatSync, openSync, read, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { ErrorCode, OnestepError } from '../errors.js';
import { corrupt } from './pickle.js';

export interface TorchZip {
  /** The folder every record sits under ('archive/', 'model/', …). */
  prefix: string;
  /** The bytes of `data.pkl`. */
  pickle: Uint8Array;
  /** Byte ranges of the `data/<key>` records. */
  records: Map<string, { offset: number; nbytes: number }>;
  /** Whether the archive is TorchScript (`constants.pkl`, `code/`). */
  torchScript: boolean;
}

const MAX_PICKLE_BYTES = 1 << 30;

function readAll(stream: NodeJS.ReadableStream, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) reject(corrupt(`a zip record exceeds ${limit} bytes`));
      else chunks.push(chunk);
    });
    stream.on('error', (error: Error) => reject(corrupt(`bad zip record: ${error.message}`)));
    stream.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
  });
}

/**
 * yauzl's file reader with every read checked against the file's size: a damaged archive can
 * name positions past 2^53, which Node's fs.read throws on outside any callback (an uncaught
 * exception). Here they become ordinary errors.
 */
class BoundedFileReader extends yauzl.RandomAccessReader {
  /** The end of the file, where the central directory lives, read once: yauzl then parses it from memory. */
  readonly #tail: Buffer;
  readonly #tailStart: number;
  constructor(readonly fd: number, readonly size: number) {
    super();
    this.#tailStart = Math.max(0, size - TAIL_BYTES);
    this.#tail = Buffer.alloc(size - this.#tailStart);
    readSync(fd, this.#tail, 0, this.#tail.length, this.#tailStart);
  }

  /** The byte offset where a stored record's data begins, from its local header (read directly). */
  dataStart(entry: yauzl.Entry): number {
    const at = entry.relativeOffsetOfLocalHeader;
    const header = Buffer.alloc(30);
    if (!this.#inside(at, at + 30) || readSync(this.fd, header, 0, 30, at) !== 30 || header.readUInt32LE(0) !== 0x04034b50) {
      throw corrupt(`zip record '${entry.fileName}' has no valid local header`);
    }
    const start = at + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
    if (!this.#inside(start, start + entry.compressedSize)) throw corrupt(`zip record '${entry.fileName}' runs past the end of the file`);
    return start;
  }
  #inside(start: number, end: number): boolean {
    return Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end && end <= this.size;
  }
  override _readStreamForRange(start: number, end: number): Readable {
    if (!this.#inside(start, end)) {
      const failing = new Readable({ read() {} });
      setImmediate(() => failing.destroy(new Error(`range ${start}–${end} lies outside the file (${this.size} bytes)`)));
      return failing;
    }
    // Our own stream over the shared descriptor: an fs.ReadStream would close it when destroyed.
    const fd = this.fd;
    let position = start;
    return new Readable({
      read(size) {
        const n = Math.min(size, end - position);
        if (n <= 0) { this.push(null); return; }
        const buffer = Buffer.allocUnsafe(n);
        read(fd, buffer, 0, n, position, (error, got) => {
          if (error) { this.destroy(error); return; }
          if (got === 0) { this.destroy(new Error('unexpected end of file')); return; }
          position += got;
          this.push(got < n ? buffer.subarray(0, got) : buffer);
        });
      },
    });
  }
  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null, bytesRead?: number) => void): void {
    if (!this.#inside(position, position + length)) {
      setImmediate(() => callback(new Error(`read of ${length} bytes at ${position} lies outside the file (${this.size} bytes)`)));
      return;
    }
    if (position >= this.#tailStart) {
      this.#tail.copy(buffer, offset, position - this.#tailStart, position - this.#tailStart + length);
      process.nextTick(callback, null, length);
      return;
    }
    read(this.fd, buffer, offset, length, position, (error, bytesRead) => callback(error, bytesRead));
  }
  #closed = false;
  override close(callback: (err: Error | null) => void): void {
    if (this.#closed) return setImmediate(() => callback(null)) as unknown as void;
    this.#closed = true;
    close(this.fd, () => callback(null));
  }
}

const TAIL_BYTES = 4 << 20;

export async function readTorchZip(path: string): Promise<TorchZip> {
  let zip: yauzl.ZipFile;
  let reader: BoundedFileReader;
  try {
    const fd = openSync(path, 'r');
    reader = new BoundedFileReader(fd, fstatSync(fd).size);
    zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.fromRandomAccessReader(reader, reader.size, { lazyEntries: true, autoClose: false, strictFileNames: false, validateEntrySizes: true }, (error, file) =>
        (error ? (reader.close(() => {}), reject(error)) : resolve(file))));
  } catch (error) {
    throw corrupt(`'${path}' is not a readable zip archive: ${(error as Error).message}`);
  }
  try {
    const entries: yauzl.Entry[] = [];
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entries.length >= 1_000_000) { reject(corrupt('zip archive has too many entries')); return; }
        entries.push(entry);
        zip.readEntry();
      });
      zip.on('end', () => resolve());
      zip.on('error', (error: Error) => reject(corrupt(`bad zip archive '${path}': ${error.message}`)));
      zip.readEntry();
    });
    if (entries.length === 0) throw corrupt(`zip archive '${path}' is empty`);
    const first = entries[0]!.fileName;
    const slash = first.indexOf('/');
    if (slash <= 0) throw corrupt(`zip archive '${path}' is not a torch.save archive (no top-level folder)`);
    const prefix = first.slice(0, slash + 1);

    let pickleEntry: yauzl.Entry | undefined;
    const storageEntries: [string, yauzl.Entry][] = [];
    let torchScript = false;
    for (const entry of entries) {
      if (!entry.fileName.startsWith(prefix)) throw corrupt(`zip entry '${entry.fileName}' lies outside the archive folder '${prefix}'`);
      const name = entry.fileName.slice(prefix.length);
      if (name === 'data.pkl') pickleEntry = entry;
      else if (name === 'constants.pkl' || name.startsWith('code/')) torchScript = true;
      else if (name.startsWith('data/') && name.length > 5) {
        if (entry.compressionMethod !== 0) {
          throw new OnestepError(ErrorCode.CheckpointUnsupported, `zip record '${entry.fileName}' is compressed; torch.save stores records uncompressed`);
        }
        storageEntries.push([name.slice(5), entry]);
      }
    }
    // Each local header says where its record's data starts: 30 bytes each, read directly.
    const records = new Map<string, { offset: number; nbytes: number }>();
    for (const [key, entry] of storageEntries) records.set(key, { offset: reader.dataStart(entry), nbytes: entry.uncompressedSize });
    if (!pickleEntry) {
      if (torchScript) throw new OnestepError(ErrorCode.CheckpointUnsupported, `'${path}' is a TorchScript archive (torch.jit.save), not a torch.save checkpoint`);
      throw corrupt(`zip archive '${path}' has no data.pkl record`);
    }
    const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
      zip.openReadStream(pickleEntry!, (error, s) => (error ? reject(corrupt(`bad zip record data.pkl: ${error.message}`)) : resolve(s))));
    const pickle = await readAll(stream, MAX_PICKLE_BYTES);
    return { prefix, pickle, records, torchScript };
  } finally {
    zip.close();
  }
}
