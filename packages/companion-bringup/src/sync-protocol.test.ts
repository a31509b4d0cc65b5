import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ByteSource, DirectInput, openInput, ReadAheadInput } from "./read-ahead.js";
import { FrameReader } from "./sync-protocol.js";

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
        for (;;) {
          const header = await reader.header();
          if (header === undefined) throw new Error("no end marker");
          if ("end" in header) break;
          const body = await reader.body(header.bytes);
          expect(sha256(body), header.path).toBe(header.sha256);
          seen.set(header.path, sha256(body));
        }
        expect(await reader.header()).toBeUndefined();
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
      expect(await new FrameReader(input).header()).toEqual({ end: true });
      const started = Date.now();
      await input.close();
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(writer.exitCode).toBeNull(); // the pipe was still open when the reader stopped
    } finally {
      writer.kill("SIGKILL");
    }
  });

  it("a stream cut inside a body or a header is an error, not a short file", async () => {
    const { stream } = frames();
    const insideBody = Math.floor(stream.length / 2); // within the 6 MiB body
    const insideHeader = stream.indexOf('{"path":"17/300/') + 5;
    for (const [cut, error] of [
      [insideBody, /^the stream ended \d+ bytes short of a file$/],
      [insideHeader, /^the stream ended inside a frame header$/],
    ] as const) {
      const path = join(temp.path, `cut-${cut}`);
      writeFileSync(path, stream.subarray(0, cut));
      const fd = openSync(path, "r");
      try {
        const reader = new FrameReader(new DirectInput(fd));
        const readAll = async () => {
          for (;;) {
            const header = await reader.header();
            if (header === undefined || "end" in header) return;
            await reader.body(header.bytes);
          }
        };
        await expect(readAll()).rejects.toThrow(error);
      } finally {
        closeSync(fd);
      }
    }
  });

  it("refuses a header line longer than 64 KiB", async () => {
    const path = join(temp.path, "long");
    writeFileSync(path, `{"path":"${"a".repeat(200_000)}`);
    const fd = openSync(path, "r");
    try {
      await expect(new FrameReader(new DirectInput(fd)).header()).rejects.toThrow(
        "a frame header is longer than 64 KiB",
      );
    } finally {
      closeSync(fd);
    }
  });
});
