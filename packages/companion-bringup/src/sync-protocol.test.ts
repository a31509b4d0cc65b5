import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, createWriteStream, openSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TileSyncError } from "./errors.js";
import {
  type ByteSource,
  DirectInput,
  openInput,
  ReadAheadInput,
  readAheadWorkerScript,
} from "./read-ahead.js";
import { parseListing } from "./sync-listing.js";
import { FrameReader, FrameWriter, MAX_FRAME_BYTES } from "./sync-protocol.js";

let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** A stream of frames: many small bodies (some full of newlines), one empty, one of 6 MiB. */
function frames(): { stream: Buffer; bodies: Map<string, Buffer> } {
  const bodies = new Map<string, Buffer>();
  const parts: Buffer[] = [];
  for (let i = 0; i < 400; i++) {
    const size = i === 7 ? 0 : i === 200 ? 6 * 1024 * 1024 : 1 + ((i * 7919) % 40_000);
    const body = Buffer.alloc(size, i % 3 === 0 ? 10 : i % 251);
    const path = `17/${i}/${i * 3}.png`;
    bodies.set(path, body);
    parts.push(Buffer.from(`${JSON.stringify({ path, bytes: size, sha256: sha256(body) })}\n`), body);
  }
  parts.push(Buffer.from('{"end":true}\n'));
  return { stream: Buffer.concat(parts), bodies };
}

/**
 * Feeds `stream` into a FIFO from another process in chunks of random size
 * (1 byte to 70 KB) with pauses, so headers and bodies arrive split at every
 * kind of boundary; returns the read end's descriptor.
 */
function slowFifo(stream: Buffer): { fd: number; done: Promise<number | null> } {
  const source = join(temp.path, "stream.bin");
  const fifo = join(temp.path, "fifo");
  writeFileSync(source, stream);
  expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
  const feeder = `
    const fs = require("node:fs");
    const data = fs.readFileSync(${JSON.stringify(source)});
    const out = fs.openSync(${JSON.stringify(fifo)}, "w");
    let seed = 12345, at = 0;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8;
    while (at < data.length) {
      const n = next() % 4 === 0 ? 1 + (next() % 40) : 1 + (next() % 70000);
      at += fs.writeSync(out, data, at, Math.min(n, data.length - at));
      if (next() % 16 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
    fs.closeSync(out);
  `;
  const child = spawn(process.execPath, ["-e", feeder], { stdio: "inherit" });
  const done = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { fd: openSync(fifo, "r"), done };
}

