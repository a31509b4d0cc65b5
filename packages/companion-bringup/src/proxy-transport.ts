import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { CompanionUnreachableError } from "./errors.js";

/** The byte stream SSH runs over, however it was opened. */
export interface Transport {
  socket: Duplex;
  /** For logs: how this hop is reached. */
  description: string;
  /** Why the transport itself failed (a proxy command that exited), if it did. */
  failure(): Error | undefined;
  /** Resolves once the transport has finished failing (a proxy command has exited): its failure is then known. */
  settled(): Promise<void>;
  close(): void;
}

/**
 * A TCP connection as ssh_connect_direct makes it: up to ConnectionAttempts
 * tries, one second apart, each bounded by ConnectTimeout, over the address
 * family AddressFamily allows.
 */
export async function openDirectSocket(options: {
  host: string;
  port: number;
  family: "any" | "inet" | "inet6";
  attempts: number;
  timeoutMs: number;
  where: string;
  hint: string;
}): Promise<Transport> {
  let lastError: (Error & { code?: string }) | undefined;
  for (let attempt = 0; attempt < options.attempts; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 1_000));
    try {
      const socket = await connectOnce(options);
      return {
        socket,
        description: "direct TCP",
        failure: () => undefined,
        settled: () => Promise.resolve(),
        close: () => socket.destroy(),
      };
    } catch (error) {
      lastError = error as Error & { code?: string };
    }
  }
  const reason =
    lastError?.code === "ECONNREFUSED"
      ? "connection refused (no SSH server on that port?)"
      : lastError?.code === "ETIMEDOUT"
        ? `no answer within ${Math.round(options.timeoutMs / 1000)} s`
        : (lastError?.message ?? "unknown error");
  const tries = options.attempts > 1 ? ` (${options.attempts} attempts)` : "";
  return Promise.reject(
    new CompanionUnreachableError(`cannot reach ${options.where}: ${reason}${tries}`, {
      hint: options.hint,
      cause: lastError,
    }),
  );
}

function connectOnce(options: {
  host: string;
  port: number;
  family: "any" | "inet" | "inet6";
  timeoutMs: number;
}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: options.host,
      port: options.port,
      ...(options.family === "inet" ? { family: 4 } : options.family === "inet6" ? { family: 6 } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error("connect timed out"), { code: "ETIMEDOUT" }));
    }, options.timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * ProxyCommand as ssh_proxy_connect runs it: `$SHELL -c "exec <command>"`
 * (tokens already expanded), its stdin and stdout are the connection, its
 * stderr goes to the log; it gets SIGHUP when the connection ends.
 */
export function openProxyCommand(
  command: string,
  options: {
    where: string;
    env: NodeJS.ProcessEnv;
    logger?: { debug(fields: object, message: string): void } | undefined;
  },
): Transport {
  const shell = options.env.SHELL !== undefined && options.env.SHELL !== "" ? options.env.SHELL : "/bin/sh";
  const child = spawn(shell, ["-c", command], { stdio: ["pipe", "pipe", "pipe"], env: options.env });
  let stderr = "";
  let failure: Error | undefined;
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-2_000);
    for (const line of chunk.split("\n").filter((l) => l.trim() !== "")) {
      options.logger?.debug({ host: options.where, proxyCommand: command }, `ProxyCommand: ${line}`);
    }
  });
  const describeExit = (code: number | null, signal: NodeJS.Signals | null) => {
    const how = signal === null ? `exited with status ${code}` : `was killed by ${signal}`;
    const said = stderr.trim().split("\n").at(-1);
    return new CompanionUnreachableError(
      `the ProxyCommand for ${options.where} ${how}${said ? `: ${said}` : ""} (${command.replace(/^exec /, "")})`,
      { hint: "run the ProxyCommand by hand to see why it cannot reach the companion" },
    );
  };
  let ended = false;
  const exited = new Promise<void>((resolve) => {
    child.once("close", () => resolve());
    child.once("error", () => resolve());
  });
  child.once("error", (error) => {
    failure = new CompanionUnreachableError(
      `could not start the ProxyCommand for ${options.where}: ${error.message}`,
      {
        hint: `check the shell ${shell} exists`,
      },
    );
  });
  child.once("exit", (code, signal) => {
    if (!ended) failure ??= describeExit(code, signal);
  });
  const socket = Duplex.from({ readable: child.stdout, writable: child.stdin });
  // Writes to a proxy that has exited fail with EPIPE; the exit itself is the error worth reporting.
  child.stdin.on("error", () => undefined);
  socket.on("error", () => undefined);
  return {
    socket,
    description: `ProxyCommand ${command.replace(/^exec /, "")}`,
    failure: () => failure,
    settled: () => exited,
    close: () => {
      ended = true;
      socket.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGHUP");
    },
  };
}
