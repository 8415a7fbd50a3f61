/**
 * A cheap look inside an MP4 the provider returned: walks the box tree to the video track's sample
 * entry and reads its fourcc (`avc1`, `hvc1`, …), the AVC profile/level for a WebCodecs codec string,
 * the coded size, the sample count and the track duration. No decoding, no dependencies.
 */
export interface Mp4Probe {
  /** WebCodecs-style: `avc1.PPCCLL` for H.264, else the sample entry fourcc (`hvc1`, `hev1`, `av01`, `vp09`). */
  codec: string;
  width: number;
  height: number;
  numFrames?: number;
  durationSeconds?: number;
}

interface Box {
  type: string;
  /** First byte of the payload (after the header). */
  body: number;
  end: number;
}

function* boxes(bytes: Uint8Array, view: DataView, start: number, end: number): Generator<Box> {
  let at = start;
  while (at + 8 <= end) {
    let size = view.getUint32(at);
    const type = fourcc(bytes, at + 4);
    let header = 8;
    if (size === 1) {
      if (at + 16 > end) return;
      size = Number(view.getBigUint64(at + 8));
      header = 16;
    } else if (size === 0) {
      size = end - at;
    }
    if (size < header || at + size > end) return;
    yield { type, body: at + header, end: at + size };
    at += size;
  }
}

function child(bytes: Uint8Array, view: DataView, parent: Box, type: string): Box | undefined {
  for (const box of boxes(bytes, view, parent.body, parent.end)) if (box.type === type) return box;
  return undefined;
}

function fourcc(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
}

function hex2(value: number): string {
  return value.toString(16).padStart(2, '0');
}

/** Undefined when the bytes are not an MP4 with a recognizable video track. */
export function probeMp4(bytes: Uint8Array): Mp4Probe | undefined {
  try {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const moov = [...boxes(bytes, view, 0, bytes.byteLength)].find((box) => box.type === 'moov');
    if (!moov) return undefined;
    for (const trak of boxes(bytes, view, moov.body, moov.end)) {
      if (trak.type !== 'trak') continue;
      const mdia = child(bytes, view, trak, 'mdia');
      const hdlr = mdia && child(bytes, view, mdia, 'hdlr');
      if (!mdia || !hdlr || fourcc(bytes, hdlr.body + 8) !== 'vide') continue;
      const stbl = [child(bytes, view, mdia, 'minf')].map((minf) => minf && child(bytes, view, minf, 'stbl'))[0];
      const stsd = stbl && child(bytes, view, stbl, 'stsd');
      if (!stbl || !stsd) continue;
      const entry = boxes(bytes, view, stsd.body + 8, stsd.end).next().value as Box | undefined;
      if (!entry) continue;
      const type = entry.type;
      const width = view.getUint16(entry.body + 24);
      const height = view.getUint16(entry.body + 26);
      let codec = type;
      if (type === 'avc1' || type === 'avc3') {
        // Visual sample entry fields are 78 bytes; its child boxes (avcC, pasp, …) follow.
        const avcC = [...boxes(bytes, view, entry.body + 78, entry.end)].find((box) => box.type === 'avcC');
        if (avcC) codec = `${type}.${hex2(bytes[avcC.body + 1]!)}${hex2(bytes[avcC.body + 2]!)}${hex2(bytes[avcC.body + 3]!)}`;
      }
      const probe: Mp4Probe = { codec, width, height };
      const stsz = child(bytes, view, stbl, 'stsz');
      if (stsz) probe.numFrames = view.getUint32(stsz.body + 8);
      const mdhd = child(bytes, view, mdia, 'mdhd');
      if (mdhd) {
        const v1 = bytes[mdhd.body] === 1;
        const timescale = view.getUint32(mdhd.body + (v1 ? 20 : 12));
        const duration = v1 ? Number(view.getBigUint64(mdhd.body + 24)) : view.getUint32(mdhd.body + 16);
        if (timescale > 0) probe.durationSeconds = duration / timescale;
      }
      return probe;
    }
    return undefined;
  } catch {
    // Truncated or odd files: a probe is a nicety, never a failure.
    return undefined;
  }
}
