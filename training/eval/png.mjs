// Minimal RGB PNG writer (node:zlib only) and a contact sheet: one row per clip, one column per frame.
import zlib from 'node:zlib';

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function crc32(buf) {
  let c = -1;
  for (const b of buf) c = CRC[(c ^ b) & 255] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** Encode RGB uint8 pixels [H][W][3] as PNG bytes. */
export function encodePng(rgb, width, height) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Rows of clips (RGB [F][H][W][3]) -> one PNG, frames left to right, scaled and separated by gaps. */
export function contactSheet(clips, { width, height, numFrames, scale = 3, gap = 2 }) {
  const cw = width * scale;
  const chh = height * scale;
  const W = numFrames * (cw + gap) + gap;
  const H = clips.length * (chh + gap) + gap;
  const img = new Uint8Array(W * H * 3).fill(40);
  clips.forEach((clip, r) => {
    for (let f = 0; f < numFrames; f++) {
      const ox = gap + f * (cw + gap);
      const oy = gap + r * (chh + gap);
      for (let y = 0; y < chh; y++) {
        for (let x = 0; x < cw; x++) {
          const s = ((f * height + Math.floor(y / scale)) * width + Math.floor(x / scale)) * 3;
          const d = ((oy + y) * W + ox + x) * 3;
          img[d] = clip[s];
          img[d + 1] = clip[s + 1];
          img[d + 2] = clip[s + 2];
        }
      }
    }
  });
  return encodePng(img, W, H);
}
