import Foundation
import TokenProxy
import TunnelCore

/// One line of `mcp-tunnel doctor`: what was checked, how it went, and the fix when it failed.
struct DoctorCheck: Sendable, Equatable {
  enum Outcome: String, Sendable {
    case pass
    case fail
    /// Not run, because a check it depends on failed or the profile does not use that layer.
    case skip
  }

  /// Stable identifier for `--json` (`session_bus`, `known_hosts`, …); several `known_hosts`
  /// lines differ by `hop`.
  var id: String
  /// What the human line starts with ("known_hosts hop 1/2 alice@bastion:22").
  var name: String
  var outcome: Outcome
  var detail: String
  var fix: String?
  /// The SPEC §8 category of a failure; the first failed check picks the exit code.
  var category: FailureCategory?
  var hop: Int?

  static func pass(_ id: String, _ name: String, _ detail: String, hop: Int? = nil) -> DoctorCheck {
    DoctorCheck(id: id, name: name, outcome: .pass, detail: detail, hop: hop)
  }

  static func skip(_ id: String, _ name: String, _ why: String, hop: Int? = nil) -> DoctorCheck {
    DoctorCheck(id: id, name: name, outcome: .skip, detail: why, hop: hop)
  }

  static func fail(_ id: String, _ name: String, _ error: any Error, hop: Int? = nil) -> DoctorCheck {
    let user = error as? any UserFacingError
    return DoctorCheck(
      id: id, name: name, outcome: .fail, detail: user?.summary ?? "\(error)",
      fix: user?.fix ?? "run with -v and report this as a bug", category: user?.category ?? .internalError, hop: hop)
  }
}

/// Runs the checks of `mcp-tunnel doctor` in layer order — configuration, session bus, Secret
/// Service, login, identity provider, SSH credentials, local port, each hop's host key, the target
/// through the hops — and hands each result to `report` as soon as it is known. A check whose layer
/// below failed is skipped with the reason. Every side effect goes through `AppEnvironment`.
///
/// The session bus, Secret Service, login and SSH credential checks block their thread (a Unix
/// socket connect, D-Bus round trips, the ssh-agent's socket), so they run off the cooperative
/// pool through `runOffPool`.
struct DoctorRunner {
  var environment: AppEnvironment
  var global: GlobalOptions
  /// `--listen`, overriding `listen.address`.
  var listen: HostPort?
  var report: (DoctorCheck) -> Void

  private(set) var checks: [DoctorCheck] = []
  /// The profile checked, once the configuration loaded.
  private(set) var profileName: String?

  mutating func run() async {
    let profile = checkConfiguration()
    let bus = record(await checkSessionBus())
    let keyringUp = record(await checkSecretService(busUp: bus.outcome == .pass)).outcome == .pass
    guard let profile else {
      for (id, name) in [
        ("login", "login"), ("idp_discovery", "identity provider"), ("ssh_config", "ssh path"),
        ("ssh_credentials", "ssh credentials"),
        ("listen_port", "local port"), ("listen_peers", "listener peers"), ("target", "target"),
      ] {
        record(.skip(id, name, "needs a valid configuration"))
      }
      return
    }
    let context = profile.idp == nil ? nil : try? LoginContext(profile: profile, environment: environment)
    record(await checkLogin(context, profile: profile, keyringUp: keyringUp))
    record(await checkDiscovery(context, profile: profile))
    let route = await checkRoute(profile)
    guard let route else {
      record(.skip("ssh_credentials", "ssh credentials", "needs the SSH path resolved"))
      record(await checkListenPort(profile))
      record(await checkListenPeers(profile))
      record(.skip("target", "target", "needs the SSH path resolved"))
      return
    }
    record(await checkCredentials(route))
    record(await checkListenPort(profile))
    record(await checkListenPeers(profile))
    for check in await checkPath(profile, route: route) { record(check) }
  }

  @discardableResult
  private mutating func record(_ check: DoctorCheck) -> DoctorCheck {
    checks.append(check)
    report(check)
    return check
  }

