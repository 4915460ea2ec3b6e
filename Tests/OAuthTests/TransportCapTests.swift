import Foundation
import Glibc
import TestTiers
import Testing
import TunnelCore

@testable import OAuth

/// A loopback HTTP server that answers every request with one fixed response, then closes. Serves
/// until `stop()`; blocking I/O on its own thread (a test sends one or two requests).
final class FixedResponseServer: Sendable {
  let port: Int
  private let listener: Int32
  private let response: [UInt8]

  init(status: String = "200 OK", contentType: String = "application/json", body: [UInt8]) throws {
    response =
      Array(
        "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
          .utf8)
      + body
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw OAuthError(.internalError, "socket: errno \(errno)") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
      }
    }
    guard bound else {
      close(fd)
      throw OAuthError(.internalError, "bind: errno \(errno)")
    }
    listener = fd
    port = Int(UInt16(bigEndian: address.sin_port))
    let thread = Thread { [response] in
      while true {
        let client = accept(fd, nil, nil)  // off-pool: the server's own thread
        guard client >= 0 else { return }
        // Read the request head, then answer; the body of a POST is small and already here.
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var head: [UInt8] = []
        while head.firstRange(of: Array("\r\n\r\n".utf8)) == nil {
          let n = read(client, &buffer, buffer.count)  // off-pool: the server's own thread
          if n <= 0 { break }
          head += buffer[0..<n]
        }
        var offset = 0
        while offset < response.count {
          let n = response[offset...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
          if n <= 0 { break }
          offset += n
        }
        // A graceful close: closing with request bytes still unread (a body that came in its own
        // segment) would send a reset, and the client could lose the answer's tail. Stop writing,
        // then read until the client closes (bounded by a receive timeout).
        var wait = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        shutdown(client, Int32(SHUT_WR))
        while read(client, &buffer, buffer.count) > 0 {}  // off-pool: the server's own thread
        close(client)
      }
    }
    thread.start()
  }

  var url: URL { URL(string: "http://127.0.0.1:\(port)/token")! }

  func stop() {
    shutdown(listener, Int32(SHUT_RDWR))
    close(listener)
  }
}

@Suite("OAuth transport against a hostile loopback server", .offPool)
struct TransportCapTests {
  @Test("a 2 MiB token response (over the 1 MiB cap) is an IdP error (exit 5), never read into memory whole")
  func bodyOverTheCap() async throws {
    let padding = String(repeating: "x", count: 2 << 20)
    let body = Array(#"{"access_token":"at-cap-1","token_type":"Bearer","padding":"\#(padding)"}"#.utf8)
    let server = try FixedResponseServer(body: body)
    defer { server.stop() }
    let transport = AsyncHTTPClientTransport()
    do {
      _ = try await transport.send(.form(server.url, [("grant_type", "refresh_token")]))
      Issue.record("a body over the cap was accepted")
    } catch let error as OAuthError {
      #expect(error.category == .identityProvider)
      #expect(error.fix != nil)
      #expect(!error.summary.contains("at-cap-1"))
      #expect(error.summary.contains("over 1024 KiB"), "says what was wrong, not \"cannot reach\": \(error.summary)")
    }
  }

  @Test("a body just under the cap is read whole and parsed")
  func bodyUnderTheCap() async throws {
    let padding = String(repeating: "x", count: (1 << 20) - 100)
    let body = Array(#"{"access_token":"at-cap-2","token_type":"Bearer","p":"\#(padding)"}"#.utf8)
    #expect(body.count <= AsyncHTTPClientTransport.maximumBodyBytes)
    let server = try FixedResponseServer(body: body)
    defer { server.stop() }
    let response = try await AsyncHTTPClientTransport().send(
      .form(server.url, [("grant_type", "refresh_token")]))
    let parsed = try TokenResponse.parse(response, what: "refresh token request")
    #expect(parsed.accessToken.revealedForTransmission == "at-cap-2")
  }
}
