#ifndef MCP_TUNNEL_CLIBSSH2_SHIM_H
#define MCP_TUNNEL_CLIBSSH2_SHIM_H
#include "libssh2.h"
#include <sys/eventfd.h>
#include <poll.h>

/* Glibc's Swift overlay hides these behind _GNU_SOURCE; the I/O loop of SSHForwarding needs them. */

/* A non-blocking, close-on-exec eventfd that wakes a tunnel's poll() loop. */
static inline int mcp_tunnel_wake_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/* POLLRDHUP (Linux): the peer shut down its writing side. */
static const short mcp_tunnel_pollrdhup = 0x2000;

#endif
