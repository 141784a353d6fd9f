// `shoal`: the command line. Run through bin/shoal.js (Node.js 24, `--conditions=source`).
// Commands are imported when run, so `--help` stays quick. Every failure ends as one line on stderr and a non-zero exit code (see errors.ts), never a
// stack trace.
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliError, CliErrorCode, oneLine } from './errors.ts';
import { createOutput } from './output.ts';

/** Where a local swarm lives unless `--dir` or SHOAL_DIR says otherwise. */
export const DEFAULT_RUN_DIR = '.shoal';

interface GlobalOptions {
  dir: string;
  json: boolean;
}

function context(command: Command) {
  const options = command.optsWithGlobals<GlobalOptions>();
  return { runDir: resolve(options.dir), output: createOutput({ json: options.json }) };
}

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (
      !/^\d+$/.test(value.trim()) ||
      !Number.isSafeInteger(parsed) ||
      parsed < min ||
      parsed > max
    ) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    }
    return parsed;
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function buildProgram(): Command {
  const program = new Command('shoal')
    .description('Peer-to-peer distribution of large files: run a local swarm, publish, fetch.')
    .option(
      '--dir <path>',
      'run directory of the local swarm',
      process.env.SHOAL_DIR || DEFAULT_RUN_DIR,
    )
    .option('--json', 'print one JSON document for scripts instead of text', false)
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`shoal: ${text.replace(/^error: /, '').trim()}\n`),
    });

  program
    .command('up')
    .description('start a local swarm: nats-server, tracker, piece-store and N peer-nodes')
    .option('-n, --nodes <count>', 'peer-nodes to start', integer('--nodes', 0, 200), 4)
    .option('-d, --detach', 'return once the swarm is ready and leave it running', false)
    .option('--file-log', 'also write these lines to <dir>/logs/shoal-up.log', false)
    .option(
      '--ready-timeout <seconds>',
      'how long services may take to become ready',
      integer('--ready-timeout', 1, 3600),
      120,
    )
    .addOption(new Option('--supervise', 'internal: the detached supervisor').hideHelp())
    .action(async (options, command: Command) => {
      const { upCommand } = await import('./commands/up.ts');
      await upCommand(context(command), options);
    });

  program
    .command('down')
    .description('stop the local swarm started by shoal up')
    .option(
      '--timeout <seconds>',
      'how long each process may take to stop before SIGKILL',
      integer('--timeout', 1, 600),
      10,
    )
    .action(async (options, command: Command) => {
      const { downCommand } = await import('./commands/down.ts');
      await downCommand(context(command), options);
    });

  program
    .command('publish')
    .description('upload a file (or a directory, as a tar archive) to the piece-store')
    .argument('<path>', 'file or directory to publish')
    .option('--name <name>', 'artifact name (default: the file name)')
    .action(async (path: string, options, command: Command) => {
      const { publishCommand } = await import('./commands/publish.ts');
      await publishCommand(context(command), path, options);
    });

  program
    .command('fetch')
    .description("download an artifact through a local peer-node's gRPC API")
    .argument('<artifact>', 'infohash, magnet link or .torrent file')
    .option('-o, --output <dir>', 'directory the artifact lands in', '.')
    .option(
      '--node <index>',
      'which peer-node of the swarm fetches it',
      integer('--node', 0, 199),
      0,
    )
    .action(async (artifact: string, options, command: Command) => {
      const { fetchCommand } = await import('./commands/fetch.ts');
      await fetchCommand(context(command), artifact, options);
    });

  program
    .command('distribute')
    .description('make every peer-node matching a selector fetch an artifact, and follow them')
    .argument('<infohash>', 'the artifact (infohash, magnet link or .torrent file)')
    .option(
      '-s, --selector <key=value>',
      'only nodes with this label (repeatable; all must match)',
      collect,
      [],
    )
    .option(
      '--timeout <seconds>',
      'give up after this long (0: never)',
      integer('--timeout', 0, 86_400),
      0,
    )
    .option(
      '--stall-timeout <seconds>',
      'count a node lost after this long without a report',
      integer('--stall-timeout', 5, 86_400),
      60,
    )
    .option('--report <file>', 'also write the JSON result to this file')
    .action(async (artifact: string, options, command: Command) => {
      const { distributeCommand } = await import('./commands/distribute.ts');
      await distributeCommand(context(command), artifact, options);
    });

  program
    .command('status')
    .description('services, swarms, nodes and their seeding state')
    .action(async (_options, command: Command) => {
      const { statusCommand } = await import('./commands/status.ts');
      await statusCommand(context(command));
    });

  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end here with code 0; commander has already printed any error.
      return error.exitCode === 0 ? 0 : 2;
    }
    const cliError =
      error instanceof CliError ? error : new CliError(CliErrorCode.Failed, oneLine(error));
    process.stderr.write(`shoal: ${oneLine(cliError)}\n`);
    if (process.env.SHOAL_DEBUG === '1' && error instanceof Error) {
      process.stderr.write(`${error.stack}\n`);
    }
    return cliError.exitCode;
  }
}

// A failure outside a command's own flow (a stray socket error) is still one line.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (error: unknown) => {
    process.stderr.write(`shoal: unexpected error: ${oneLine(error)}\n`);
    process.exit(1);
  });
}

// Exit even if a library left a handle open (a gRPC channel, a timer).
process.exit(await main(process.argv));
