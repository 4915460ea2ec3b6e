import CLibSSH2
import Foundation
import TunnelCore

/// What the hops can log in with, found without connecting anywhere (`mcp-tunnel doctor`): the
/// ssh-agent named by `SSH_AUTH_SOCK` and how many keys it holds, and `ssh.identity` when set.
/// Hops try the agent first, then the key file, as `HopConnection` does.
public enum SSHCredentialsCheck {
  /// One line naming every usable credential, e.g. "ssh-agent at /tmp/agent.sock (2 keys); key
  /// file ~/.ssh/id_ed25519". Throws when none is usable, naming what was tried and the fix.
  /// Blocks on the agent's socket: async code calls it through `runOffPool`.
  public static func describe(
    settings: SSHSettings, environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws(SSHError) -> String {
    try describe(route: SSHRoute(settings: settings), environment: environment)
  }

  /// As `describe(settings:)`, for hops resolved through the ssh config: each hop's `IdentityAgent`
  /// and `IdentityFile`s (OpenSSH's default list only where those files exist).
  public static func describe(
    route: SSHRoute, environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws(SSHError) -> String {
    var usable: [String] = []
    var problems: [String] = []
    var sockets: [String] = []
    let environmentSocket = environment["SSH_AUTH_SOCK"].flatMap { $0.isEmpty ? nil : $0 }
    for hop in route.hops {
      let socket: String? =
        switch hop.identityAgent {
        case nil: environmentSocket
        case "none": nil
        case .some(let path): IdentityFile.expandTilde(path, environment: environment)
        }
      if let socket, !sockets.contains(socket) { sockets.append(socket) }
    }
    if route.hops.allSatisfy({ $0.identityAgent == nil }) && environmentSocket == nil {
      problems.append("SSH_AUTH_SOCK is not set (no ssh-agent)")
    } else if sockets.isEmpty {
      problems.append("no ssh-agent (IdentityAgent none)")
    }
    for socket in sockets {
      switch agentKeyCount(socket: socket) {
      case .some(let count) where count > 0:
        usable.append("ssh-agent at \(socket) (\(count) key\(count == 1 ? "" : "s"))")
      case .some: problems.append("ssh-agent at \(socket) holds no keys")
      case .none: problems.append("ssh-agent at \(socket) does not answer")
      }
    }
    var files: [(path: String, optional: Bool)] = []
    for hop in route.hops {
      for file in hop.identityFiles where !file.isEmpty {
        let path = IdentityFile.expandTilde(file, environment: environment)
        if !files.contains(where: { $0.path == path }) { files.append((path, hop.identityFilesAreDefaults)) }
      }
    }
    let name = route.sshConfig == nil ? "ssh.identity" : "identity file"
    for (path, optional) in files {
      if !FileManager.default.fileExists(atPath: path) {
        if !optional { problems.append("\(name) \(path) does not exist") }
      } else if !FileManager.default.isReadableFile(atPath: path) {
        problems.append("\(name) \(path) is not readable")
      } else {
        usable.append("key file \(path)")
      }
    }
    if files.isEmpty { problems.append("ssh.identity is not set") }
    guard usable.isEmpty else { return usable.joined(separator: "; ") }
    throw SSHError(
      .sshConnection, "no SSH credentials to log in with: " + problems.joined(separator: "; "),
      fix: "load a key into ssh-agent (`ssh-add`) or set ssh.identity to a private key file", retryable: false)
  }

  /// The number of keys the agent at `socket` lists, or nil when it cannot be reached.
  static func agentKeyCount(socket: String) -> Int? {
    guard let session = try? SessionHandle(abstract: nil), let agent = try? AgentHandle(session: session),
      // off-pool: doctor runs this check through runOffPool
      agent.connect(path: socket), libssh2_agent_list_identities(agent.raw) == 0
    else { return nil }
    var count = 0
    var previous: UnsafeMutablePointer<libssh2_agent_publickey>?
    while true {
      var next: UnsafeMutablePointer<libssh2_agent_publickey>?
      guard libssh2_agent_get_identity(agent.raw, &next, previous) == 0 else { break }
      count += 1
      previous = next
    }
    return count
  }
}
