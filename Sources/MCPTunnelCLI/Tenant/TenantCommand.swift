import ArgumentParser

/// `mcp-tunnel tenant`: the tenant of the running `up`.
struct TenantCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tenant",
    abstract: "Show or switch the tenant the running tunnel serves.",
    discussion: """
      Talks to the running `mcp-tunnel up` of the profile over its control socket. Switching \
      keeps the SSH path up: the new tenant's token is minted first, then swapped in, the old one \
      dropped, and client connections opened under the old tenant are closed.

      Example:
        $ mcp-tunnel tenant use globex
        $ mcp-tunnel tenant current
        $ mcp-tunnel tenant list
      """,
    subcommands: [TenantUse.self, TenantCurrent.self, TenantList.self]
  )
}
