/**
 * CRC32 of `A‖B` from `crc32(A)`, `crc32(B)` and the length of B (zlib's `crc32_combine`,
 * which Node does not expose). Lets an upload checksum each part once and still know the
 * checksum of the whole object. Cost: a few microseconds per call, whatever the lengths.
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  // The operator for one zero bit: the reflected CRC-32 polynomial, then shifts.
  odd[0] = 0xedb88320;
  let row = 1;
  for (let n = 1; n < 32; n++) {
    odd[n] = row;
    row = (row << 1) >>> 0;
  }
  square(even, odd); // two zero bits
  square(odd, even); // four zero bits
  let crc = crcA >>> 0;
  let len = lengthB;
  // Apply len zero bytes to crcA, squaring the operator for each bit of len (1, 2, 4 ... bytes).
  do {
    square(even, odd);
    if (len % 2 === 1) crc = times(even, crc);
    len = Math.floor(len / 2);
    if (len === 0) break;
    square(odd, even);
    if (len % 2 === 1) crc = times(odd, crc);
    len = Math.floor(len / 2);
  } while (len !== 0);
  return (crc ^ crcB) >>> 0;
}

function times(matrix: Uint32Array, vector: number): number {
  let sum = 0;
  let v = vector >>> 0;
  for (let i = 0; v !== 0; i++, v >>>= 1) {
    if (v & 1) sum ^= matrix[i] ?? 0;
  }
  return sum >>> 0;
}

function square(out: Uint32Array, matrix: Uint32Array): void {
  for (let n = 0; n < 32; n++) out[n] = times(matrix, matrix[n] ?? 0);
}

/** A CRC32 as S3 writes it: the 4 big-endian bytes, base64. */
export function crc32Base64(value: number): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out.toString('base64');
}
