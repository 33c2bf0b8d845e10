/**
 * zod's smaller entry point (zod/mini: functions instead of methods, so a bundle keeps only what it
 * uses), with the English messages the classic entry point loads by itself. The ingest path's
 * schemas use it (`import * as z from './zod-mini'`): a fraction of the classic size in its bundles.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';
