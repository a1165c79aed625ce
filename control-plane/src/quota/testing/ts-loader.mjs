// Test support: a Node module-loader hook that runs this package's TypeScript sources in worker threads (which, unlike
// vitest's own workers, get no transpiler). `./x.js` imports resolve to `./x.ts` next to them, as tsc would compile.
// Output is cached on disk by content hash, so `typescript` itself (slow to load) is only loaded on a cache miss.
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const CACHE = join(tmpdir(), "cloudphone-ts-loader-cache");

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (e) {
    if (specifier.startsWith(".") && specifier.endsWith(".js")) return nextResolve(specifier.slice(0, -3) + ".ts", context);
    throw e;
  }
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith("file:") || !url.endsWith(".ts")) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const source = await readFile(file, "utf8");
  const cached = join(CACHE, createHash("sha256").update(source).digest("hex") + ".js");
  try {
    return { format: "module", source: await readFile(cached, "utf8"), shortCircuit: true };
  } catch {
    /* miss */
  }
  const { default: ts } = await import("typescript");
  const out = ts.transpileModule(source, {
    fileName: file,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true, sourceMap: false },
  }).outputText;
  await mkdir(CACHE, { recursive: true });
  const tmp = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, out);
  await rename(tmp, cached);
  return { format: "module", source: out, shortCircuit: true };
}
