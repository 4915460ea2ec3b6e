import Foundation
import NIOHTTP1
import TunnelCore

extension StepUpChallenge {
  /// The step-up challenge in an upstream answer (SPEC §10, WWWA-03), if there is one: the first
  /// Bearer challenge carrying an `error` decides. `insufficient_scope` (MCP 2025-11-25, SC-03) and
  /// `insufficient_user_authentication` (RFC 9470 §3, SU-01) are recognised on a `403` or a `401`,
  /// whichever the server used (RFC 6750 puts the first on 403, RFC 9470 the second on 401); any
  /// other error, `invalid_token` included, is not a step-up.
  ///
  /// `scope` and `acr_values` are split on spaces; a token holding anything but RFC 6749
  /// `scope-token` characters is dropped (it would reach a terminal and a command line), and at
  /// most 32 of at most 128 bytes are kept. `max_age` (token or quoted string) counts only as a
  /// non-negative decimal integer (RFC 9470 §3); anything else leaves it out, the challenge stands.
  static func parse(status: Int, wwwAuthenticate fields: [String]) -> StepUpChallenge? {
    guard status == 401 || status == 403 else { return nil }
    let challenges = AuthenticationChallenge.parse(fields)
    guard let bearer = challenges.first(where: { $0.isScheme("bearer") && $0.error != nil }),
      let kind = Kind(rawValue: bearer.error ?? "")
    else { return nil }
    return StepUpChallenge(
      kind: kind, status: status, scopes: tokens(bearer.parameters["scope"]),
      acrValues: tokens(bearer.parameters["acr_values"]), maxAge: maxAge(bearer.parameters["max_age"]))
  }

  static func tokens(_ value: String?) -> [String] {
    guard let value else { return [] }
    let words = value.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
    return Array(words.filter { $0.utf8.count <= 128 && $0.utf8.allSatisfy(isScopeTokenByte) }.prefix(32))
  }

  /// RFC 6749 §3.3 `scope-token`: %x21 / %x23-5B / %x5D-7E.
  static func isScopeTokenByte(_ byte: UInt8) -> Bool {
    byte == 0x21 || (0x23...0x5B).contains(byte) || (0x5D...0x7E).contains(byte)
  }

  static func maxAge(_ value: String?) -> Int? {
    guard let value, !value.isEmpty, value.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
    return Int(value)  // nil on overflow
  }
}

/// The proxy's answer to a step-up challenge (SPEC §10): the server's status, and a JSON-RPC error
/// response per request of the body (an array for a batch; one with `"id": null` when the body held
/// no request: a notification, a GET, a body that is not JSON-RPC). The challenge itself is not
/// relayed (USE-06).
///
/// `error.code` is `-32003` (in JSON-RPC's implementation-defined server-error range, not used by
/// MCP or its SDKs); `error.message` says what the server wants and the `mcp-tunnel elevate`
/// command; `error.data` has the facts: `{"error", "http_status", "tenant", "scope", "acr_values",
/// "max_age", "run"}`, absent ones `null`.
enum StepUpReply {
  static let code = -32003

  struct ErrorObject: Encodable {
    var code: Int
    var message: String
    var data: Details
  }

  struct Details: Encodable {
    var advice: StepUpAdvice

    enum CodingKeys: String, CodingKey {
      case error, tenant, scope, run
      case httpStatus = "http_status"
      case acrValues = "acr_values"
      case maxAge = "max_age"
    }

    func encode(to encoder: any Encoder) throws {
      var container = encoder.container(keyedBy: CodingKeys.self)
      let challenge = advice.challenge
      try container.encode(challenge.kind.rawValue, forKey: .error)
      try container.encode(challenge.status, forKey: .httpStatus)
      try container.encode(advice.tenant.rawValue, forKey: .tenant)
      try encodeJoined(challenge.scopes, .scope, &container)
      try encodeJoined(challenge.acrValues, .acrValues, &container)
      if let maxAge = challenge.maxAge {
        try container.encode(maxAge, forKey: .maxAge)
      } else {
        try container.encodeNil(forKey: .maxAge)
      }
      try container.encode(advice.command, forKey: .run)
    }

    private func encodeJoined(
      _ words: [String], _ key: CodingKeys, _ container: inout KeyedEncodingContainer<CodingKeys>
    ) throws {
      if words.isEmpty {
        try container.encodeNil(forKey: key)
      } else {
        try container.encode(words.joined(separator: " "), forKey: key)
      }
    }
  }

  /// The response body for `reply`'s shape.
  static func body(_ advice: StepUpAdvice, reply: JSONRPCReplyShape) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let error = ErrorObject(code: code, message: "mcp-tunnel: " + advice.message, data: Details(advice: advice))
    let errorJSON = (try? encoder.encode(error)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    func response(_ id: String) -> String { #"{"jsonrpc":"2.0","id":\#(id),"error":\#(errorJSON)}"# }
    guard reply.batch, !reply.requestIDs.isEmpty else {
      return Data(response(reply.requestIDs.first ?? "null").utf8)
    }
    return Data(("[" + reply.requestIDs.map(response).joined(separator: ",") + "]").utf8)
  }
}

extension LocalAnswer {
  /// The answer to a step-up challenge: the server's status, a JSON-RPC error body (`StepUpReply`).
  /// Not counted as an error of the proxy's, and the connection stays open.
  static func stepUp(_ advice: StepUpAdvice, reply: JSONRPCReplyShape) -> LocalAnswer {
    var answer = LocalAnswer(
      HTTPResponseStatus(statusCode: advice.challenge.status), "step_up_required", advice.message,
      fix: "run: \(advice.command)", countsAsError: false)
    answer.rawBody = StepUpReply.body(advice, reply: reply)
    return answer
  }
}
