import Foundation
import MCPTunnelTestSupport
import Testing
import TunnelCore

/// SPEC §10 in the runtime: a proxy record carrying a step-up challenge gives `step_up_required`
/// audit records (instead of `call` ones) every time, and a `stepUpRequired` event once per distinct
/// challenge of a tenant until its next token.
extension TunnelRuntimeTests {
  func stepUpRecord(_ challenge: StepUpChallenge, tenant: TenantID, id: String = "1") -> ProxyRequestRecord {
    ProxyRequestRecord(
      method: "POST", path: "/mcp", status: challenge.status, duration: .milliseconds(4), bodyKind: .jsonRPC,
      rpcMessages: [.init(method: "tools/call", id: id, target: .tool("admin_echo"))], tenant: tenant, generation: 1,
      answeredBy: .proxy, completed: true, detail: "step_up_required", stepUp: challenge)
  }

  @Test("step-up: an event once per (tenant, challenge) until a new token; every refused call audited; no call record")
  func stepUpEventsAndAudit() async throws {
    let (tokens, _) = try tokens()
    let audit = InMemoryAuditSink()
    let front = frontEnd(.http)
    let runtime = runtime(frontEnd: front, tokens: tokens, audit: audit)
    let run = Task { try await runtime.run() }
    _ = try #require(await ready())
    let scope = StepUpChallenge(kind: .insufficientScope, status: 403, scopes: ["mcp", "mcp-admin"])
    let recent = StepUpChallenge(kind: .insufficientUserAuthentication, status: 401, acrValues: ["phr"], maxAge: 300)

    front.finish(stepUpRecord(scope, tenant: acme, id: "1"))
    front.finish(stepUpRecord(scope, tenant: acme, id: "2"))  // the same again: audited, not reported
    front.finish(stepUpRecord(recent, tenant: acme, id: "3"))  // another challenge: reported
    #expect(runtime.pendingStepUp(for: acme) == recent, "elevate reads the last one")
    #expect(runtime.pendingStepUp(for: globex) == nil)
    _ = try await runtime.use(globex)
    _ = try await runtime.use(acme)  // a new acme token: the same challenge is news again
    front.finish(stepUpRecord(scope, tenant: acme, id: "4"))
    front.finish(
      ProxyRequestRecord(
        method: "POST", path: "/mcp", status: 200, duration: .zero, bodyKind: .jsonRPC,
        rpcMessages: [.init(method: "tools/call", id: "5", target: .tool("echo"))], tenant: acme, answeredBy: .upstream,
        completed: true))
    runtime.end(.signal("SIGTERM"))
    try await run.value

    var reported: [StepUpAdvice] = []
    _ = await events.first { event -> Bool? in
      if case .stepUpRequired(let advice) = event { reported.append(advice) }
      if case .stopped = event { return true }
      return nil
    }
    #expect(reported.map(\.challenge) == [scope, recent, scope])
    #expect(reported.allSatisfy { $0.tenant == acme })
    #expect(reported.first?.command == "mcp-tunnel elevate --tenant acme --scope mcp --scope mcp-admin --profile lab")
    #expect(reported.first?.message.contains("it wants scopes mcp mcp-admin") == true)

    let stepUps = audit.events(of: .stepUpRequired)
    #expect(stepUps.map(\.rpcID) == ["1", "2", "3", "4"])
    #expect(stepUps.allSatisfy { $0.outcome == .denied && $0.tool == "admin_echo" && $0.tenant == "acme" })
    #expect(stepUps.map(\.status) == [403, 403, 401, 403])
    #expect(stepUps.first?.detail == #"insufficient_scope; scope="mcp mcp-admin""#)
    #expect(stepUps[2].detail == #"insufficient_user_authentication; acr_values="phr"; max_age=300"#)
    let calls = audit.events(of: .call)
    #expect(calls.map(\.rpcID) == ["5"], "a refused call has its step_up_required record instead of a call record")
    #expect(audit.events(of: .denied).isEmpty)
  }

  @Test("step-up audit mapping: a batch keeps one record per message; a body without messages says what it was")
  func stepUpAuditMapping() {
    let challenge = StepUpChallenge(kind: .insufficientScope, status: 403, scopes: ["mcp-admin"])
    var record = stepUpRecord(challenge, tenant: acme)
    record.rpcMessages.append(.init(method: "tools/call", id: "2", target: .tool("admin_echo")))
    let batch = TunnelRuntime.auditEvents(for: record, profile: "lab", actor: "dev1", session: "s1")
    #expect(batch.map(\.event) == [.stepUpRequired, .stepUpRequired])
    #expect(batch.allSatisfy { $0.detail == #"batch of 2; insufficient_scope; scope="mcp-admin""# })
    var get = stepUpRecord(challenge, tenant: acme)
    get.method = "GET"
    get.bodyKind = .empty
    get.rpcMessages = []
    let stream = TunnelRuntime.auditEvents(for: get, profile: "lab", actor: "dev1", session: "s1")
    #expect(stream.first?.detail == #"GET /mcp; insufficient_scope; scope="mcp-admin""#)
    #expect(stream.first?.event == .stepUpRequired && stream.first?.status == 403)
  }
}
