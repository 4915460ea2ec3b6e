import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TunnelCore

@testable import TokenProxy

/// Step-up challenges (SPEC §10) in `ProxyExchangeStateMachine` alone: a `403 insufficient_scope`
/// (SC-03, corpus #2 of STANDARDS §4.4) or `401 insufficient_user_authentication` (SU-01, corpus #6
/// and #7) is answered by the proxy with the server's status and a JSON-RPC error naming
/// `mcp-tunnel elevate`; no re-mint, no retry (SU-03), the challenge not relayed (USE-06). A plain
/// `401 invalid_token` keeps its one re-mint (USE-05, WWWA-03).
@Suite("Step-up in the proxy exchange state machine")
struct StepUpStateMachineTests {
  typealias T = ProxyExchangeStateMachineTests
  typealias Driver = ProxyExchangeStateMachineTests.Driver
  typealias Action = ProxyExchangeStateMachine.Action

  static let scopeChallenge: HTTPHeaders = [
    "WWW-Authenticate":
      #"Bearer error="insufficient_scope", scope="mcp mcp-admin", resource_metadata="http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp", error_description="Additional permission required""#
  ]
  static let acrChallenge: HTTPHeaders = [
    "WWW-Authenticate":
      #"Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="myACR""#
  ]
  static let call =
    #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"admin_echo","arguments":{"text":"x"}}}"#

  static func driver() -> Driver {
    var d = Driver()
    d.machine = ProxyExchangeStateMachine(
      limits: d.machine.limits, requestGuard: d.machine.requestGuard, upstreamHost: d.machine.upstreamHost,
      stepUpContext: StepUpContext(baselineScopes: ["openid", "mcp"], profile: "lab"))
    _ = d.on(.channelActive(connectionID: 7))
    return d
  }

