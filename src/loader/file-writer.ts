/**
 * Where one file's bytes go while they stream in, and how they are read back afterwards.
 *
 * - Hashing: a SHA-256 (@noble/hashes, incremental) is updated with every piece as it arrives, so the
 *   check at the end is no second pass over the file and needs no copy of it.
 * - Storage: a file of at most `chunkBytes` is held in one buffer and stored under its file key once its
 *   hash matched, as before. A larger one is stored as chunk entries of `chunkBytes` (the last one
 *   shorter) written as each fills, under `<prefix>chunks/<sha256>.<bytes>/<chunkBytes>/<index>`; once
 *   the whole file's hash matched, a small marker entry under the file key says so (`isCached` and
 *   `cachedModels` read that key). Chunks without a marker are an unfinished download: the next load
 *   hashes them again from storage (the hash state is not stored) and asks the server only for the rest.
 *   At most one chunk is in the JS heap at a time, whatever the file's size.
 * - Reading back: a `LoadedFile` reads its bytes from storage when asked (and holds nothing itself),
 *   unless the store refused them, in which case it holds them for this session.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { KinemaError, throwIfAborted } from '../errors';
import type { FileSpec } from '../models/types';
import { fileCacheKey, type ModelStore } from './store';

/** Chunk entries of this size for files larger than it: a few per GB, each small enough to hold at once. */
export const CHUNK_BYTES = 128 * 1024 ** 2;

/** Where a file's bytes are: a store entry (read on demand) or memory (the store refused them). */
export type Part = { readonly key: string; readonly bytes: number } | { readonly data: Uint8Array };

/** A loaded, verified file. */
export interface LoadedFile {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
  /** 'store': read from storage on each call; 'memory': held by this object for the session. */
  readonly held: 'store' | 'memory';
  /** The whole file in one Uint8Array, read now (for a graph, a tokenizer file, a data table). */
  read(): Promise<Uint8Array>;
  /** The file as a Blob made of its storage entries, without assembling its bytes here. */
  blob(): Promise<Blob>;
}

interface ChunkMarker {
  kinemaChunkedFile: 1;
  bytes: number;
  chunkBytes: number;
  chunks: number;
}

export function chunkPrefix(cacheKeyPrefix: string, file: Pick<FileSpec, 'sha256' | 'bytes'>, chunkBytes: number): string {
  return `${cacheKeyPrefix}chunks/${file.sha256}.${file.bytes}/${chunkBytes}/`;
}

const chunkLength = (bytes: number, chunkBytes: number, index: number) => Math.min(chunkBytes, bytes - index * chunkBytes);

/** Stores an entry; false (after warning once per load) when the store cannot take it. */
export type TryPut = (key: string, bytes: Uint8Array, file: FileSpec) => Promise<boolean>;

function allocate(file: FileSpec, length: number): Uint8Array {
  try {
    return new Uint8Array(length);
  } catch (error) {
    // The page cannot hold even this much (a RangeError from the allocator): nothing to retry.
    throw new KinemaError('OUT_OF_MEMORY', `Not enough memory to hold ${length} bytes of ${file.path} (${file.bytes} bytes) while it downloads; close other tabs or use a smaller variant`, {
      details: { file: file.path, bytes: file.bytes, bufferBytes: length }, cause: error,
    });
  }
}

function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

export class FileWriter {
  /** Bytes received, hashed and held (in the buffer or in parts) from the start of the file. */
  position = 0;
  /** Of those, the bytes read back from chunk entries a previous load stored. */
  resumedBytes = 0;
  private hash = sha256.create();
  private parts: Part[] = [];
  private buffer: Uint8Array | undefined;
  private fill = 0;

  constructor(
    readonly file: FileSpec,
    private readonly chunkBytes: number,
    private readonly store: ModelStore,
    private readonly cacheKeyPrefix: string,
    private readonly tryPut: TryPut,
  ) {
    // Allocated before any byte is fetched, so a page that cannot hold it fails first.
    this.buffer = allocate(file, this.chunked ? chunkLength(file.bytes, chunkBytes, 0) : file.bytes);
  }

  get chunked(): boolean {
    return this.file.bytes > this.chunkBytes;
  }

