import ArgumentParser
import Foundation
import Synchronization
import TunnelCore

/// `mcp-tunnel login`: OIDC discovery, then the device grant or auth code + PKCE, then the refresh
/// token into the keyring.
struct Login: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "login",
    abstract: "Sign in at the identity provider and keep the refresh token in the keyring.",
    discussion: """
      Discovers the identity provider from idp.issuer (RFC 8414, then OpenID discovery), then signs \
      you in with the browser (authorization code + PKCE S256, redirect to 127.0.0.1) or with a \
      device code you approve on any other device (RFC 8628). --flow auto picks the device flow \
      when there is no display or SSH_CONNECTION is set, and says why. The URL and the code are \
      always printed on stderr.

      Only the refresh token is kept, in the Secret Service keyring (gnome-keyring, KeePassXC, \
      KWallet). If no keyring is available the command fails before any prompt (exit 4); \
      --no-store keeps the token in this process only. Nothing is ever written to a file.

      With --json, stdout carries events: device_authorization or browser_authorization, then \
      logged_in.

      Example:
        $ mcp-tunnel login
        $ mcp-tunnel login --flow device --profile prod
        $ mcp-tunnel login --json | jq -r 'select(.event=="device_authorization") | .user_code'
      """
  )

  enum Flow: String, ExpressibleByArgument, CaseIterable {
    case auto, browser, device
  }

  @OptionGroup var global: GlobalOptions

  @Option(name: .long, help: "How to sign in: auto, browser (PKCE) or device (code on another device).")
  var flow: Flow = .auto

  @Flag(name: .long, help: "Print the browser URL instead of opening a browser.")
  var noBrowser = false

  @Flag(name: .long, help: "Do not store the refresh token; it lives only as long as this process.")
  var noStore = false

  func run() async throws {
    let env = AppEnvironment.current
    let context = try LoginContext.load(global, environment: env)
    let output = env.output
    let json = global.json
    let store = context.store
    // SPEC §6: fail on a missing or locked keyring before anyone authenticates. The keyring calls
    // are D-Bus round trips (libsecret's sync API): they run off the cooperative pool.
    if !noStore { try await runOffPool { try store.checkAvailable() } }
    let (chosen, reason) = Self.choose(flow, environment: env.environment)
    if let reason { output.writeDiagnostic("Using the \(chosen.rawValue) flow: \(reason).\n") }
    try await context.provider.checkDiscovery()

    let tokens: IdentityTokens
    switch chosen {
    case .device:
      let countdown = DeviceCountdown(output: output, enabled: !json && output.diagnosticIsTerminal)
      defer { countdown.stop() }
      tokens = try await context.provider.loginWithDevice { prompt in
        Self.show(prompt, output: output, json: json)
        countdown.start(expiresIn: prompt.expiresIn)
      }
    default:
      let openBrowser = !noBrowser
      let opener = env.openBrowser
      tokens = try await context.provider.loginWithBrowser { url in
        let prompt = BrowserAuthorizationEvent(url: url.absoluteString)
        if json { output.writeResult(prompt.jsonLine + "\n") }
        output.writeDiagnostic(prompt.text)
        if openBrowser {
          if opener(url) {
            output.writeDiagnostic("(opened it with xdg-open; waiting for the sign-in to finish)\n")
          } else {
            output.writeDiagnostic("(could not start xdg-open; open the URL yourself, or use --flow device)\n")
          }
        }
      }
    }
    guard let refreshToken = tokens.refreshToken else {
      throw CoreError(.identityProvider, "the identity provider issued no refresh token")
    }
    let subject = tokens.subject ?? "unknown"
    if noStore {
      output.writeDiagnostic("Not storing the refresh token (--no-store): this login ends with this process.\n")
    } else {
      let login = StoredLogin(subject: subject, refreshToken: refreshToken)
      try await runOffPool { [key = context.key] in try store.store(login, for: key) }
    }
    let backend = noStore ? "none" : store.backendName
    await env.audit(
      AuditEvent(
        event: .login, profile: context.profile.name, actor: subject, outcome: .ok,
        detail: "flow=\(chosen.rawValue) keyring=\(backend)"))
    let done = LoggedInEvent(issuer: context.key.issuer, subject: subject, keyring: backend)
    output.writeResult((json ? done.jsonLine : done.text) + "\n")
  }

  /// `--flow auto`: the device flow when no browser can be shown here (AZ-14).
  static func choose(_ flow: Flow, environment: [String: String]) -> (Flow, String?) {
    guard flow == .auto else { return (flow, nil) }
    if let ssh = environment["SSH_CONNECTION"], !ssh.isEmpty {
      return (.device, "SSH_CONNECTION is set, so a browser here would open on the remote machine")
    }
    let display = environment["DISPLAY"].map { !$0.isEmpty } ?? false
    let wayland = environment["WAYLAND_DISPLAY"].map { !$0.isEmpty } ?? false
    if !display && !wayland { return (.device, "neither DISPLAY nor WAYLAND_DISPLAY is set (no graphical session)") }
    return (.browser, nil)
  }

  /// DEV-04: the user code is always shown, with the plain URL, even when the complete URL exists.
  static func show(_ prompt: DeviceAuthorizationPrompt, output: any OutputSink, json: Bool) {
    let event = DeviceAuthorizationEvent(
      verificationUri: prompt.verificationURI.absoluteString,
      verificationUriComplete: prompt.verificationURIComplete?.absoluteString, userCode: prompt.userCode,
      expiresIn: Int(prompt.expiresIn.components.seconds), hostName: ProcessInfo.processInfo.hostName)
    if json { output.writeResult(event.jsonLine + "\n") }
    output.writeDiagnostic(event.text)
  }
}

/// A one-line "waiting … M:SS left" on a terminal's stderr while the device code is pending,
/// redrawn every second with a carriage return. Off for --json and when stderr is not a terminal.
final class DeviceCountdown: Sendable {
  private let output: any OutputSink
  private let enabled: Bool
  private let task = Mutex<Task<Void, Never>?>(nil)

  init(output: any OutputSink, enabled: Bool) {
    self.output = output
    self.enabled = enabled
  }

  func start(expiresIn: Duration) {
    guard enabled else { return }
    let output = output
    let deadline = ContinuousClock.now + expiresIn
    task.withLock {
      $0 = Task {
        while !Task.isCancelled {
          let left = max(0, (deadline - ContinuousClock.now).components.seconds)
          output.writeDiagnostic(String(format: "\r  waiting for approval… %d:%02d left ", left / 60, left % 60))
          try? await Task.sleep(for: .seconds(1))
        }
      }
    }
  }

  func stop() {
    guard let running = task.withLock({ $0 }) else { return }
    running.cancel()
    output.writeDiagnostic("\r\u{1B}[K")
  }
}
