import { createRequire } from "node:module";
import type { Readable } from "node:stream";
import { apkInfoFromManifest, binaryXmlProblem, InvalidApkError, type ApkInfo } from "./manifest.js";

// @devicefarmer/adbkit-apkreader is CommonJS without type declarations: load it through require and describe the
// small part we use. Its manifest parser is loaded directly so that we can bound the manifest's size before parsing.
interface ApkReaderInstance {
  usingFileStream<T>(file: string, action: (stream: Readable) => Promise<T>): PromiseLike<T>;
}
interface ApkReaderModule {
  open(path: string): PromiseLike<ApkReaderInstance>;
}
type ManifestParserClass = new (buffer: Buffer) => { parse(): unknown };

const load = createRequire(import.meta.url);
const ApkReader = load("@devicefarmer/adbkit-apkreader") as ApkReaderModule;
const ManifestParser = load("@devicefarmer/adbkit-apkreader/lib/apkreader/parser/manifest.js") as ManifestParserClass;

const MANIFEST = "AndroidManifest.xml";
/** Real manifests are a few KiB to a few hundred KiB; a bigger one is refused rather than inflated into memory. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * Reads the entry stream up to `max` bytes. Events rather than `for await`: the async iterator never finishes on
 * yauzl's stream of a stored (uncompressed) entry.
 */
function collect(stream: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    stream.on("data", (b: Buffer) => {
      total += b.length;
      if (total > max) {
        // A zip bomb stops inflating here.
        stream.destroy();
        reject(new InvalidApkError(`AndroidManifest.xml inflates to more than ${max} bytes`));
        return;
      }
      chunks.push(b);
    });
    stream.on("end", () => resolve(Buffer.concat(chunks, total)));
    stream.on("error", reject);
  });
}

/** The compiled manifest's bytes, or an `InvalidApkError` saying what is wrong with the archive. */
async function readManifestBytes(path: string, max: number): Promise<Buffer> {
  let found = false;
  try {
    const reader = await ApkReader.open(path);
    return await reader.usingFileStream(MANIFEST, (stream) => {
      found = true;
      return collect(stream, max);
    });
  } catch (e) {
    if (e instanceof InvalidApkError) throw e;
    const msg = (e as Error).message;
    if (found) throw new InvalidApkError(`AndroidManifest.xml cannot be read from the archive: ${msg}`);
    if (msg.includes(`does not contain '${MANIFEST}'`)) throw new InvalidApkError("the archive has no AndroidManifest.xml at its root");
    if (msg.includes("end of central directory record signature not found")) {
      throw new InvalidApkError("not a zip archive (no end of central directory record); an APK is a zip file");
    }
    throw new InvalidApkError(`not a valid zip archive: ${msg}`);
  }
}

/**
 * Validates the file at `path` as an APK (a zip with a compiled AndroidManifest.xml) and reads its package name and
 * version. Throws `InvalidApkError` with a precise message for anything that is not an APK.
 */
export async function readApkInfo(path: string, maxManifestBytes = MAX_MANIFEST_BYTES): Promise<ApkInfo> {
  const bytes = await readManifestBytes(path, maxManifestBytes);
  const problem = binaryXmlProblem(bytes);
  if (problem) throw new InvalidApkError(problem);
  let manifest: unknown;
  try {
    manifest = new ManifestParser(bytes).parse();
  } catch (e) {
    throw new InvalidApkError(`AndroidManifest.xml cannot be parsed as binary XML: ${(e as Error).message}`);
  }
  return apkInfoFromManifest(manifest);
}
