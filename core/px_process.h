/*
 * px_process.h: the main thread (configuration generations, listening sockets, workers,
 * signals).
 */
#ifndef PX_PROCESS_H
#define PX_PROCESS_H

/* Load `file`, start the workers and serve until SIGTERM/SIGINT has drained them. Returns the
 * process exit status (0 after a clean drain, 1 when the configuration or start failed). */
int px_process_run(const char *file);

#endif
