import Dispatch
import Foundation
import SSHForwarding
import Synchronization
import TokenProxy
import TunnelCore

/// `up --mode tcp`: bind the loopback listener, bring the SSH path up, hand every accepted
/// connection to the forwarder, report events, stop on SIGINT/SIGTERM.
///
/// Order matters for the exit codes: the port is bound first (exit 8 before any SSH traffic), then
/// the SSH path is connected (exit 6/7), and only then is `ready` printed and are connections
/// accepted (clients that connect in between wait in the listen backlog).
struct TCPForwardSession {
  var profile: Profile
  var listen: HostPort
  var environment: AppEnvironment
  var json: Bool
  var verbose: Bool

  func run() async throws {
    let output = environment.output
    let listener = try LoopbackListener.bind(listen)
    defer { listener.close() }
    let forwarder = try environment.makePortForwarder(profile.ssh, environment.environment)
    let hops = UpEventReporter.hopLabels(profile.ssh)
    let events = UpEventReporter(output: output, json: json)

    // Signals and fatal events end the session; the default signal action (die) is disabled first.
    let endingSink = EndingSignal()
    let signalSources = endingSink.handleTerminationSignals()
    defer { for source in signalSources { source.cancel() } }

    let startOutcome = await endingSink.start(forwarder)
    switch startOutcome {
    case .interrupted(let name):
      await forwarder.stop()
      events.report(["event": "stopped", "reason": name], text: "stopped (\(name))")
      return
    case .failed(let error):
      await forwarder.stop()
      throw error
    case .started:
      break
    }

    let eventTask = Task {
      for await event in forwarder.events {
        switch event {
        case .reconnecting(let attempt, let delay, let reason):
          events.reconnecting(attempt: attempt, delay: delay, reason: reason)
        case .reconnected(let hops, let attempts):
          events.reconnected(hops: hops, attempts: attempts)
        case .channelFailed(let reason):
          if verbose { output.writeDiagnostic("channel failed: \(reason)\n") }
        case .failed(let category, let message):
          endingSink.yield(.failed(category, message))
        case .connected, .stopped:
          break
        }
      }
    }

    let acceptThread = Thread {
      // off-pool: runs on the accept thread
      while let client = listener.accept() { forwarder.forward(client) }
    }
    acceptThread.name = "mcp-tunnel-accept"
    acceptThread.start()

    let target = profile.ssh.target
    events.report(
      [
        "event": "ready", "listen": listener.address.description, "mode": "tcp", "tenant": NSNull(), "hops": hops,
        "target": target.description, "token_expires_at": NSNull(),
      ],
      text: "ready: tcp://\(listener.address) → \(target) via \(hops.joined(separator: " → ")) (Ctrl-C to stop)",
      diagnostic: false)

    let ending = await endingSink.wait()
    listener.close()
    await forwarder.stop()
    eventTask.cancel()
    switch ending {
    case .signal(let name):
      events.report(["event": "stopped", "reason": name], text: "stopped (\(name))", diagnostic: true)
    case .failed(let category, let message):
      events.report(["event": "stopped", "reason": "failed"], text: "stopped: the SSH path failed", diagnostic: true)
      throw TunnelFailure(category: category, summary: message)
    }
  }
}

/// A failure reported by the running tunnel (after `ready`), carrying the adapter's category.
struct TunnelFailure: UserFacingError {
  var category: FailureCategory
  var summary: String
  var fix: String? { nil }
}
