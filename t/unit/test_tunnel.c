/*
 * test_tunnel.c: the Upgrade protocol-list parser (px_tunnel_next_protocol).
 */
#include <string.h>

#include "px_tap.h"
#include "px_tunnel.h"

/* The protocol names of value joined with "|", or "ERR" when the list is malformed. */
static const char *names(const char *value)
{
    static char out[256];
    px_str_t v = {value, strlen(value)}, name;
    size_t pos = 0, n = 0;
    int rc;
    out[0] = '\0';
    while ((rc = px_tunnel_next_protocol(v, &pos, &name)) > 0) {
        if (n > 0)
            strcat(out, "|");
        strncat(out, name.data, name.len);
        n++;
    }
    return rc < 0 ? "ERR" : out;
}

int main(void)
{
    plan_no_plan();
    is_str(names("websocket"), "websocket", "one protocol");
    is_str(names("WebSocket/13"), "WebSocket", "a version is not part of the name");
    is_str(names("websocket, foo/2 ,bar"), "websocket|foo|bar", "a list, spaces around commas");
    is_str(names(" , websocket,, "), "websocket", "empty elements are skipped");
    is_str(names(""), "", "an empty value names nothing");
    is_str(names("web socket"), "ERR", "a space inside an element");
    is_str(names("websocket/"), "ERR", "an empty version");
    is_str(names("/13"), "ERR", "an empty name");
    is_str(names("a/b/c"), "ERR", "two versions");
    is_str(names("web(socket)"), "ERR", "not a token");
    is_str(names("websocket;q=1"), "ERR", "parameters are not protocol syntax");
    return done_testing();
}