  private get prefix(): string {
    return chunkPrefix(this.cacheKeyPrefix, this.file, this.chunkBytes);
  }

  /** Takes over the chunks an earlier load stored (0, 1, … without a gap), hashing them again from storage. */
  async resume(signal?: AbortSignal): Promise<number> {
    if (!this.chunked) return 0;
    const prefix = this.prefix;
    const present = new Set(await this.store.keys(prefix).catch((): string[] => []));
    for (let index = 0; present.has(prefix + index); index++) {
      throwIfAborted(signal, 'loading the model');
      const length = chunkLength(this.file.bytes, this.chunkBytes, index);
      const bytes = await this.store.get(prefix + index).catch((): undefined => undefined);
      if (!bytes || bytes.byteLength !== length) break;
      this.hash.update(bytes);
      this.parts.push({ key: prefix + index, bytes: length });
      this.position += length;
    }
    this.resumedBytes = this.position;
    if (this.position > 0) this.buffer = this.position < this.file.bytes ? allocate(this.file, chunkLength(this.file.bytes, this.chunkBytes, this.parts.length)) : undefined;
    return this.position;
  }

  /** Appends the next bytes of the file (the caller checked they fit). */
  async write(piece: Uint8Array): Promise<void> {
    this.hash.update(piece);
    let offset = 0;
    while (offset < piece.byteLength) {
      const buffer = this.buffer ??= allocate(this.file, chunkLength(this.file.bytes, this.chunkBytes, this.parts.length));
      const n = Math.min(piece.byteLength - offset, buffer.byteLength - this.fill);
      buffer.set(piece.subarray(offset, offset + n), this.fill);
      this.fill += n;
      offset += n;
      this.position += n;
      if (this.chunked && this.fill === buffer.byteLength) await this.flushChunk();
    }
  }

  private async flushChunk(): Promise<void> {
    const buffer = this.buffer!;
    const key = this.prefix + this.parts.length;
    this.parts.push(await this.tryPut(key, buffer, this.file) ? { key, bytes: buffer.byteLength } : { data: buffer });
    this.buffer = undefined;
    this.fill = 0;
  }

  /** Forgets everything: the next bytes written are the file's first. Stored chunks are overwritten as they come again. */
  restart(): void {
    this.hash = sha256.create();
    this.position = 0;
    this.resumedBytes = 0;
    this.parts = [];
    this.fill = 0;
    if (this.chunked) this.buffer = undefined;
    else this.buffer ??= allocate(this.file, this.file.bytes);
  }

  /** Hex SHA-256 of the bytes written; call once the file is complete (it ends the hash). */
  digest(): string {
    return toHex(this.hash.digest());
  }

  /** The hash matched: store the file (or its marker) and hand it on. */
  async commit(): Promise<LoadedFile> {
    const { file } = this;
    if (!this.chunked) {
      const buffer = this.buffer!;
      this.buffer = undefined;
      const key = fileCacheKey(this.cacheKeyPrefix, file);
      return loadedFile(file, [await this.tryPut(key, buffer, file) ? { key, bytes: buffer.byteLength } : { data: buffer }], this.store);
    }
    const parts = this.parts;
    if (parts.every((part) => 'key' in part)) {
      const marker: ChunkMarker = { kinemaChunkedFile: 1, bytes: file.bytes, chunkBytes: this.chunkBytes, chunks: parts.length };
      // Without the marker the file still reads from its chunks this session; the next load re-checks them.
      await this.tryPut(fileCacheKey(this.cacheKeyPrefix, file), new TextEncoder().encode(JSON.stringify(marker)), file);
    }
    return loadedFile(file, parts, this.store);
  }

  /** The bytes did not verify: no chunk of them may be taken up by a later load. */
  async discardStored(): Promise<void> {
    if (!this.chunked) return;
    for (const key of await this.store.keys(this.prefix).catch((): string[] => [])) await this.store.delete(key).catch(() => false);
  }
}

