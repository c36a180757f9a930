import type { Connection } from '../connection.js';
import type { SecretDir } from '../secret-dir.js';
import type { DatabaseEngine } from './engine.js';
import { MysqlEngine } from './mysql.js';
import { PostgresEngine } from './postgres.js';

/** What picks and sets up an engine: the engine's name and where PostgreSQL's clients are. */
export interface EngineChoice {
  engine: 'postgres' | 'mysql';
  pgBinDir?: string | undefined;
}

/**
 * The engine a backup or restore config names, with its client tools found (and, for
 * PostgreSQL, matched to the server's major version). `env` is where connection variables are read.
 */
export function createEngine(
  choice: EngineChoice,
  connection: Connection,
  secrets: SecretDir,
  env: NodeJS.ProcessEnv,
): Promise<DatabaseEngine> {
  return choice.engine === 'postgres'
    ? PostgresEngine.create(connection, secrets, {
        env,
        ...(choice.pgBinDir !== undefined ? { pgBinDir: choice.pgBinDir } : {}),
      })
    : MysqlEngine.create(connection, secrets, { env });
}
