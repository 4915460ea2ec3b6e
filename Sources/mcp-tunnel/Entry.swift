import ArgumentParser
import MCPTunnelCLI

@main extension MCPTunnelCommand {}
