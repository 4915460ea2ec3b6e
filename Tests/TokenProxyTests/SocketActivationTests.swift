import Foundation
import Glibc
import TestTiers
import Testing

// off-pool-file: the suite runs on OffPoolExecutor (.offPool)
import TunnelCore

@testable import TokenProxy

/// Socket activation (`mcp-tunnel@.socket`): the `sd_listen_fds` variables, and the checks on the
/// passed descriptor, against real sockets of this process. The hand-over through
/// `systemd-socket-activate` and the built binary is in `UpCommandTests` (lab tier).
@Suite("socket activation: LISTEN_* and the passed socket", .offPool)
struct SocketActivationTests {
  @Test("no variables, or LISTEN_PID of another process: nothing passed")
  func nothingPassed() throws {
    #expect(try LoopbackListener.activatedDescriptor(environment: [:], pid: 42) == nil)
    #expect(try LoopbackListener.activatedDescriptor(environment: ["LISTEN_FDS": "1"], pid: 42) == nil)
    #expect(
      try LoopbackListener.activatedDescriptor(environment: ["LISTEN_PID": "41", "LISTEN_FDS": "1"], pid: 42) == nil)
  }

  @Test("LISTEN_PID = this process, LISTEN_FDS = 1: descriptor 3 (SD_LISTEN_FDS_START)")
  func onePassed() throws {
    let environment = ["LISTEN_PID": "42", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "mcp-tunnel"]
    #expect(try LoopbackListener.activatedDescriptor(environment: environment, pid: 42) == 3)
  }

  @Test("malformed variables or other than one socket: a usage error that says what to fix")
  func refused() throws {
    for (pid, count) in [("x", "1"), ("-3", "1"), ("42", "two"), ("42", "0"), ("42", "2")] {
      #expect(throws: ProxyError.self) {
        try LoopbackListener.activatedDescriptor(environment: ["LISTEN_PID": pid, "LISTEN_FDS": count], pid: 42)
      }
    }
    do {
      _ = try LoopbackListener.activatedDescriptor(environment: ["LISTEN_PID": "42", "LISTEN_FDS": "2"], pid: 42)
      Issue.record("two sockets were accepted")
    } catch {
      #expect(error.category == .usage && error.summary.contains("2 sockets"))
      #expect(error.fix?.contains("ListenStream=") == true)
    }
  }

  @Test("a listening loopback socket is adopted with its address and accepts connections")
  func adoptsListeningLoopbackSocket() throws {
    let bound = try LoopbackListener.bind(HostPort(host: "127.0.0.1", port: 0))
    let fd = try #require(bound.takeDescriptor())
    let adopted = try LoopbackListener.adopt(fd)
    defer { adopted.close() }
    #expect(adopted.address == bound.address)

    let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { Glibc.close(client) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(adopted.address.port).bigEndian)
    _ = inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    #expect(connected == 0)
    let accepted = try #require(adopted.accept())
    accepted.close()
  }

  @Test("not a socket, a socket that does not listen, a datagram socket: refused")
  func refusesOtherDescriptors() throws {
    var pipeEnds: [Int32] = [0, 0]
    #expect(pipe(&pipeEnds) == 0)
    let stream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    let datagram = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { for fd in pipeEnds + [stream, datagram] { Glibc.close(fd) } }
    for (fd, words) in [(pipeEnds[0], "not a socket"), (stream, "not a listening"), (datagram, "not a listening")] {
      do {
        _ = try LoopbackListener.adopt(fd)
        Issue.record("descriptor \(fd) was adopted")
      } catch {
        #expect(error.category == .usage && error.summary.contains(words), "\(error.summary)")
      }
    }
  }
}