describe("FrameReader", () => {
  // Read-ahead with a small buffer pauses and resumes the reader thread many times over.
  const sources: Array<[string, (fd: number) => ByteSource, number | undefined]> = [
    ["read-ahead", (fd) => openInput(fd), undefined],
    ["read-ahead with a 64 KiB buffer", (fd) => openInput(fd, { maxBufferedBytes: 64 * 1024 }), 512],
    ["direct reads", (fd) => new DirectInput(fd), 512],
  ];
  for (const [name, open, readBytes] of sources) {
    it(`reads every frame intact however the input is split, a body bigger than its buffer included (${name}, reads of ${readBytes ?? "default"} bytes)`, async () => {
      const { stream, bodies } = frames();
      const { fd, done } = slowFifo(stream);
      const input = open(fd);
      try {
        // Reads of 512 bytes split many headers and move the buffered bytes on nearly every fill.
        const reader = new FrameReader(input, readBytes);
        const seen = new Map<string, string>();
        for (let frame = await reader.next(); frame !== undefined; frame = await reader.next()) {
          expect(sha256(frame.body), frame.header.path).toBe(frame.header.sha256);
          seen.set(frame.header.path, sha256(frame.body));
        }
        expect(await reader.next()).toBeUndefined();
        expect(seen.size).toBe(bodies.size);
        for (const [path, body] of bodies) expect(seen.get(path)).toBe(sha256(body));
      } finally {
        await input.close();
        if (input instanceof DirectInput) closeSync(fd);
      }
      expect(await done).toBe(0);
    });
  }

  it("a pipe is read ahead by a thread that stops at once when closed, even while the writer keeps the pipe open", async () => {
    const fifo = join(temp.path, "idle-fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    // Writes one frame, then holds the pipe open without writing: a blocked read(2) would never return.
    const writer = spawn(
      process.execPath,
      [
        "-e",
        `const fs = require("node:fs"); const out = fs.openSync(${JSON.stringify(fifo)}, "w"); fs.writeSync(out, '{"end":true}\\n'); setTimeout(() => {}, 60000);`,
      ],
      { stdio: "inherit" },
    );
    try {
      const input = openInput(openSync(fifo, "r"));
      expect(input).toBeInstanceOf(ReadAheadInput);
      expect(await new FrameReader(input).next()).toBeUndefined();
      // A thread blocked in read(2) would never let close() resolve: the test would time out here.
      await input.close();
      expect(writer.exitCode).toBeNull(); // the pipe was still open when the reader stopped
    } finally {
      writer.kill("SIGKILL");
    }
  });

  it.each([
    [
      "inside a body",
      (s: Buffer) => Math.floor(s.length / 2),
      /^the sync stream ended \d+ bytes short of 17\/200\/600\.png: the connection was cut$/,
    ],
    [
      "inside a header",
      (s: Buffer) => s.indexOf('{"path":"17/300/') + 5,
      /^the sync stream ended inside a frame header: the connection was cut$/,
    ],
    [
      "between frames, before the end marker",
      (s: Buffer) => s.indexOf('{"path":"17/300/'),
      /^the sync stream ended without its end marker: the connection was cut$/,
    ],
  ])("a stream cut %s is a TILE_SYNC_FAILED error saying so, not a short file", async (_, cutAt, message) => {
    const { stream } = frames();
    const error = await readAll(stream.subarray(0, cutAt(stream)));
    expect(error).toBeInstanceOf(TileSyncError);
    expect(error!.code).toBe("TILE_SYNC_FAILED");
    expect(error!.message).toMatch(message);
    expect(error!.hint).toBe("re-run the sync: files received whole are kept and not sent again");
  });

  const SAME_VERSION =
    "run the same operator-tool version on the workstation and the companion (--remote-command)";
  const ok = sha256(Buffer.alloc(0));
  it.each([
    [
      "a header longer than 64 KiB",
      `{"path":"${"a".repeat(200_000)}`,
      "the sync stream is malformed: a frame header is longer than 64 KiB",
      SAME_VERSION,
    ],
    [
      "a header that is not JSON",
      "GET / HTTP/1.1\n",
      'the sync stream is malformed: a frame header is not JSON ("GET / HTTP/1.1")',
      SAME_VERSION,
    ],
    [
      "a header without a digest",
      '{"path":"a.png","bytes":3}\n',
      'the sync stream is malformed: a frame header is not {path, bytes, sha256} ("{\\"path\\":\\"a.png\\",\\"bytes\\":3}")',
      SAME_VERSION,
    ],
    [
      "a negative size",
      `{"path":"a.png","bytes":-1,"sha256":"${ok}"}\n`,
      /^the sync stream is malformed: a frame header is not \{path, bytes, sha256\}/,
      SAME_VERSION,
    ],
    [
      "a path out of the root",
      `{"path":"../etc/passwd","bytes":0,"sha256":"${ok}"}\n`,
      'refusing a file named "../etc/passwd": not a plain relative path under the tile root',
      SAME_VERSION,
    ],
    [
      "an absolute path",
      `{"path":"/etc/passwd","bytes":0,"sha256":"${ok}"}\n`,
      'refusing a file named "/etc/passwd": not a plain relative path under the tile root',
      SAME_VERSION,
    ],
    [
      "a file over the size limit",
      `{"path":"a.png","bytes":${MAX_FRAME_BYTES + 1},"sha256":"${ok}"}\n`,
      `refusing a.png: ${MAX_FRAME_BYTES + 1} bytes is over the ${MAX_FRAME_BYTES} byte limit`,
      /tiles download/,
    ],
  ])("%s is a TILE_SYNC_FAILED error naming what is wrong", async (_, input, message, hint) => {
    const error = await readAll(Buffer.from(input));
    expect(error).toBeInstanceOf(TileSyncError);
    expect(error!.code).toBe("TILE_SYNC_FAILED");
    if (typeof message === "string") expect(error!.message).toBe(message);
    else expect(error!.message).toMatch(message);
    if (typeof hint === "string") expect(error!.hint).toBe(hint);
    else expect(error!.hint).toMatch(hint);
  });

  it("a failing read is a TILE_SYNC_FAILED error carrying the cause", async () => {
    const cause = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    const failing: ByteSource = { read: () => Promise.reject(cause), close: async () => undefined };
    const error = await new FrameReader(failing).next().then(
      () => undefined,
      (e: unknown) => e as TileSyncError,
    );
    expect(error).toBeInstanceOf(TileSyncError);
    expect(error!.message).toBe("reading the sync stream failed: read ECONNRESET");
    expect(error!.cause).toBe(cause);
  });
});

/** Reads every frame of `stream` (from a file); the error that stopped it, or undefined. */
async function readAll(stream: Buffer): Promise<TileSyncError | undefined> {
  const path = join(temp.path, `stream-${stream.length}`);
  writeFileSync(path, stream);
  const fd = openSync(path, "r");
  try {
    const reader = new FrameReader(new DirectInput(fd));
    while ((await reader.next()) !== undefined);
    return undefined;
  } catch (error) {
    return error as TileSyncError;
  } finally {
    closeSync(fd);
  }
}

describe("the read-ahead thread's script", () => {
  it("is the one built beside the module; run from source, a build older than the source is refused", () => {
    const source = new URL("./read-ahead-worker.ts", import.meta.url);
    const built = new URL("../dist/read-ahead-worker.js", import.meta.url);
    expect(readAheadWorkerScript("file:///opt/operator-tool/dist/read-ahead.js").href).toBe(
      "file:///opt/operator-tool/dist/read-ahead-worker.js",
    );
    expect(readAheadWorkerScript(new URL("./read-ahead.ts", import.meta.url).href).href).toBe(built.href);
    const { atime, mtime } = statSync(source);
    try {
      // The source edited after the last build.
      utimesSync(source, atime, new Date(statSync(built).mtimeMs + 60_000));
      expect(() => readAheadWorkerScript(new URL("./read-ahead.ts", import.meta.url).href)).toThrow(
        /read-ahead-worker\.js is older than .*read-ahead-worker\.ts: run `pnpm build`$/,
      );
    } finally {
      utimesSync(source, atime, mtime);
    }
  });
});

describe("parseListing", () => {
  const digest = "a".repeat(64);
  it("returns what the companion holds, extra fields and all", () => {
    const line = JSON.stringify({ files: { "17/1/2.png": { sha256: digest, bytes: 3, mtimeMs: 1 } } });
    expect(parseListing(line)).toEqual({ "17/1/2.png": { sha256: digest, bytes: 3, mtimeMs: 1 } });
  });

  it.each([
    ["not JSON", "Last login: Mon", /^not JSON \(/],
    ["JSON without files", '{"tiles":[]}', /^files: /],
    [
      "a digest that is not one",
      JSON.stringify({ files: { "a.png": { sha256: "xyz" } } }),
      /^files\.a\.png\.sha256: is not a sha256 hex digest$/,
    ],
  ])("refuses %s, naming the field", (_, line, message) => {
    expect(() => parseListing(line)).toThrow(message);
  });
});

describe("FrameWriter", () => {
  it("writes what FrameReader reads back: every file, in order, then the end marker", async () => {
    const { bodies } = frames();
    const path = join(temp.path, "written");
    const out = createWriteStream(path);
    const exited = new Promise<never>(() => undefined);
    const sent: number[] = [];
    const writer = new FrameWriter(out, exited, (files) => sent.push(files));
    for (const [file, body] of bodies)
      await writer.add({ path: file, bytes: body.length, sha256: sha256(body) }, (into) => body.copy(into));
    await writer.flush();
    writer.end();
    await new Promise<void>((resolve) => out.once("close", () => resolve()));
    expect(sent.reduce((a, b) => a + b, 0)).toBe(bodies.size);

    const fd = openSync(path, "r");
    try {
      const reader = new FrameReader(new DirectInput(fd));
      const order: string[] = [];
      for (let frame = await reader.next(); frame !== undefined; frame = await reader.next()) {
        expect(frame.body.equals(bodies.get(frame.header.path)!), frame.header.path).toBe(true);
        order.push(frame.header.path);
      }
      expect(order).toEqual([...bodies.keys()]);
    } finally {
      closeSync(fd);
    }
  });
});
