/**
 * The xasmap command line. This is the one place where errors become exit codes:
 * XasmapError -> its exitCode (2 for bad input), usage errors -> 2, anything else -> 1.
 */
import { Command, CommanderError } from 'commander';
import { XasmapError } from '../errors.js';
import { VERSION } from '../version.js';
import { type CliIo, processIo } from './io.js';
import { runSimulate } from './simulate.js';
import { runDataset } from './dataset.js';
import { runTrain } from './train.js';
import { runPredict } from './predict.js';
import { runModels } from './models.js';
import { runEvaluate } from './evaluate.js';
import { runRender } from './render.js';
import { runServe } from './serve.js';
import { runReplay } from './replay.js';
import { runFit } from './fit.js';

export function buildProgram(io: CliIo, setCode: (c: number) => void): Command {
  const program = new Command();
  program
    .name('xasmap')
    .description('L-edge XAS of 3d transition-metal ions: simulate, learn, map and fit')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('simulate')
    .description('compute spectra with the multiplet simulator (ground truth)')
    .requiredOption('--ion <ion>', 'ion, e.g. Ni2+ (22 ions Ti2+..Ni4+)')
    .requiredOption('--params <file>', 'JSON: one object or an array with Dq, Ds, Dt, S1, S2, T, sigmaG, Gamma1, Gamma2')
    .option('--out <file>', 'write the JSON here instead of stdout')
    .option('--sticks', 'also output the thermally weighted sticks [[w, intensity], ...]')
    .option('--force', 'overwrite --out if it exists')
    .action(async (opts) => setCode(await runSimulate(opts, io)));

  program
    .command('dataset')
    .description('generate a training database (HDF5) of simulated spectra; resumable')
    .requiredOption('--ion <ion>', 'ion, e.g. Fe2+')
    .requiredOption('--count <n>', 'number of spectra')
    .requiredOption('--out <file>', 'output HDF5 file')
    .option('--seed <s>', 'random seed (integer)', '1')
    .option('--workers <w>', 'worker threads (default: all cores)')
    .option('--ranges <r>', 'parameter ranges: d4h | oh | c4v', 'd4h')
    .option('--per-diag <k>', 'broadenings drawn per diagonalisation (see docs/formats.md)')
    .option('--force', 'start over even if --out exists')
    .action(async (opts) => setCode(await runDataset(opts, io)));

  program
    .command('train')
    .description('train a neural surrogate (sLCNN-7 or dense) on a database; resumable')
    .requiredOption('--data <file>', 'training database from xasmap dataset')
    .requiredOption('--out <dir>', 'model directory, e.g. models/Ni2+')
    .option('--arch <arch>', 'slcnn7 | dense', 'slcnn7')
    .option('--epochs <n>', 'maximum epochs', '80')
    .option('--batch <n>', 'minibatch size', '256')
    .option('--seed <s>', 'seed of the split, initialisation and shuffling', '1')
    .option('--lr <x>', 'learning rate of the optimiser (RMSprop or Adam)', '0.001')
    .option('--patience <n>', 'early stopping: epochs without a new best validation loss', '10')
    .option('--schedule <kind>', 'learning rate: plateau (halve after 4 epochs without a new best) or linear (decay to lr/epochs)', 'plateau')
    .option('--loss <kind>', 'training loss: mse (the paper\'s), mae (mean absolute error, closer to SE) or se (the SE measure itself, per spectrum)', 'mse')
    .option('--optimizer <name>', 'rmsprop (the paper\'s) or adam', 'rmsprop')
    .option('--init-from <dir>', 'start from the weights of a trained model of the same ion, database and seed (fine-tuning; its architecture is used)')
    .option('--warm-start <dir>', 'start a new model from the weights of a trained model of another ion (layers of equal shape; e.g. Mn3+ from Mn2+); split and standardisation are this database\'s')
    .option('--grow', 'with --warm-start: dense layers wider than the source\'s get its weights in their leading block and zero weights from the new inputs, so the wider network (--arch-options) starts from the source\'s function')
    .option('--extra-data <files...>', 'more databases of the same ion and ranges made with other seeds (xasmap dataset --seed): all their rows are training rows; validation and test rows stay those of --data')
    .option('--backend <b>', 'auto | wasm | gpu | cpu', 'wasm')
    .option('--standardise', 'learn per-channel standardised spectra (fixed output layer: mean + std x output)')
    .option('--fourier <m>', 'append m random Fourier features (sin, cos) of the 9 normalised parameters to the FES input (src/model/fourier-features.ts)')
    .option('--fourier-sigma <s>', 'frequency spread of --fourier in cycles per normalised unit', '3')
    .option('--voigt', 'physics output layer: the network predicts the L3/L2 spectra at the narrowest broadening and a fixed layer applies sigmaG, Gamma1, Gamma2 (src/model/voigt-output.ts)')
    .option('--arch-options <json>', 'architecture sizes, e.g. \'{"filters":16,"kernelSize":7,"steps":[64,48]}\' (see src/model/architectures.ts)')
    .option('--force', 'discard an existing model or checkpoint in --out')
    .action(async (opts) => setCode(await runTrain(opts, io)));

  program
    .command('predict')
    .description('spectra from a trained model (same JSON as simulate, plus "extrapolated")')
    .requiredOption('--ion <ion>', 'ion, e.g. Ni2+')
    .requiredOption('--params <file>', 'JSON: one object or an array with the nine parameters')
    .option('--out <file>', 'write the JSON here instead of stdout')
    .option('--model <dir>', 'a model directory instead of the shipped model of the ion')
    .option('--backend <b>', 'auto | wasm | gpu | cpu', 'wasm')
    .option('--force', 'overwrite --out if it exists')
    .action(async (opts) => setCode(await runPredict(opts, io)));

  program
    .command('evaluate')
    .description("the paper's analysis of a trained model against simulated spectra")
    .requiredOption('--model <dir>', 'model directory')
    .requiredOption('--data <file>', 'database (its test split is used when it is the training database)')
    .requiredOption('--report <dir>', 'where report.json, report.md and the PNGs go')
    .option('--compare <dir>', 'a second model evaluated on the same spectra (e.g. the dense baseline)')
    .option('--compare-from <dir>', "with --card: copy the dense-baseline figures from that earlier model's card (same database and test split)")
    .option('--card', "store the figures in the model's meta.json and write its MODEL.md")
    .option('--backend <b>', 'auto | wasm | gpu | cpu', 'wasm')
    .action(async (opts) => setCode(await runEvaluate(opts, io)));

  program
    .command('render')
    .description('parameter maps (params.h5) -> spectrum cube, SE and flag maps (NeXus) and PNG previews')
    .argument('<params>', 'parameter-map HDF5 file (see docs/formats.md)')
    .option('--out <file>', 'output NeXus file (default: <params>.render.h5 next to the input)')
    .option('--ion <ion>', "override the file's ion attribute")
    .option('--model <dir>', 'a model directory instead of the shipped model of the ion')
    .option('--measured <file>', 'measured NeXus stack (energy, ny, nx) or (ny, nx, energy): SE against it')
    .option('--shift <eV|auto>', 'energy shift added to the measured energies (eV), or auto to fit one global shift', '0')
    .option('--batch <n>', 'pixels per batch (memory is bounded by it)', '10000')
    .option('--verify <k>', "recompute K random pixels (or 'all') with the simulator: se_verify")
    .option('--backend <b>', 'auto | wasm | gpu | cpu', 'wasm')
    .option('--force', 'overwrite existing outputs')
    .option('--json', 'print a JSON summary on stdout')
    .option('--no-worker', 'predict on the main thread, in series with writing (slower; for comparison)')
    .action(async (params: string, opts) => setCode(await runRender(params, opts, io)));

  program
    .command('fit')
    .description('measured spectra (NeXus stack, column text, EMSA/MAS .msa) -> parameter maps with uncertainties, SE and flag maps (NeXus) and PNG maps')
    .argument('<measured>', 'measured file: NeXus NXdata/NXstxm stack, two- or multi-column text, or .msa (docs/formats.md)')
    .requiredOption('--ion <ion>', 'ion, e.g. Fe2+')
    .option('--out <file>', 'output NeXus file (default: <measured>.fit.h5 next to the input)')
    .option('--model <dir|simulator>', "a model directory instead of the shipped model of the ion, or 'simulator' (exact, slow)")
    .option('--fix <list>', 'fixed parameters, e.g. T=300,sigmaG=0.1')
    .option('--bounds <list>', 'bounds within the training ranges, e.g. Dq=0.05:0.15,S1=0.7:0.9')
    .option('--shift <eV|auto>', 'energy shift added to the measured energies (eV), or auto: fitted globally', 'auto')
    .option('--preedge <mode>', 'pre-edge line removal: auto (when the data reach 3 eV below the model window), on, off', 'auto')
    .option('--edge-step <mode>', 'arctangent L3/L2 edge-jump background with a free height: auto (with the pre-edge removal), on, off', 'auto')
    .option('--starts <n>', 'starts per pixel (nearest library spectra); the best SE wins', '3')
    .option('--iterations <n>', 'Levenberg-Marquardt iterations', '12')
    .option('--library <n>', 'library size for the starts (default 4096; 256 with --model simulator)')
    .option('--refine <k>', "refine the K worst pixels (or 'all') with the simulator, from every network start, its best with Ds, Dt reversed, and 8 simulator-library starts")
    .option('--neighbours <passes>', "map fits: refit pixels from a neighbour's better solution, this many passes (0 = off; SE improves, parameters not always)", '0')
    .option('--refine-library <n>', 'simulator library size for the refinement starts', '1024')
    .option('--columns <list>', 'column text: 1-based ENERGY,SIGNAL[,I0] columns (default 1,2 or 1,3,2)')
    .option('--workers <n>', 'prediction worker threads (0 = main thread)', '2')
    .option('--backend <b>', 'auto | wasm | gpu | cpu', 'wasm')
    .option('--force', 'overwrite existing outputs')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (measured: string, opts) => setCode(await runFit(measured, opts, io)));

  program
    .command('serve')
    .description('websocket server: per-pixel requests during an acquisition -> results and live maps (docs/protocol.md)')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'TCP port (0 = any free port)', '8765')
    .option('--token <t>', 'clients must send this token in their start frame')
    .option('--out <dir>', 'directory of the <scan>.render.h5 outputs', '.')
    .option('--max-payload <bytes>', 'largest frame; larger frames close the connection (1009)', '16777216')
    .option('--max-connections <n>', 'simultaneous connections', '16')
    .option('--max-queued <n>', 'pixels waiting for the model before QUEUE_FULL errors', '100000')
    .option('--batch <n>', 'micro-batch: flush after N pixels', '1024')
    .option('--batch-ms <ms>', 'micro-batch: or after MS milliseconds', '20')
    .option('--resume-timeout <s>', 'keep the scan of a vanished client this many seconds for a resume (0 = write at once)', '600')
    .option('--model <dir>', 'a model directory instead of the shipped model of each ion')
    .option('--backend <b>', 'auto | wasm | gpu | cpu', 'wasm')
    .action(async (opts) => setCode(await runServe(opts, io)));

  program
    .command('replay')
    .description('simulated microscope: stream a parameter map to `xasmap serve`, report throughput and latency')
    .argument('<params>', 'parameter-map HDF5 file (see docs/formats.md)')
    .requiredOption('--to <url>', 'server URL, e.g. ws://127.0.0.1:8765')
    .option('--measured <file>', 'measured NeXus stack: send each pixel\'s spectrum (and the energy axis in start)')
    .option('--rate <pixels_per_s>', 'limit the sending rate (default: unlimited)')
    .option('--scan <id>', 'scan id (default: the file name)')
    .option('--token <t>', 'token of a server started with --token')
    .option('--batch <n>', 'pixels per frame', '100')
    .option('--ion <ion>', "override the file's ion attribute")
    .option('--json', 'print the summary as JSON on stdout')
    .action(async (params: string, opts) => setCode(await runReplay(params, opts, io)));

  program
    .command('models')
    .description('list the shipped models and their measured accuracy')
    .option('--json', 'machine-readable output')
    .action(async (opts) => setCode(await runModels(opts, io)));

  return program;
}

export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv as string[]);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof XasmapError) {
      io.stderr(`xasmap: error: ${e.message}`);
      return e.exitCode;
    }
    io.stderr(`xasmap: internal error: ${(e as Error).stack ?? String(e)}`);
    return 1;
  }
}
