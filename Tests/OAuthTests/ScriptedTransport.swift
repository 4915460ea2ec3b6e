import Foundation
import Synchronization
import TunnelCore

@testable import OAuth

/// A scripted `OAuthHTTPTransport`: answers by URL path from a table, records every request, and
/// fails closed (HTTP 599 + an issue) for anything not scripted.
final class ScriptedTransport: OAuthHTTPTransport {
  typealias Responder = @Sendable (OAuthHTTPRequest) throws -> OAuthHTTPResponse
  private let routes: Mutex<[String: [Responder]]>
  private let log = Mutex<[OAuthHTTPRequest]>([])

  init(_ routes: [String: [Responder]] = [:]) { self.routes = Mutex(routes) }

  var requests: [OAuthHTTPRequest] { log.withLock { $0 } }
  func requests(to path: String) -> [OAuthHTTPRequest] { requests.filter { $0.url.path == path } }

  /// Adds responses for `path`, consumed in order; the last one repeats.
  func on(_ path: String, _ responders: Responder...) { routes.withLock { $0[path, default: []] += responders } }

  func send(_ request: OAuthHTTPRequest) async throws -> OAuthHTTPResponse {
    log.withLock { $0.append(request) }
    let responder = routes.withLock { table -> Responder? in
      guard var list = table[request.url.path], !list.isEmpty else { return nil }
      let first = list.count > 1 ? list.removeFirst() : list[0]
      table[request.url.path] = list
      return first
    }
    guard let responder else {
      return OAuthHTTPResponse(status: 599, headers: [], body: Data("unscripted \(request.url.path)".utf8))
    }
    return try responder(request)
  }

  static func json(_ status: Int, _ object: [String: Any]) -> Responder {
    let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
    return { _ in OAuthHTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: data) }
  }

  static func status(_ status: Int, body: String = "", contentType: String = "text/plain") -> Responder {
    { _ in OAuthHTTPResponse(status: status, headers: [("Content-Type", contentType)], body: Data(body.utf8)) }
  }

  static func unreachable() -> Responder {
    { _ in throw OAuthError(.identityProvider, "cannot reach idp") }
  }
}

extension OAuthHTTPRequest {
  /// The form fields of a POST body.
  var form: [String: String] {
    guard let body, let text = String(data: body, encoding: .utf8) else { return [:] }
    var fields: [String: String] = [:]
    for pair in text.split(separator: "&") {
      let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
      fields[parts[0]] = parts.count > 1 ? parts[1] : ""
    }
    return fields
  }
}

/// Records the waits of a device flow instead of sleeping (STANDARDS §4.6 "using a fake clock").
final class RecordingSleeper: PollingSleeper {
  private let waits = Mutex<[Duration]>([])
  var recorded: [Int64] { waits.withLock { $0.map { $0.components.seconds } } }
  func sleep(for duration: Duration) async throws { waits.withLock { $0.append(duration) } }
}

enum Fixture {
  static let issuer = "https://idp.example.test"

  static func metadata(_ overrides: [String: Any] = [:], issuer: String = issuer) -> [String: Any] {
    var base: [String: Any] = [
      "issuer": issuer, "authorization_endpoint": "\(issuer)/authorize", "token_endpoint": "\(issuer)/token",
      "device_authorization_endpoint": "\(issuer)/device", "revocation_endpoint": "\(issuer)/revoke",
      "jwks_uri": "\(issuer)/jwks", "code_challenge_methods_supported": ["S256"],
    ]
    for (key, value) in overrides { base[key] = value }
    return base
  }

  static func parsedMetadata(_ overrides: [String: Any] = [:]) throws -> AuthorizationServerMetadata {
    try AuthorizationServerMetadata(
      json: metadata(overrides), issuer: issuer, source: URL(string: "\(issuer)/.well-known/openid-configuration")!)
  }
}
