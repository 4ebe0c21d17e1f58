import { randomUUID } from 'node:crypto';

/** A multipart/form-data body built by hand, so tests can send what browsers never would (odd names, bad order). */
export type Part =
  | { kind: 'field'; name: string; value: string }
  | { kind: 'file'; name: string; filename?: string; contentType?: string; data: Buffer };

export function multipart(parts: Part[]): { body: Buffer; contentType: string } {
  const boundary = `----loupe${randomUUID().replace(/-/g, '')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`));
    if (p.kind === 'field') {
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${p.name}"\r\n\r\n`), Buffer.from(p.value), Buffer.from('\r\n'));
    } else {
      const fn = p.filename === undefined ? '' : `; filename="${p.filename}"`;
      chunks.push(
        Buffer.from(`Content-Disposition: form-data; name="${p.name}"${fn}\r\nContent-Type: ${p.contentType ?? 'application/octet-stream'}\r\n\r\n`),
        p.data,
        Buffer.from('\r\n'),
      );
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export function uploadBody(metadata: unknown, photos: Array<{ data: Buffer; filename?: string }>): { body: Buffer; contentType: string } {
  return multipart([
    { kind: 'field', name: 'metadata', value: typeof metadata === 'string' ? metadata : JSON.stringify(metadata) },
    ...photos.map((p, i) => ({ kind: 'file' as const, name: 'photo', filename: p.filename ?? `view${i}.jpg`, contentType: 'image/jpeg', data: p.data })),
  ]);
}
