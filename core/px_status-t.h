/*
 * px_status-t.h: the status codes core functions return.
 *
 * Functions return px_status_t, never a bare int with several meanings. A function whose
 * failure needs more than "it failed" (a parser, the config loader) fills an error struct of
 * its own that the caller passes in.
 */
#ifndef PX_STATUS_T_H
#define PX_STATUS_T_H

typedef enum {
    PX_OK = 0,       /* done */
    PX_AGAIN = 1,    /* not done yet: call again when more input or time is available */
    PX_DECLINED = 2, /* not applicable: let the caller try something else */
    PX_ERROR = -1,   /* failed; the caller logs or answers as its contract says */
} px_status_t;

#endif
