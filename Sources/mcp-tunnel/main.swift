import MCPTunnelCLI

// Synchronous top-level code, not `@main` on the async command: see `MCPTunnelCommand.runProcess()`.
MCPTunnelCommand.runProcess()
