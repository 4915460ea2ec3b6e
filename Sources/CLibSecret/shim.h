#ifndef MCP_TUNNEL_CLIBSECRET_SHIM_H
#define MCP_TUNNEL_CLIBSECRET_SHIM_H
#include <libsecret/secret.h>
#endif
