import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { Config, PhotoType } from '../../../core/config.schema.js';
import { BadRequestError, PayloadTooLargeError, UnprocessableError } from '../../../core/errors.js';
import { UploadMetadataSchema, type UploadMetadata } from '../../../core/inspection.schema.js';
import type { PhotoStore } from '../../../core/photo-store/photo-store.js';
import { checkFileName, checkPhotoFile, checkSniffedType, SNIFF_BYTES } from './photo-check.js';

/**
 * The multipart contract of `POST /v1/inspections`:
 *   1. a text field `metadata`: the upload metadata as JSON, FIRST, so it is validated before a photo byte is read;
 *   2. one file part `photo` per view, in the order of `metadata.views`.
 * Each photo streams into a staging file while it is hashed; nothing becomes visible in the photo store or the
 * database here. The caller either commits the staged files or calls `discard()`.
 */

export const METADATA_FIELD = 'metadata';
export const PHOTO_FIELDS = ['photo', 'photos'];

export interface StagedPhoto {
  stagedPath: string;
  sha256: string;
  bytes: number;
  type: PhotoType;
  width: number;
  height: number;
  fileName: string | null;
}

export interface ReceivedUpload {
  metadata: UploadMetadata;
  photos: StagedPhoto[];
  discard(): Promise<void>;
}

export interface ReceiveDeps {
  config: Config;
  photos: PhotoStore;
  profileNames: readonly string[];
}

export function parseMetadata(text: string, deps: Pick<ReceiveDeps, 'config' | 'profileNames'>): UploadMetadata {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`field "metadata" is not valid JSON: ${(err as Error).message}`, 'invalid_metadata');
  }
  const parsed = UploadMetadataSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: ['metadata', ...i.path].join('.'), message: i.message }));
    throw new BadRequestError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), 'invalid_metadata', issues);
  }
  const metadata = parsed.data;
  if (!deps.profileNames.includes(metadata.profile)) {
    throw new UnprocessableError(
      `metadata.profile: unknown profile "${metadata.profile}" (known: ${deps.profileNames.join(', ')})`,
      'unknown_profile',
    );
  }
  if (metadata.views.length > deps.config.upload.maxPhotos) {
    throw new PayloadTooLargeError(
      `metadata.views lists ${metadata.views.length} views; at most ${deps.config.upload.maxPhotos} photos per inspection (MAX_PHOTOS_PER_INSPECTION)`,
      'too_many_photos',
    );
  }
  return metadata;
}

/** Hashes and counts the bytes flowing through, and checks the magic bytes as soon as enough have arrived. */
function hashingSniffer(onHead: (head: Buffer) => void) {
  const hash = createHash('sha256');
  let bytes = 0;
  let head: Buffer | null = Buffer.alloc(0);
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        if (head !== null) {
          head = Buffer.concat([head, chunk]);
          if (head.length >= SNIFF_BYTES) {
            onHead(head);
            head = null;
          }
        }
        hash.update(chunk);
        bytes += chunk.length;
        cb(null, chunk);
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb) {
      try {
        if (head !== null) onHead(head);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
  return { stream: t, digest: () => hash.digest('hex'), size: () => bytes };
}

export async function receiveUpload(req: FastifyRequest, deps: ReceiveDeps): Promise<ReceivedUpload> {
  const { config, photos: store } = deps;
  const u = config.upload;
  const staged: StagedPhoto[] = [];
  const strays: string[] = [];
  const discard = async () => {
    await Promise.all([...staged.map((p) => p.stagedPath), ...strays].map((p) => store.discardStaged(p)));
  };
  let metadata: UploadMetadata | null = null;

  try {
    const parts = req.parts({
      // busboy would strip "../" from file names; keep them, so a client sending one is told so instead of ignored.
      preservePath: true,
      limits: { fileSize: u.maxPhotoBytes, files: u.maxPhotos, fields: 4, fieldSize: u.maxFieldBytes, parts: u.maxPhotos + 4, headerPairs: 100 },
    });
    for await (const part of parts) {
      if (part.type === 'field') {
        if (part.fieldname !== METADATA_FIELD) {
          throw new BadRequestError(`unexpected field "${part.fieldname}"; send one "metadata" field (JSON) and "photo" file parts`, 'unexpected_field');
        }
        if (metadata) throw new BadRequestError('field "metadata" was sent twice', 'duplicate_metadata');
        if (part.valueTruncated) {
          throw new PayloadTooLargeError(`field "metadata" is larger than ${u.maxFieldBytes} bytes (MAX_FIELD_BYTES)`, 'field_too_large');
        }
        metadata = parseMetadata(String(part.value), deps);
        continue;
      }
      await receivePhoto(part);
    }
  } catch (err) {
    await discard();
    throw err;
  }

  if (!metadata) {
    await discard();
    throw new BadRequestError('field "metadata" is missing; send it (JSON) before the photo parts', 'missing_metadata');
  }
  if (staged.length !== metadata.views.length) {
    await discard();
    throw new BadRequestError(
      `metadata.views lists ${metadata.views.length} views but ${staged.length} photos were sent; send one "photo" part per view, in order`,
      'views_photos_mismatch',
    );
  }
  return { metadata, photos: staged, discard };

  async function receivePhoto(part: MultipartFile) {
    const label = `photo ${staged.length + 1}${part.filename ? ` ("${part.filename.slice(0, 80)}")` : ''}`;
    const drain = () => part.file.resume();
    if (!PHOTO_FIELDS.includes(part.fieldname)) {
      drain();
      throw new BadRequestError(`unexpected file field "${part.fieldname}"; photos go in "photo" parts`, 'unexpected_field');
    }
    if (!metadata) {
      drain();
      throw new BadRequestError('send the "metadata" field before the photo parts, so it can be checked before any photo is stored', 'metadata_after_photos');
    }
    if (staged.length >= metadata.views.length) {
      drain();
      throw new BadRequestError(`more photos than the ${metadata.views.length} views listed in metadata.views`, 'views_photos_mismatch');
    }
    let fileName: string | null;
    try {
      fileName = checkFileName(part.filename);
    } catch (err) {
      drain();
      throw err;
    }
    let type: PhotoType | null = null;
    const h = hashingSniffer((head) => {
      type = checkSniffedType(head, u.allowedTypes, label);
    });
    const stagedPath = await store.stagingPath();
    strays.push(stagedPath);
    try {
      // `flush` fsyncs before close: a photo the client was told is accepted must survive a power cut.
      await pipeline(part.file, h.stream, createWriteStream(stagedPath, { flags: 'wx', flush: true }));
    } catch (err) {
      drain();
      throw err;
    }
    if (part.file.truncated) {
      throw new PayloadTooLargeError(`${label} is larger than ${u.maxPhotoBytes} bytes (MAX_PHOTO_BYTES); nothing was stored`, 'photo_too_large');
    }
    if (h.size() === 0 || type === null) {
      throw new UnprocessableError(`${label} is empty`, 'empty_photo');
    }
    const dims = await checkPhotoFile(stagedPath, type, u.maxPixels, label);
    strays.pop();
    staged.push({ stagedPath, sha256: h.digest(), bytes: h.size(), type, width: dims.width, height: dims.height, fileName });
  }
}
