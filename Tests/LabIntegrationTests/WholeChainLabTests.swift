import Foundation
import LabSupport
import TestTiers
import Testing

/// Every peer together, the path mcp-tunnel will automate, done here with the reference tools:
/// device login → refresh token through the keyring → RFC 8693 exchange for acme → `ssh -L` through
/// the bastion to the MCP server's loopback port → MCP `whoami` through the forward.
@Suite("Lab whole chain", .tags(.lab), .offPool, .serialized)
struct WholeChainLabTests {
  @Test("device login, keyring, token exchange and an SSH forward reach the MCP server as acme")
  func wholeChain() async throws {
    let lab = try LabEnvironment.start(.all)
    defer { lab.stop() }
    let idp = try lab.idp()
    let keyring = try lab.secretService()
    let ssh = try lab.sshLab()
    let mcp = try lab.mcp()

    let login = try await idp.deviceLogin()
    let refreshToken = try #require(login.refreshToken)
    let attributes = ["application", "mcp-tunnel", "issuer", idp.issuer, "client_id", idp.clientID]
    let stored = try keyring.secretTool(
      ["store", "--label=mcp-tunnel refresh token"] + attributes, stdin: refreshToken)
    #expect(stored.status == 0, "\(stored.stderr)")
    let fromKeyring = try keyring.secretTool(["lookup"] + attributes).stdout
    #expect(fromKeyring == refreshToken)
    // Use the refresh token from the keyring, as a later `up` would.
    let fresh = try LabTokenSet(try await idp.refresh(fromKeyring), what: "refresh", log: idp.log())
    let tenantToken = try await lab.sts().mint(subjectToken: fresh.accessToken, tenant: "acme")

    let localPort = try LabNetwork.freePort()
    let forward = try LabProcess(
      name: "ssh-forward", executable: try LabPaths.requireExecutable("ssh"),
      arguments: ["-F", ssh.sshConfigPath, "-N", "-L", "127.0.0.1:\(localPort):127.0.0.1:\(mcp.port)", "target"],
      environment: ["HOME": lab.directory.url.path], directory: lab.directory)
    defer { forward.stop() }
    try LabNetwork.waitForListening(port: localPort, timeout: .seconds(20), process: forward)

    let whoami = try lab.mcpClient.whoami(url: "http://127.0.0.1:\(localPort)/mcp", token: tenantToken)
    #expect(whoami.ok, "\(whoami)\nssh: \(labTail(forward.log()))\nbastion: \(labTail(ssh.bastionLog()))")
    #expect(whoami.result["tenant"] as? String == "acme")
    let hosts = mcp.requestLog().compactMap { $0["host"] as? String }
    #expect(hosts.contains("127.0.0.1:\(localPort)"), "the request came through the forward")
  }

  @Test("the whole lab (IdP, STS, MCP server, keyring, two sshd) starts (the time is printed) and stops by PID")
  func startsQuicklyAndStopsClean() throws {
    let started = ContinuousClock.now
    let lab = try LabEnvironment.start(.all)
    let elapsed = ContinuousClock.now - started
    print("lab start (LabEnvironment.start(.all)): \(elapsed)")
    let pids = try FileManager.default.contentsOfDirectory(atPath: lab.directory.path("pids")).compactMap {
      Int32(
        (try? String(contentsOfFile: lab.directory.path("pids/\($0)"), encoding: .utf8))?
          .trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
    }
    #expect(pids.count >= 7, "glewlwyd, sts, mcp-server, dbus-daemon, gnome-keyring, two sshd")
    lab.stop()
    for pid in pids { #expect(kill(pid, 0) != 0, "pid \(pid) survived stop()") }
  }
}
