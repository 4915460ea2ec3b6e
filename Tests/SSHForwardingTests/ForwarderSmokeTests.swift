import Foundation
import LabSupport
import SSHForwarding
import TestTiers
import Testing
import TunnelCore

@Suite("BastionPortForwarder smoke", .tags(.lab), .offPool, .serialized)
struct ForwarderSmokeTests {
  @Test("two hops: bytes go to the echo server and back")
  func echoThroughTwoHops() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try await env.startedForwarder()
    let stream = try await withDeadline(.seconds(90), "openStream") { try await forwarder.openStream() }
    let io = streamClient(stream)
    try io.send(Array("hello".utf8))
    #expect(try io.receive(exactly: 5) == Array("hello".utf8))
    await forwarder.stop()
  }
}
