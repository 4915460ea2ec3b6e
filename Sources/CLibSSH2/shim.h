#ifndef MCP_TUNNEL_CLIBSSH2_SHIM_H
#define MCP_TUNNEL_CLIBSSH2_SHIM_H
#include <libssh2.h>
#endif
