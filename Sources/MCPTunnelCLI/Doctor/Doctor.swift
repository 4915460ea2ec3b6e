import ArgumentParser
import Foundation
import TunnelCore

/// `mcp-tunnel doctor`: checks every layer and prints one line per check, with the fix for each
/// failure (SPEC §2).
struct Doctor: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "doctor",
    abstract: "Check each layer — keyring, login, identity provider, SSH path, local port — and say how to fix it.",
    discussion: """
      Runs, in order: the configuration file and profile; the D-Bus session bus; the Secret \
      Service (running, default keyring unlocked); the login (a refresh token is stored; the \
      identity provider is not asked); identity provider discovery; the SSH path (each hop as \
      ssh.ssh_config resolves it with `ssh -G`, and the config line it came from); SSH credentials \
      (ssh-agent keys, identity files); whether the listen address is free (or held by this profile's own \
      `up`), naming the holder when it is not; whether listen.peers = same-user can see who owns \
      a local client's socket (a loopback connection to itself); then it builds the SSH path once: each hop's host \
      key against known_hosts, and a channel to ssh.target through the hops. A check whose layer \
      below failed is skipped and says why. Nothing is stored, refreshed or rotated.

      Each check prints one line on stdout: [ok], [FAIL] (with the fix) or [skip]. Exit 0 only \
      when no check failed; otherwise the exit code of the first failure (SPEC exit codes, e.g. 4 \
      for the keyring, 6 for a host key).

      With --json, stdout carries one object: {"ok":…,"profile":…,"checks":[{"check":…,"name":…,\
      "status":"pass|fail|skip","detail":…,"fix":…,"category":…,"hop":…}]}.

      Example:
        $ mcp-tunnel doctor
        $ mcp-tunnel doctor --json | jq -r '.checks[] | select(.status=="fail") | .fix'
      """
  )

  @OptionGroup var global: GlobalOptions

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Loopback address to check instead of listen.address (as `up --listen`).", valueName: "host:port"))
  var listen: String?

  func validate() throws {
    if let listen, HostPort(parsing: listen) == nil { throw ValidationError("--listen \(listen) is not host:port") }
  }

  func run() async throws {
    let env = AppEnvironment.current
    let json = global.json
    var runner = DoctorRunner(
      environment: env, global: global, listen: listen.flatMap { HostPort(parsing: $0) },
      report: { check in
        if !json { env.output.writeResult(check.line + "\n") }
      })
    await runner.run()
    let checks = runner.checks
    let failed = checks.filter { $0.outcome == .fail }
    let result = DoctorResult(
      ok: failed.isEmpty, profile: runner.profileName ?? global.profile, checks: checks.map(DoctorResult.Check.init))
    env.output.writeResult((json ? result.jsonLine : result.text) + "\n")
    if let first = failed.first {
      throw CoreError(
        first.category ?? .internalError,
        "\(failed.count) check\(failed.count == 1 ? "" : "s") failed, first: \(first.name)",
        fix: first.fix)
    }
  }
}
