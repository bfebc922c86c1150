/*
 * px_testfilter.h: `pyxis test-filter`, running one request through a route's filter chain
 * offline.
 *
 * The real request path runs in-process on the calling thread: a local worker
 * (px_worker_create_local) serves the config without listening sockets, the request enters
 * through a socketpair handed to px_h1_conn_accept() as an accepted client would, every
 * upstream connection is the harness's end of another socketpair (px_upstream_connect_hook),
 * answered from a file. What reached the upstream and what reached the client are printed.
 * docs/testing.md, "Testing filters offline", is the user's manual.
 */
#ifndef PX_TESTFILTER_H
#define PX_TESTFILTER_H

/* pyxis test-filter OPTIONS: argv[0] is "test-filter". Returns the exit status: 0 when a
 * complete response reached the client, 1 otherwise (the reason is on stderr), 2 for a usage
 * error. */
int px_testfilter_main(int argc, char **argv);

#endif
