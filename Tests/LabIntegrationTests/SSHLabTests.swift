import Foundation
import LabSupport
import TestTiers
import Testing
import TunnelCore

/// The OpenSSH lab itself works: the reference client reaches the service only along the intended path.
@Suite("SSH lab (OpenSSH bastion + target)", .tags(.lab), .offPool, .serialized)
struct SSHLabTests {
  /// Runs `ssh -F <lab config> -N -L 127.0.0.1:<port>:<forward> <host>` and waits until it listens.
  private func openSSHForward(
    _ lab: SSHLab, via host: String, to destination: String, in dir: LabDirectory
  ) throws -> (LabProcess, Int) {
    let port = try LabNetwork.freePort()
    let ssh = try LabProcess(
      name: "ssh-L-\(host)-\(port)", executable: "/usr/bin/ssh",
      arguments: ["-F", lab.sshConfigPath, "-N", "-L", "127.0.0.1:\(port):\(destination)", host],
      environment: ["HOME": dir.url.path], directory: dir)
    try LabNetwork.waitForListening(port: port, process: ssh)
    return (ssh, port)
  }

  @Test("ssh -J through the bastion reaches the forward target")
  func reachesServiceThroughBastion() throws {
    let dir = try LabDirectory(prefix: "sshlab")
    let echo = try TCPEchoServer()
    defer { echo.stop() }
    let lab = try SSHLab.start(in: dir, forwardTarget: HostPort(host: "127.0.0.1", port: echo.port))
    defer { lab.stop() }
    let (ssh, port) = try openSSHForward(lab, via: "target", to: echo.address, in: dir)
    defer { ssh.stop() }

    let client = try LabTCPClient(port: port)
    let message = Array("hello through two hops".utf8)
    try client.send(message)
    #expect(try client.receive(exactly: message.count) == message, "ssh log:\n\(ssh.log())")
  }

  @Test("the bastion refuses direct-tcpip to anything but the target sshd")
  func bastionRefusesOtherDestinations() throws {
    let dir = try LabDirectory(prefix: "sshlab")
    let echo = try TCPEchoServer()
    defer { echo.stop() }
    let lab = try SSHLab.start(in: dir, forwardTarget: HostPort(host: "127.0.0.1", port: echo.port))
    defer { lab.stop() }
    let (ssh, port) = try openSSHForward(lab, via: "bastion", to: echo.address, in: dir)
    defer { ssh.stop() }

    let client = try LabTCPClient(port: port, timeout: .seconds(10))
    try? client.send(Array("x".utf8))
    // ssh accepts locally, then closes the connection when the bastion refuses the channel.
    let got = (try? client.receiveUntilEOF()) ?? []
    #expect(got.isEmpty)
    try waitUntil(timeout: .seconds(10), "ssh to report the refusal") {
      ssh.log().contains("administratively prohibited")
    }
    #expect(echo.acceptedCount == 0)
  }

  @Test("the bastion can be killed and restarted on the same port with the same host key")
  func bastionRestart() throws {
    let dir = try LabDirectory(prefix: "sshlab")
    let echo = try TCPEchoServer()
    defer { echo.stop() }
    let lab = try SSHLab.start(in: dir, forwardTarget: HostPort(host: "127.0.0.1", port: echo.port))
    defer { lab.stop() }
    lab.killBastion()
    #expect(!LabNetwork.isListening(port: lab.bastionPort))
    try lab.startBastion()
    let (ssh, port) = try openSSHForward(lab, via: "target", to: echo.address, in: dir)
    defer { ssh.stop() }
    let client = try LabTCPClient(port: port)
    try client.send([1, 2, 3])
    #expect(try client.receive(exactly: 3) == [1, 2, 3])
  }

  @Test("a rekeyed bastion fails OpenSSH's strict host key check")
  func rekeyedBastionIsRejected() throws {
    let dir = try LabDirectory(prefix: "sshlab")
    let lab = try SSHLab.start(in: dir, forwardTarget: HostPort(host: "127.0.0.1", port: 9))
    defer { lab.stop() }
    try lab.restartBastion(newHostKey: true)
    let r = try runTool(
      "/usr/bin/ssh", ["-F", lab.sshConfigPath, "-N", "-o", "ConnectTimeout=10", "bastion"],
      environment: ["HOME": dir.url.path])
    #expect(r.status == 255)
    #expect(r.output.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "\(r.output)")
  }

  @Test("the unauthorized key is refused")
  func unauthorizedKeyIsRefused() throws {
    let dir = try LabDirectory(prefix: "sshlab")
    let lab = try SSHLab.start(in: dir, forwardTarget: HostPort(host: "127.0.0.1", port: 9))
    defer { lab.stop() }
    let r = try runTool(
      "/usr/bin/ssh",
      [
        "-F", "/dev/null", "-i", lab.unauthorizedKeyPath, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-o", "UserKnownHostsFile=\(lab.knownHostsPath)", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10", "-N", "-p", "\(lab.bastionPort)", "\(lab.user)@127.0.0.1",
      ],
      environment: ["HOME": dir.url.path])
    #expect(r.status == 255)
    #expect(r.output.contains("Permission denied"), "\(r.output)")
  }
}
