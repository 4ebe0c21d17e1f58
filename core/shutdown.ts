/** What a shutdown needs to log; pino and fastify's logger both fit. */
interface ShutdownLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

/** SIGTERM / SIGINT: finish the running jobs, then exit; a second signal or SHUTDOWN_TIMEOUT_MS forces the exit. */
export function closeOnSignals(close: () => Promise<void>, log: ShutdownLog, timeoutMs: number): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal }, 'shutting down: finishing running work');
    const force = setTimeout(() => {
      log.error({ timeoutMs }, 'shutdown timed out; exiting (unfinished jobs will be picked up by another worker)');
      process.exit(1);
    }, timeoutMs);
    force.unref();
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
