import Foundation
import TunnelCore

// What `config` and `audit path` print.

/// `config path` and `audit path`: a file's path, whether it exists, and (audit) whose log it is.
/// The text is the path alone.
struct FilePathResult: JSONOutputLine, TextRenderable, Equatable {
  var path: String
  /// Only for `audit path`.
  var profile: String?
  var exists: Bool

  var text: String { path }
}

/// `config init` wrote the template.
struct ConfigWrittenEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "config_written"
  var path: String

  var text: String { "wrote \(path)" }
}

/// `config show --json`: the effective profile, every default filled in; a section the profile does
/// not have is `null`, and so is an unset optional value. The text rendering is TOML
/// (`ProfileRendering.toml`), from the profile itself.
struct ProfileDocument: JSONOutputLine, Equatable {
  struct IdentityProvider: Encodable, Equatable {
    var issuer: String
    var clientId: String
    var scopes: [String]
    @NullWhenAbsent var redirectUri: String?
    var pkceMetadataOverride: Bool
  }

  struct Session: Encodable, Equatable {
    var method: String
    @NullWhenAbsent var endpoint: String?
    var resource: String
    @NullWhenAbsent var audience: String?
    @NullWhenAbsent var scope: String?
    var maxTtlSeconds: Int64
    var tenants: [String]
    @NullWhenAbsent var defaultTenant: String?
  }

  struct SSH: Encodable, Equatable {
    var jump: [String]
    @NullWhenAbsent var host: String?
    var target: String
    var knownHosts: String
    @NullWhenAbsent var identity: String?
    /// `ssh.certificate` as written (the `<identity>-cert.pub` default is not shown).
    @NullWhenAbsent var certificate: String?
    var keepaliveSeconds: Int64
    var hostKeyPolicy: String
    /// `ssh.ssh_config` as written, "none" when off.
    var sshConfig: String
  }

  struct Listen: Encodable, Equatable {
    var address: String
    var mode: String
    var peers: String
  }

  var profile: String
  var configFile: String
  @NullWhenAbsent var idp: IdentityProvider?
  @NullWhenAbsent var session: Session?
  var ssh: SSH
  var listen: Listen
  /// `session.max_duration` / `session.idle_timeout` in seconds (0 = never); in both modes.
  var limits: Limits

  struct Limits: Encodable, Equatable {
    var maxDurationSeconds: Int64
    var idleTimeoutSeconds: Int64
    var elevateMaxSeconds: Int64
  }
}

extension ProfileDocument {
  init(_ p: Profile, file: String) {
    self.init(
      profile: p.name, configFile: file,
      idp: p.idp.map {
        IdentityProvider(
          issuer: $0.issuer.absoluteString, clientId: $0.clientID, scopes: $0.scopes,
          redirectUri: $0.redirectURI?.absoluteString, pkceMetadataOverride: $0.pkceMetadataOverride)
      },
      session: p.session.map {
        Session(
          method: $0.method.rawValue, endpoint: $0.endpoint?.absoluteString, resource: $0.resource.template,
          audience: $0.audience?.template, scope: $0.scope?.template, maxTtlSeconds: $0.maxTTL.components.seconds,
          tenants: $0.tenants.map(\.rawValue), defaultTenant: $0.defaultTenant?.rawValue)
      },
      ssh: SSH(
        jump: p.ssh.jump.indices.map { p.ssh.hopText($0) },
        host: p.ssh.host.map { _ in p.ssh.hopText(p.ssh.jump.count) },
        target: p.ssh.target.description,
        knownHosts: p.ssh.knownHosts, identity: p.ssh.identity, certificate: p.ssh.certificate,
        keepaliveSeconds: p.ssh.keepalive.components.seconds, hostKeyPolicy: p.ssh.hostKeyPolicy.rawValue,
        sshConfig: p.ssh.sshConfig ?? "none"),
      listen: Listen(
        address: p.listen.address.description, mode: p.listen.mode.rawValue, peers: p.listen.peers.rawValue),
      limits: Limits(
        maxDurationSeconds: p.limits.maxDuration.components.seconds,
        idleTimeoutSeconds: p.limits.idleTimeout.components.seconds,
        elevateMaxSeconds: p.limits.elevateMax.components.seconds))
  }
}
