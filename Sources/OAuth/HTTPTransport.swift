import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TunnelCore

/// One HTTP exchange with an OAuth endpoint, small enough to hold in memory (metadata, JWKS and
/// token responses are a few KiB; bodies over `maximumBodyBytes` are refused).
struct OAuthHTTPRequest: Sendable {
  var method: String
  var url: URL
  var headers: [(String, String)] = []
  var body: Data?

  /// An `application/x-www-form-urlencoded` POST (AZ-15, RFC 6749 §4.1.3).
  static func form(_ url: URL, _ fields: [(String, String)], bearer: AccessToken? = nil) -> OAuthHTTPRequest {
    var headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
    if let bearer { headers.append(("Authorization", "Bearer \(bearer.revealedForTransmission)")) }
    return OAuthHTTPRequest(method: "POST", url: url, headers: headers, body: Data(FormEncoding.encode(fields).utf8))
  }

  static func get(_ url: URL) -> OAuthHTTPRequest {
    OAuthHTTPRequest(method: "GET", url: url, headers: [("Accept", "application/json")])
  }
}

struct OAuthHTTPResponse: Sendable {
  var status: Int
  var headers: [(String, String)]
  var body: Data

  func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }

  /// The body as a JSON object, or nil when it is not one.
  func json() -> [String: Any]? {
    guard !body.isEmpty else { return nil }
    return (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
  }
}

/// Sends OAuth HTTP requests. The live version is `AsyncHTTPClientTransport`; unit tests script
/// responses with a twin. Errors thrown are `OAuthError` with category `.identityProvider`.
protocol OAuthHTTPTransport: Sendable {
  func send(_ request: OAuthHTTPRequest) async throws -> OAuthHTTPResponse
}

/// AsyncHTTPClient with the settings STANDARDS GEN-01/02/06 ask for: certificate validation on (the
/// default, no switch to turn it off), redirects never followed (a token POST must not be replayed
/// elsewhere; a metadata redirect would bypass the URL policy), short timeouts.
final class AsyncHTTPClientTransport: OAuthHTTPTransport {
  static let maximumBodyBytes = 1 << 20
  private let client: HTTPClient
  private let timeout: TimeAmount

  init(timeout: TimeAmount = .seconds(15)) {
    var configuration = HTTPClient.Configuration()
    configuration.redirectConfiguration = .disallow
    configuration.timeout = .init(connect: .seconds(5), read: timeout)
    client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    self.timeout = timeout
  }

  /// Never `syncShutdown()`: it parks the calling thread until the connection pool is closed, and
  /// the last reference may be dropped on a cooperative-pool thread (or an event loop, where it
  /// traps). The client keeps itself alive until its shutdown completes.
  deinit { client.shutdown { _ in } }

  func send(_ request: OAuthHTTPRequest) async throws -> OAuthHTTPResponse {
    var outgoing = HTTPClientRequest(url: request.url.absoluteString)
    outgoing.method = HTTPMethod(rawValue: request.method)
    outgoing.headers.add(name: "User-Agent", value: "mcp-tunnel")
    for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
    if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
    let host = request.url.host ?? request.url.absoluteString
    do {
      let response = try await client.execute(outgoing, timeout: timeout)
      let body = try await response.body.collect(upTo: Self.maximumBodyBytes)
      return OAuthHTTPResponse(
        status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
        body: Data(body.readableBytesView))
    } catch let error as OAuthError {
      throw error
    } catch is NIOTooManyBytesError {
      throw OAuthError(
        .identityProvider,
        "\(host) (\(request.url.path)) answered with a body over \(Self.maximumBodyBytes / 1024) KiB; nothing of it was used",
        fix: "the identity provider misbehaves (OAuth answers are a few KiB); check idp.issuer and its administrator")
    } catch {
      throw OAuthError(
        .identityProvider, "cannot reach \(host) (\(request.url.path)): \(error)",
        fix: "check the network and idp.issuer; `mcp-tunnel doctor` tests each step")
    }
  }
}

/// `application/x-www-form-urlencoded` per the WHATWG URL standard: everything but
/// `A-Z a-z 0-9 * - . _` is percent-encoded, space as `%20` (accepted everywhere, unlike `+`
/// inside some tokens).
enum FormEncoding {
  private static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._*".utf8)

  static func escape(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
      if unreserved.contains(byte) {
        out.append(Character(Unicode.Scalar(byte)))
      } else {
        out += String(format: "%%%02X", byte)
      }
    }
    return out
  }

  static func encode(_ fields: [(String, String)]) -> String {
    fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
  }
}
