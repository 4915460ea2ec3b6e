import ArgumentParser
import Foundation
import MCPTunnelCLI
import Testing

/// completions/ is generated from the command tree; this fails when a help string or option moved
/// and the committed files were not regenerated. (`make test` also diffs man/ the same way.)
@Suite("generated docs")
struct GeneratedDocsTests {
  static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  @Test(arguments: [
    (CompletionShell.bash, "completions/mcp-tunnel.bash"),
    (CompletionShell.zsh, "completions/_mcp-tunnel"),
    (CompletionShell.fish, "completions/mcp-tunnel.fish"),
  ])
  func completionScriptMatchesTheCommandTree(shell: CompletionShell, path: String) throws {
    let committed = try String(contentsOf: Self.repoRoot.appendingPathComponent(path), encoding: .utf8)
    let generated = MCPTunnelCommand.completionScript(for: shell)
    // The CLI prints the script followed by a newline.
    #expect(
      committed == generated + "\n",
      "\(path) is out of date with the command tree; run `make docs` and commit completions/ and man/")
  }

  @Test func everyCommandHasAbstractAndWorkedExample() {
    func visit(_ command: any ParsableCommand.Type, path: String) {
      let configuration = command.configuration
      let name = path.isEmpty ? (configuration.commandName ?? "?") : path
      #expect(!configuration.abstract.isEmpty, "\(name) has no abstract")
      #expect(configuration.discussion.contains("$ mcp-tunnel"), "\(name) has no worked example in its discussion")
      for sub in configuration.subcommands {
        visit(sub, path: name + " " + (sub.configuration.commandName ?? "?"))
      }
    }
    visit(MCPTunnelCommand.self, path: "")
  }
}
