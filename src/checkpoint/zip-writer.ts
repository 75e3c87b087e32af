/**
 * A minimal zip writer for torch.save archives: records stored uncompressed, each record's data
 * aligned to 64 bytes (padding in an `FB` extra field, as PyTorch's own writer does) so that
 * readers can map tensor bytes in place. Written by hand because general zip writers cannot
 * align records; archives over 4 GiB (ZIP64) are refused for now.
 */
import { crc32 } from 'node:zlib';
import type { FileHandle } from 'node:fs/promises';
import { ErrorCode, OnestepError } from '../errors.js';

const ALIGN = 64;

interface Written { name: Uint8Array; crc: number; size: number; offset: number; extra: number }

export class AlignedZipWriter {
  #offset = 0;
  #entries: Written[] = [];
  constructor(readonly file: FileHandle) {}

  async add(name: string, data: Uint8Array): Promise<void> {
    const nameBytes = new TextEncoder().encode(name);
    const headerEnd = this.#offset + 30 + nameBytes.length;
    // The extra field is at least 4 bytes (id + length) when present.
    const pad = (ALIGN - ((headerEnd + 4) % ALIGN)) % ALIGN;
    const extraLength = 4 + pad;
    const header = Buffer.alloc(30 + nameBytes.length + extraLength);
    const crc = crc32(data);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4); // version needed
    header.writeUInt16LE(0x0800, 6); // flags: UTF-8 names
    header.writeUInt16LE(0, 8); // stored
    header.writeUInt32LE(0, 10); // time, date
    header.writeUInt32LE(crc, 14);
    header.writeUInt32LE(data.length, 18);
    header.writeUInt32LE(data.length, 22);
    header.writeUInt16LE(nameBytes.length, 26);
    header.writeUInt16LE(extraLength, 28);
    header.set(nameBytes, 30);
    header.writeUInt16LE(0x4246, 30 + nameBytes.length); // 'FB'
    header.writeUInt16LE(pad, 32 + nameBytes.length);
    if (this.#offset + header.length + data.length > 0xffffffff) {
      throw new OnestepError(ErrorCode.CheckpointUnsupported, 'writing .pt archives over 4 GiB (ZIP64); save as .safetensors instead');
    }
    await this.file.write(header, 0, header.length, this.#offset);
    await this.file.write(data, 0, data.length, this.#offset + header.length);
    this.#entries.push({ name: nameBytes, crc, size: data.length, offset: this.#offset, extra: extraLength });
    this.#offset += header.length + data.length;
  }

  async finish(): Promise<void> {
    const start = this.#offset;
    const parts: Buffer[] = [];
    for (const e of this.#entries) {
      const h = Buffer.alloc(46 + e.name.length);
      h.writeUInt32LE(0x02014b50, 0);
      h.writeUInt16LE(20, 4); // made by
      h.writeUInt16LE(20, 6); // needed
      h.writeUInt16LE(0x0800, 8);
      h.writeUInt16LE(0, 10);
      h.writeUInt32LE(0, 12);
      h.writeUInt32LE(e.crc, 16);
      h.writeUInt32LE(e.size, 20);
      h.writeUInt32LE(e.size, 24);
      h.writeUInt16LE(e.name.length, 28);
      h.writeUInt16LE(0, 30); // extra
      h.writeUInt16LE(0, 32); // comment
      h.writeUInt16LE(0, 34); // disk
      h.writeUInt16LE(0, 36); // internal attributes
      h.writeUInt32LE(0, 38); // external attributes
      h.writeUInt32LE(e.offset, 42);
      h.set(e.name, 46);
      parts.push(h);
    }
    const directory = Buffer.concat(parts);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(this.#entries.length, 8);
    end.writeUInt16LE(this.#entries.length, 10);
    end.writeUInt32LE(directory.length, 12);
    end.writeUInt32LE(start, 16);
    if (this.#entries.length > 0xffff || start + directory.length > 0xffffffff) {
      throw new OnestepError(ErrorCode.CheckpointUnsupported, 'writing .pt archives this large (ZIP64); save as .safetensors instead');
    }
    await this.file.write(Buffer.concat([directory, end]), 0, directory.length + 22, start);
  }
}