  /// The JSON body of the proxy's answer in `actions`, parsed.
  static func answerJSON(_ actions: [Action]) throws -> (status: HTTPResponseStatus, head: HTTPResponseHead, json: Any)
  {
    for action in actions {
      if case .writeLocalAnswer(let head, let body) = action {
        let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView), options: [.fragmentsAllowed])
        return (head.status, head, json)
      }
    }
    throw CoreError(.internalError, "no local answer in \(actions)")
  }

  static func error(_ json: Any) -> [String: Any] { ((json as? [String: Any])?["error"] as? [String: Any]) ?? [:] }

  @Test("403 insufficient_scope: the server's 403, a JSON-RPC error with the request's id naming elevate, no retry")
  func insufficientScope() throws {
    var d = Self.driver()
    _ = d.forward(T.head(body: Self.call), body: Self.call)
    let actions = d.on(.responseHead(T.response(.forbidden, Self.scopeChallenge)))
    #expect(actions.first == .abandonUpstream, "the upstream response is dropped with its stream")
    #expect(!actions.contains { if case .replaceToken = $0 { true } else { false } }, "no re-mint")
    #expect(!actions.contains { if case .connectUpstream = $0 { true } else { false } }, "no retry")
    #expect(!actions.contains(.count(.error)), "a step-up is not an error of the proxy's")
    let answer = try Self.answerJSON(actions)
    #expect(answer.status == .forbidden)
    #expect(answer.head.headers["www-authenticate"].isEmpty, "the challenge is not relayed (USE-06)")
    #expect(answer.head.headers["content-type"] == ["application/json"])
    let object = try #require(answer.json as? [String: Any])
    #expect(object["jsonrpc"] as? String == "2.0" && object["id"] as? Int == 7)
    let error = Self.error(object)
    #expect(error["code"] as? Int == StepUpReply.code && StepUpReply.code == -32003)
    let message = try #require(error["message"] as? String)
    #expect(message.contains("scope mcp-admin"), "\(message)")
    #expect(message.contains("run: mcp-tunnel elevate --tenant acme --scope mcp-admin --profile lab"), "\(message)")
    let data = try #require(error["data"] as? [String: Any])
    #expect(data["error"] as? String == "insufficient_scope" && data["http_status"] as? Int == 403)
    #expect(data["tenant"] as? String == "acme" && data["scope"] as? String == "mcp mcp-admin")
    #expect(data["acr_values"] is NSNull && data["max_age"] is NSNull)
    #expect(data["run"] as? String == "mcp-tunnel elevate --tenant acme --scope mcp-admin --profile lab")

    let record = try #require(d.records.first)
    #expect(record.stepUp == StepUpChallenge(kind: .insufficientScope, status: 403, scopes: ["mcp", "mcp-admin"]))
    #expect(record.status == 403 && record.answeredBy == .proxy && record.detail == "step_up_required")
    #expect(record.tenant == TenantID("acme") && record.generation == 1, "the tenant whose token was refused")
    #expect(!record.retried && record.completed && record.rpcMessages.first?.id == "7")
    #expect(
      d.machine.currentExchange == nil && d.log.filter { if case .sendRequest = $0 { true } else { false } }.count == 1)
    // The connection stays usable: the next request goes upstream as usual.
    _ = d.forward()
    d.respond()
    #expect(d.records.count == 2 && d.records[1].status == 200 && d.records[1].stepUp == nil)
  }

  @Test("401 insufficient_user_authentication with acr_values (RFC 9470 §3): 401, acr named, no re-mint")
  func insufficientUserAuthentication() throws {
    var d = Self.driver()
    _ = d.forward(T.head(body: Self.call), body: Self.call)
    let actions = d.on(.responseHead(T.response(.unauthorized, Self.acrChallenge)))
    #expect(!actions.contains(.count(.remint)), "a fresh token of the same login cannot satisfy it (SU-03)")
    let answer = try Self.answerJSON(actions)
    #expect(answer.status == .unauthorized)
    let error = Self.error(answer.json)
    let message = error["message"] as? String ?? ""
    #expect(message.contains("acr myACR") && message.contains("run: mcp-tunnel elevate --tenant acme --profile lab"))
    let data = error["data"] as? [String: Any] ?? [:]
    #expect(data["acr_values"] as? String == "myACR" && data["max_age"] is NSNull && data["scope"] is NSNull)
    #expect(d.records.first?.stepUp?.kind == .insufficientUserAuthentication)
  }

  @Test(
    "max_age as quoted string or token is taken; a bad one (negative, fraction, word, empty, overflow) is left out",
    arguments: [
      (#"max_age="300""#, 300), ("max_age=5", 5), (#"max_age="0""#, 0), (#"max_age="-1""#, nil),
      ("max_age=5.5", nil), (#"max_age="soon""#, nil), (#"max_age="""#, nil), (#"max_age=" 5""#, nil),
      ("max_age=99999999999999999999999", nil),
    ] as [(String, Int?)])
  func maxAge(parameter: String, expected: Int?) throws {
    var d = Self.driver()
    _ = d.forward(T.head(body: Self.call), body: Self.call)
    let header = #"Bearer error="insufficient_user_authentication", acr_values="phr", "# + parameter
    let actions = d.on(.responseHead(T.response(.unauthorized, ["WWW-Authenticate": header])))
    let data = Self.error(try Self.answerJSON(actions).json)["data"] as? [String: Any] ?? [:]
    #expect(data["max_age"] as? Int == expected)
    if expected == nil { #expect(data["max_age"] is NSNull) }
    #expect(d.records.first?.stepUp?.maxAge == expected && d.records.first?.stepUp?.acrValues == ["phr"])
    let message = Self.error(try Self.answerJSON(actions).json)["message"] as? String ?? ""
    #expect(message.contains("no older than") == (expected != nil), "\(message)")
  }

  @Test("401 invalid_token still re-mints once; a step-up challenge to the retry is answered, without a second try")
  func challengeAfterRemint() throws {
    var d = Self.driver()
    _ = d.forward(T.head(body: Self.call), body: Self.call)
    #expect(d.on(.responseHead(T.response(.unauthorized, T.invalidToken))).contains(.count(.remint)))
    d.on(.tokenReplaced(1, .success(T.token2)))
    d.on(.admissionChecked(1, T.token2, admitted: true))
    let replay = try #require(T.sentRequest(d.on(.upstreamReady(2))))
    #expect(replay.head.headers["authorization"] == ["Bearer acme-token-2"])
    let actions = d.on(.responseHead(T.response(.forbidden, Self.scopeChallenge)))
    #expect(!actions.contains(.count(.remint)) && !actions.contains(.connectUpstream(3)))
    #expect(try Self.answerJSON(actions).status == .forbidden)
    let record = try #require(d.records.first)
    #expect(record.retried && record.stepUp?.kind == .insufficientScope && record.status == 403)
    #expect(d.log.filter { $0 == .count(.remint) }.count == 1)
  }

  @Test("a batch gets an array: one error per request, by id (number or string), none for its notification")
  func batch() throws {
    var d = Self.driver()
    let body =
      #"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_echo"}},"#
      + #"{"jsonrpc":"2.0","method":"notifications/progress"},"#
      + #"{"jsonrpc":"2.0","id":"b-2","method":"tools/call","params":{"name":"admin_echo"}}]"#
    _ = d.forward(T.head(body: body), body: body)
    let answer = try Self.answerJSON(d.on(.responseHead(T.response(.forbidden, Self.scopeChallenge))))
    let responses = try #require(answer.json as? [[String: Any]])
    #expect(responses.count == 2)
    #expect(responses[0]["id"] as? Int == 1 && responses[1]["id"] as? String == "b-2")
    #expect(responses.allSatisfy { Self.error($0)["code"] as? Int == -32003 })
    #expect(d.records.first?.rpcMessages.count == 3)
  }

  @Test("a notification, a GET, a body that is not JSON-RPC: one error with id null")
  func noRequestID() throws {
    for (head, body) in [
      (
        T.head(body: #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
        #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
      ),
      (T.head(.GET, body: nil), nil),
      (T.head(body: "hello"), "hello"),
    ] as [(HTTPRequestHead, String?)] {
      var d = Self.driver()
      _ = d.forward(head, body: body)
      let answer = try Self.answerJSON(d.on(.responseHead(T.response(.forbidden, Self.scopeChallenge))))
      let object = try #require(answer.json as? [String: Any])
      #expect(object["id"] is NSNull && Self.error(object)["code"] as? Int == -32003, "\(head.method) \(body ?? "")")
    }
  }

  @Test("a challenge before the request body ended: the rest is read and dropped, then the answer echoes the id")
  func challengeBeforeBodyEnded() throws {
    var d = Self.driver()
    let first = String(Self.call.prefix(20))
    let rest = String(Self.call.dropFirst(20))
    _ = d.forward(T.head(body: Self.call), body: first, end: false)
    let early = d.on(.responseHead(T.response(.forbidden, Self.scopeChallenge)))
    #expect(early == [.abandonUpstream, .resumeClientRead], "nothing answered yet: \(early)")
    #expect(d.machine.clientReadGate == .open)
    #expect(d.on(.requestBody(ByteBuffer(string: rest))).isEmpty, "read, not forwarded")
    let end = d.on(.requestEnd)
    let answer = try Self.answerJSON(end)
    #expect(answer.status == .forbidden && (answer.json as? [String: Any])?["id"] as? Int == 7)
    #expect(d.records.first?.stepUp != nil && d.records.first?.requestBytes == 20)
  }

  @Test("the upstream's other answers are untouched: a 403 without a challenge, a Bearer error on another status")
  func notStepUp() throws {
    var d = Self.driver()
    _ = d.forward()
    let plain = d.on(.responseHead(T.response(.forbidden)))
    guard case .relayResponseHead(let relayed, _)? = plain.first else {
      Issue.record("\(plain)")
      return
    }
    #expect(relayed.status == .forbidden)
    d.on(.responseEnd)
    _ = d.forward()
    let other = d.on(.responseHead(T.response(.badRequest, Self.scopeChallenge)))
    #expect(other.contains { if case .relayResponseHead = $0 { true } else { false } })
    #expect(d.records.allSatisfy { $0.stepUp == nil })
  }
}

/// `StepUpChallenge.parse` on the `WWW-Authenticate` corpus (STANDARDS §4.4, WWWA-01..03).
@Suite("Step-up challenge parsing")
struct StepUpChallengeParsingTests {
  @Test("corpus #2 (MCP 403 insufficient_scope): scopes split, resource_metadata and the description ignored")
  func corpus2() {
    let challenge = StepUpChallenge.parse(
      status: 403,
      wwwAuthenticate: [
        #"Bearer error="insufficient_scope", scope="files:read files:write user:profile", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", error_description="Additional file write permission required""#
      ])
    #expect(
      challenge
        == StepUpChallenge(
          kind: .insufficientScope, status: 403, scopes: ["files:read", "files:write", "user:profile"]))
  }

  @Test("corpus #6 and #7 (RFC 9470 §3): acr_values, max_age")
  func corpus6and7() {
    #expect(
      StepUpChallenge.parse(
        status: 401,
        wwwAuthenticate: [
          #"Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="myACR""#
        ]) == StepUpChallenge(kind: .insufficientUserAuthentication, status: 401, acrValues: ["myACR"]))
    #expect(
      StepUpChallenge.parse(
        status: 401,
        wwwAuthenticate: [
          #"Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", max_age="5""#
        ]) == StepUpChallenge(kind: .insufficientUserAuthentication, status: 401, maxAge: 5))
  }

  @Test("not a step-up: invalid_token (corpus #5, #11), no error (corpus #4), another scheme's error, 200/400")
  func notStepUp() {
    for (status, header) in [
      (401, #"Bearer realm="example", error="invalid_token", error_description="The access token expired""#),
      (401, "bearer ERROR=invalid_token"),
      (401, #"Bearer realm="example""#),
      (403, #"DPoP error="insufficient_scope", scope="a""#),
      (400, #"Bearer error="insufficient_scope", scope="a""#),
      (200, #"Bearer error="insufficient_scope", scope="a""#),
    ] {
      #expect(StepUpChallenge.parse(status: status, wwwAuthenticate: [header]) == nil, "\(status) \(header)")
    }
  }

  @Test("the first Bearer challenge with an error decides; case-insensitive names; several fields (corpus #13)")
  func severalChallenges() {
    #expect(
      StepUpChallenge.parse(
        status: 403, wwwAuthenticate: [#"Basic realm="x""#, #"BEARER Error=insufficient_scope, Scope="mcp-admin""#])
        == StepUpChallenge(kind: .insufficientScope, status: 403, scopes: ["mcp-admin"]))
    #expect(
      StepUpChallenge.parse(
        status: 401,
        wwwAuthenticate: [#"Bearer error="invalid_token", Bearer error="insufficient_user_authentication""#]) == nil)
    // The status is the server's: an insufficient_scope on 401 is a step-up too, answered with 401.
    #expect(
      StepUpChallenge.parse(status: 401, wwwAuthenticate: [#"Bearer error="insufficient_scope", scope="a""#])?.status
        == 401)
  }

  @Test("hostile values: tokens with control or non-ASCII characters are dropped, at most 32 kept (WWWA-04)")
  func hostileValues() {
    let challenge = StepUpChallenge.parse(
      status: 403,
      wwwAuthenticate: [
        "Bearer error=\"insufficient_scope\", scope=\"ok \u{1B}[31mred caf\u{E9} a;b\", acr_values=\"phr\u{7F} phrh\""
      ])
    #expect(challenge?.scopes == ["ok", "a;b"], "\(String(describing: challenge))")
    #expect(challenge?.acrValues == ["phrh"])
    let many = (1...40).map { "s\($0)" }.joined(separator: " ")
    let capped = StepUpChallenge.parse(
      status: 403, wwwAuthenticate: [#"Bearer error="insufficient_scope", scope="\#(many)""#])
    #expect(capped?.scopes.count == 32)
  }
}

/// The words of the answer, the event and the audit record (`StepUpAdvice`).
@Suite("Step-up advice")
struct StepUpAdviceTests {
  let acme = TenantID("acme")!

  @Test("the command names only the scopes the profile's login lacks, one --scope each, and the profile")
  func command() {
    let challenge = StepUpChallenge(kind: .insufficientScope, status: 403, scopes: ["mcp", "mcp-admin", "audit:read"])
    let advice = StepUpAdvice(challenge: challenge, tenant: acme, baselineScopes: ["openid", "mcp"], profile: "prod")
    #expect(advice.missingScopes == ["mcp-admin", "audit:read"])
    #expect(advice.command == "mcp-tunnel elevate --tenant acme --scope mcp-admin --scope audit:read --profile prod")
    #expect(advice.requirement == "scopes mcp-admin audit:read")
    #expect(advice.auditDetail == #"insufficient_scope; scope="mcp mcp-admin audit:read""#)
    let nothingNew = StepUpAdvice(
      challenge: StepUpChallenge(kind: .insufficientScope, status: 403, scopes: ["mcp"]), tenant: acme,
      baselineScopes: ["mcp"])
    #expect(nothingNew.command == "mcp-tunnel elevate --tenant acme" && nothingNew.requirement == "scope mcp")
  }

  @Test("a scope a shell would read specially is single-quoted in the command")
  func shellQuoting() {
    let advice = StepUpAdvice(
      challenge: StepUpChallenge(kind: .insufficientScope, status: 403, scopes: ["a;rm", "it's", "$HOME"]),
      tenant: acme)
    #expect(advice.command == #"mcp-tunnel elevate --tenant acme --scope 'a;rm' --scope 'it'\''s' --scope '$HOME'"#)
  }

  @Test("RFC 9470: acr and max_age in words; the audit detail keeps the parameters")
  func userAuthentication() {
    let challenge = StepUpChallenge(
      kind: .insufficientUserAuthentication, status: 401, acrValues: ["phrh", "phr"], maxAge: 300)
    let advice = StepUpAdvice(challenge: challenge, tenant: acme)
    #expect(advice.requirement == "a login with one of the acr values phrh phr and no older than 300 s")
    #expect(advice.message.hasPrefix("step-up required: the MCP server refused this call for tenant acme (HTTP 401"))
    #expect(advice.message.hasSuffix("run: mcp-tunnel elevate --tenant acme"))
    #expect(advice.auditDetail == #"insufficient_user_authentication; acr_values="phrh phr"; max_age=300"#)
    let bare = StepUpAdvice(
      challenge: StepUpChallenge(kind: .insufficientUserAuthentication, status: 401), tenant: acme)
    #expect(bare.requirement == "a fresh, stronger login")
  }
}