  private mutating func checkConfiguration() -> Profile? {
    do {
      let (path, configuration) = try environment.loader.loadConfiguration(configFlag: global.config)
      let profile = try environment.loader.selectProfile(configuration, flag: global.profile, path: path)
      _ = try ListenSettings.validateLoopback(listen ?? profile.listen.address, source: "listen.address")
      profileName = profile.name
      record(.pass("config", "config", "\(path) is valid; profile \(profile.name)"))
      return profile
    } catch {
      record(.fail("config", "config", error))
      return nil
    }
  }

  private func checkSessionBus() async -> DoctorCheck {
    let check = environment.checkSessionBus
    let variables = environment.environment
    do {
      return .pass("session_bus", "session bus", try await runOffPool { try check(variables) })
    } catch {
      return .fail("session_bus", "session bus", error)
    }
  }

  private func checkSecretService(busUp: Bool) async -> DoctorCheck {
    let name = "secret service"
    guard busUp else { return .skip("secret_service", name, "needs the D-Bus session bus") }
    let store = environment.makeSecretStore()
    do {
      try await runOffPool { try store.checkAvailable() }
      return .pass("secret_service", name, "\(store.backendName) is running and its default keyring is unlocked")
    } catch {
      return .fail("secret_service", name, error)
    }
  }

  private func checkLogin(_ context: LoginContext?, profile: Profile, keyringUp: Bool) async -> DoctorCheck {
    guard let context else { return .skip("login", "login", "profile \(profile.name) has no [idp] section") }
    guard keyringUp else { return .skip("login", "login", "needs the Secret Service") }
    do {
      let store = context.store
      guard let login = try await runOffPool({ [key = context.key] in try store.load(key) }) else {
        return .fail(
          "login", "login",
          CoreError(
            .loginRequired, "not logged in to \(context.key.issuer)",
            fix: "run: mcp-tunnel login --profile \(profile.name)"))
      }
      return .pass("login", "login", "logged in as \(login.subject); refresh token in \(store.backendName)")
    } catch {
      return .fail("login", "login", error)
    }
  }

  private func checkDiscovery(_ context: LoginContext?, profile: Profile) async -> DoctorCheck {
    let name = "identity provider"
    guard let context else {
      return .skip("idp_discovery", name, "profile \(profile.name) has no [idp] section")
    }
    do {
      try await context.provider.checkDiscovery()
      return .pass("idp_discovery", name, "discovery at \(context.idp.issuer.absoluteString) answers")
    } catch {
      return .fail("idp_discovery", name, error)
    }
  }

  /// The hops after `ssh.ssh_config` (`ssh -G`), each with where it came from; what the ssh config
  /// sets but mcp-tunnel does not apply is named. Fails (2) on ProxyCommand or a config ssh refuses.
  private mutating func checkRoute(_ profile: Profile) async -> SSHRoute? {
    do {
      let route = try await environment.sshRoute(for: profile.ssh)
      let names = UpEventReporter.hopLabels(route)
      let hops = route.hops.indices.map { "\(names[$0]) (\(route.hops[$0].origin ?? "ssh"))" }
      let source =
        route.sshConfig.map { "resolved with \($0)" }
        ?? (profile.ssh.sshConfig == nil ? "ssh_config = \"none\"" : "no \(profile.ssh.sshConfig ?? "") file")
      let warnings = route.warnings.map { "; warning: \($0)" }.joined()
      record(.pass("ssh_config", "ssh path", "\(source): " + hops.joined(separator: " → ") + warnings))
      return route
    } catch {
      record(.fail("ssh_config", "ssh path", error))
      return nil
    }
  }

  private func checkCredentials(_ route: SSHRoute) async -> DoctorCheck {
    let check = environment.checkSSHCredentials
    let (ssh, variables) = (route, environment.environment)
    do {
      return .pass("ssh_credentials", "ssh credentials", try await runOffPool { try check(ssh, variables) })
    } catch {
      return .fail("ssh_credentials", "ssh credentials", error)
    }
  }

  /// Free, or held by this profile's own `up` (healthy); otherwise names the holder.
  private func checkListenPort(_ profile: Profile) async -> DoctorCheck {
    let address = listen ?? profile.listen.address
    let name = "local port \(address)"
    do {
      let listener = try LoopbackListener.bind(address)
      listener.close()
      return .pass("listen_port", name, "free")
    } catch {
      if let tunnel = try? await Status.tunnel(profile: profile.name, environment: environment).get(),
        tunnel.listen == address.description
      {
        return .pass("listen_port", name, "held by this profile's mcp-tunnel up (pid \(tunnel.pid))")
      }
      return .fail("listen_port", name, error)
    }
  }