/** The stored, complete file under its key (one entry, or a marker and its chunks), or undefined. */
export async function storedFile(store: ModelStore, cacheKeyPrefix: string, file: FileSpec): Promise<LoadedFile | undefined> {
  const key = fileCacheKey(cacheKeyPrefix, file);
  const size = store.size ? await store.size(key) : (await store.get(key))?.byteLength;
  if (size === undefined) return undefined;
  // The hash was checked before the entry was written and is part of its key; the length check catches
  // an entry truncated by storage. Re-hashing every hit would cost seconds per GB on each page load.
  if (size === file.bytes) return loadedFile(file, [{ key, bytes: size }], store);
  if (size > 4096) return undefined;
  const marker = parseMarker(await store.get(key));
  if (!marker || marker.bytes !== file.bytes || marker.chunks !== Math.ceil(file.bytes / marker.chunkBytes)) return undefined;
  const prefix = chunkPrefix(cacheKeyPrefix, file, marker.chunkBytes);
  const parts: Part[] = [];
  for (let index = 0; index < marker.chunks; index++) parts.push({ key: prefix + index, bytes: chunkLength(file.bytes, marker.chunkBytes, index) });
  const sizes = await Promise.all(parts.map((part) => (store.size ? store.size((part as { key: string }).key) : store.get((part as { key: string }).key).then((b) => b?.byteLength))));
  if (sizes.some((s, i) => s !== (parts[i] as { bytes: number }).bytes)) return undefined;
  return loadedFile(file, parts, store);
}

/** Bytes of a file's chunks stored without a gap from the start (keys only; nothing is read). */
export async function storedChunkBytes(store: ModelStore, cacheKeyPrefix: string, file: FileSpec, chunkBytes: number): Promise<number> {
  if (file.bytes <= chunkBytes) return 0;
  const prefix = chunkPrefix(cacheKeyPrefix, file, chunkBytes);
  const present = new Set(await store.keys(prefix).catch((): string[] => []));
  let bytes = 0;
  for (let index = 0; present.has(prefix + index); index++) bytes += chunkLength(file.bytes, chunkBytes, index);
  return bytes;
}

function parseMarker(bytes: Uint8Array | undefined): ChunkMarker | undefined {
  if (!bytes) return undefined;
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as Partial<ChunkMarker>;
    const ok = value.kinemaChunkedFile === 1 && Number.isInteger(value.bytes) && Number.isInteger(value.chunks)
      && Number.isInteger(value.chunkBytes) && value.chunkBytes! > 0;
    return ok ? value as ChunkMarker : undefined;
  } catch {
    return undefined;
  }
}

function storageFailure(file: FileSpec, what: string): KinemaError {
  return new KinemaError('STORAGE_FAILED', `${file.path} could not be read back from the model cache (${what}); load the model again (it will be downloaded where needed), or use cache: 'memory'`, {
    details: { file: file.path, bytes: file.bytes },
  });
}

export function loadedFile(file: FileSpec, parts: readonly Part[], store: ModelStore): LoadedFile {
  const held = parts.every((part) => 'key' in part) ? 'store' : 'memory';
  const readPart = async (part: Part): Promise<Uint8Array> => {
    if ('data' in part) return part.data;
    const bytes = await store.get(part.key).catch((): undefined => undefined);
    if (!bytes || bytes.byteLength !== part.bytes) throw storageFailure(file, bytes ? `an entry of ${bytes.byteLength} bytes where ${part.bytes} were stored` : 'an entry is gone');
    return bytes;
  };
  return {
    path: file.path,
    bytes: file.bytes,
    sha256: file.sha256,
    held,
    async read() {
      if (parts.length === 1) return readPart(parts[0]!);
      const out = allocate(file, file.bytes);
      let offset = 0;
      for (const part of parts) {
        const bytes = await readPart(part);
        out.set(bytes, offset);
        offset += bytes.byteLength;
      }
      return out;
    },
    async blob() {
      const pieces: BlobPart[] = [];
      for (const part of parts) {
        if ('data' in part) pieces.push(part.data as Uint8Array<ArrayBuffer>);
        else pieces.push((store.getBlob ? await store.getBlob(part.key) : undefined) ?? (await readPart(part) as Uint8Array<ArrayBuffer>));
      }
      const blob = new Blob(pieces);
      if (blob.size !== file.bytes) throw storageFailure(file, `${blob.size} bytes where ${file.bytes} were stored`);
      return blob;
    },
  };
}
