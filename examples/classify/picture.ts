/**
 * A procedural picture (gradient sky, sun, hills, a house) drawn pixel by pixel
 * into RGBA bytes, deterministic for a seed: the browser page and the Node script
 * classify exactly the same pixels. Integer and basic float arithmetic only.
 */

/** Width and height of the pictures and of the model input. */
export const SIZE = 224;

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rgb = readonly [number, number, number];

/** Draws the picture for `seed` as SIZE×SIZE RGBA bytes (alpha 255). */
export function drawPicture(seed: number): Uint8ClampedArray<ArrayBuffer> {
  const r = rng(seed);
  const px = new Uint8ClampedArray(SIZE * SIZE * 4);
  const skyTop: Rgb = [40 + 80 * r(), 90 + 80 * r(), 180 + 70 * r()];
  const skyBottom: Rgb = [200 + 55 * r(), 180 + 60 * r(), 150 + 80 * r()];
  const grass: Rgb = [30 + 60 * r(), 110 + 90 * r(), 30 + 50 * r()];
  const sun = { x: 30 + 160 * r(), y: 20 + 50 * r(), rad: 12 + 20 * r() };
  const hill = { amp: 10 + 25 * r(), phase: r() * 6, base: 140 + 30 * r() };
  const house = { x: 40 + 110 * r(), w: 40 + 30 * r(), h: 35 + 25 * r() };
  const wall: Rgb = [150 + 100 * r(), 60 + 120 * r(), 40 + 80 * r()];
  const roof: Rgb = [90 + 60 * r(), 20 + 40 * r(), 20 + 40 * r()];
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const t = y / (SIZE - 1);
      let c: Rgb = [skyTop[0] + (skyBottom[0] - skyTop[0]) * t, skyTop[1] + (skyBottom[1] - skyTop[1]) * t, skyTop[2] + (skyBottom[2] - skyTop[2]) * t];
      const dx = x - sun.x;
      const dy = y - sun.y;
      if (dx * dx + dy * dy < sun.rad * sun.rad) c = [255, 220, 90];
      // A smooth hill line from a cubic, no trig: base + amp * s(1-s)(…) shape.
      const s = x / SIZE;
      const hillY = hill.base - hill.amp * 4 * s * (1 - s) * (1 + 0.3 * Math.cos(hill.phase + 6 * s));
      if (y > hillY) c = [grass[0] * (0.7 + 0.3 * t), grass[1] * (0.7 + 0.3 * t), grass[2]];
      const wallTop = hill.base + 10 - house.h;
      const inWall = x >= house.x && x < house.x + house.w && y >= wallTop && y < hill.base + 10;
      const roofRise = house.w / 2 - Math.abs(x - (house.x + house.w / 2));
      const inRoof = roofRise > -4 && y < wallTop && y >= wallTop - (roofRise + 4) * 0.6;
      if (inWall) c = wall;
      if (inRoof) c = roof;
      const door = inWall && Math.abs(x - (house.x + house.w / 2)) < 5 && y > hill.base - 6;
      if (door) c = [60, 40, 30];
      const i = (y * SIZE + x) * 4;
      px[i] = c[0];
      px[i + 1] = c[1];
      px[i + 2] = c[2];
      px[i + 3] = 255;
    }
  }
  return px;
}