  /// `listen.peers = same-user` needs to learn who owns each client's socket: a connection to a
  /// loopback listener of doctor's own must come out as this user's, or `up` would refuse every
  /// client (fail closed).
  private func checkListenPeers(_ profile: Profile) async -> DoctorCheck {
    let name = "listener peers"
    guard profile.listen.peers == .sameUser else {
      return .pass(
        "listen_peers", name, "listen.peers = \(profile.listen.peers.rawValue): every local user may connect")
    }
    let lookup = environment.makePeerLookup()
    let uid = geteuid()
    do {
      let owner = try await runOffPool { try PeerLookupSelfTest.run(lookup) }
      switch owner {
      case .uid(let found) where found == uid:
        return .pass(
          "listen_peers", name, "same-user: the owner of a local client's socket can be looked up (uid \(uid))")
      case .uid(let found):
        throw CoreError(
          .internalError, "a connection made by uid \(uid) was reported as uid \(found)'s, so up would refuse it",
          fix: "report this; meanwhile listen.peers = \"any-local-user\" serves every local user")
      case .closed, .notFound:
        throw CoreError(
          .usage,
          "the owner of a local client's socket cannot be seen here (another network namespace or a filtered sock_diag), so up would refuse every connection",
          fix: "run up in the same network namespace as its clients, "
            + "or set listen.peers = \"any-local-user\" to serve every local user")
      }
    } catch {
      return .fail("listen_peers", name, error)
    }
  }

  /// Builds the SSH path once: each hop's host key, then a channel to the target. A failure is
  /// placed on the hop and stage `SSHError.failedHop` names; hops after it are not reached.
  private func checkPath(_ profile: Profile, route: SSHRoute) async -> [DoctorCheck] {
    let labels = UpEventReporter.hopLabels(route)
    func knownHostsOf(_ i: Int) -> String { route.hops[i].knownHostsFiles.joined(separator: ", ") }
    func hopName(_ i: Int) -> String { "known_hosts hop \(i + 1)/\(labels.count) \(labels[i])" }
    let targetName = "target \(profile.ssh.target) through \(labels.count) hop\(labels.count == 1 ? "" : "s")"
    var results: [DoctorCheck] = []
    let forwarder: any PortForwarder
    do {
      forwarder = try environment.makePortForwarder(route, environment.environment)
    } catch {
      return [.fail("target", targetName, error)]
    }
    do {
      try await forwarder.start()
    } catch {
      await forwarder.stop()
      let failed = (error as? any HopAttributedError)?.failedHop
      for i in labels.indices {
        let hop = i + 1
        switch failed {
        case .some(let f) where hop < f.index, .some(let f) where hop == f.index && f.stage == .authentication:
          results.append(.pass("known_hosts", hopName(i), "host key matches \(knownHostsOf(i))", hop: hop))
        case .some(let f) where hop == f.index && f.stage == .hostKey:
          results.append(.fail("known_hosts", hopName(i), error, hop: hop))
        case .some(let f) where hop == f.index:
          results.append(.skip("known_hosts", hopName(i), "not checked: the hop could not be reached", hop: hop))
        case .some(let f):
          results.append(.skip("known_hosts", hopName(i), "not reached: hop \(f.index) failed", hop: hop))
        case .none:
          results.append(.skip("known_hosts", hopName(i), "not reached", hop: hop))
        }
      }
      if failed?.stage == .hostKey {
        results.append(.skip("target", targetName, "needs every hop's host key"))
      } else {
        results.append(.fail("target", targetName, error))
      }
      return results
    }
    for i in labels.indices {
      results.append(.pass("known_hosts", hopName(i), "host key matches \(knownHostsOf(i))", hop: i + 1))
    }
    do {
      let stream = try await forwarder.openStream()
      stream.close()
      results.append(.pass("target", targetName, "a channel to it opened"))
    } catch {
      results.append(.fail("target", targetName, error))
    }
    await forwarder.stop()
    return results
  }
}
