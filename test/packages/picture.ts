/** The picture of text the OCR package tests read, rendered by sharp from an SVG. */

/** The lines written in the picture, top to bottom. */
export const PICTURE_LINES: readonly string[] = ['Kiln compiles graphs', 'Invoice 2024: $1,234.56'];

/**
 * Writes the picture (480×160 PNG, black DejaVu Sans 30 px on white, {@link PICTURE_LINES})
 * to `file`.
 *
 * @param file where the PNG goes.
 */
export async function writeTextPicture(file: string): Promise<void> {
  const { default: sharp } = await import('sharp');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="480" height="160"><rect width="100%" height="100%" fill="white"/>
<text x="20" y="50" font-family="DejaVu Sans, sans-serif" font-size="30" fill="black">${PICTURE_LINES[0]}</text>
<text x="20" y="120" font-family="DejaVu Sans, sans-serif" font-size="30" fill="black">${PICTURE_LINES[1]}</text></svg>`;
  await sharp(Buffer.from(svg)).png().toFile(file);
}
