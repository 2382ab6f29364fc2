/** The list of subcommands. Each module exports `register(program)`. */
import type { Command } from 'commander';
import { register as inspect } from './inspect.js';
import { register as check } from './check.js';
import { register as doctor } from './doctor.js';
import { register as run } from './run.js';
import { register as viz } from './viz.js';
import { register as optimize } from './optimize.js';
import { register as bench } from './bench.js';
import { register as serve } from './serve.js';

/** Registers one subcommand on the program. */
export type RegisterCommand = (program: Command) => void;

/** Every subcommand, in help order. */
export const COMMANDS: RegisterCommand[] = [inspect, check, doctor, run, viz, optimize, bench, serve];
