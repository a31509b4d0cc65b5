import type { Command } from "commander";
import {
  addCompileEngines,
  addSession,
  addTilesReceive,
  type ProgramIo,
  rootCommand,
} from "./program-parts.js";

/**
 * operator-tool as installed on a companion: only what runs there, so the
 * bundle `companion install` pushes carries none of the workstation's code
 * (SSH client, HTTP client, tile downloader, their help).
 */
export function buildCompanionProgram(io: ProgramIo): Command {
  const program = rootCommand(
    io,
    "operator-tool on the companion: receives tiles and compiles engines for the workstation",
  );
  addTilesReceive(program.command("tiles").description("the companion side of the tile sync"), io);
  addCompileEngines(program, io);
  addSession(program, io, buildCompanionProgram);
  return program;
}
