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
    var usable: [String] = []
    var problems: [String] = []
    if let socket = environment["SSH_AUTH_SOCK"], !socket.isEmpty {
      switch agentKeyCount(socket: socket) {
      case .some(let count) where count > 0:
        usable.append("ssh-agent at \(socket) (\(count) key\(count == 1 ? "" : "s"))")
      case .some: problems.append("ssh-agent at \(socket) holds no keys")
      case .none: problems.append("ssh-agent at \(socket) does not answer")
      }
    } else {
      problems.append("SSH_AUTH_SOCK is not set (no ssh-agent)")
    }
    if let identity = settings.identity, !identity.isEmpty {
      let path = IdentityFile.expandTilde(identity, environment: environment)
      if !FileManager.default.fileExists(atPath: path) {
        problems.append("ssh.identity \(path) does not exist")
      } else if !FileManager.default.isReadableFile(atPath: path) {
        problems.append("ssh.identity \(path) is not readable")
      } else {
        usable.append("key file \(path)")
      }
    } else {
      problems.append("ssh.identity is not set")
    }
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
