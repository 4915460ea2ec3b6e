import Foundation
import MCPTunnelTestSupport
import Testing
import TokenProxy
import TunnelCore

@testable import MCPTunnelCLI

/// What `tenant`, `status` and `token` say when the control socket cannot be used: by the client
/// error's kind, so only "nothing listens" says that no `up` is running (a permission problem or a
/// path too long for a Unix socket used to be reported so too).
@Suite("control socket failures as the CLI reports them")
struct ControlChannelTests {
  /// A fresh `/tmp/cc-XXXXXX` directory, removed by `remove()`.
  struct Scratch {
    let root: String

    init() throws {
      var template = Array("/tmp/cc-XXXXXX".utf8CString)
      guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
        throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
      }
      root = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
  }

  /// Twins with these variables and nothing else: these tests reach only the control socket.
  static func environment(_ variables: [String: String]) -> AppEnvironment {
    AppEnvironment.twins(
      environment: variables, configurationStore: InMemoryConfigurationStore(), output: CapturingOutputSink())
  }

  @Test("nothing listens: no `up` is running for the profile, with the command that starts one")
  func noListener() {
    let error = ControlChannel.exchangeFailure(
      .noListener(path: "/run/x/dev.sock"), profile: "dev", path: "/run/x/dev.sock")
    let core = error as? CoreError
    #expect(core?.category == .usage)
    #expect(core?.summary == "no `mcp-tunnel up` is running for profile dev (no control socket at /run/x/dev.sock)")
    #expect(core?.fix == "start one with: mcp-tunnel up --profile dev")
  }

  @Test(
    "permission denied names the user who owns the socket, or its directory, and how to reach it",
    .enabled(if: geteuid() == 0, "needs root to chown to another user"))
  func permissionDeniedNamesTheOwner() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let socket = scratch.root + "/dev.sock"
    #expect(FileManager.default.createFile(atPath: socket, contents: nil))
    #expect(chown(socket, 65534, 65534) == 0)
    let error =
      ControlChannel.exchangeFailure(.permissionDenied(path: socket), profile: "dev", path: socket) as? CoreError
    let owner = ControlChannel.owner(of: socket)
    #expect(owner?.id == 65534)
    #expect(error?.category == .usage)
    #expect(error?.summary.contains("belongs to \(owner?.description ?? "?")") == true, "\(error?.summary ?? "")")
    #expect(error?.summary.contains("no `mcp-tunnel up` is running") == false)
    #expect(error?.fix?.hasPrefix("run the command as \(owner?.name ?? "uid 65534")") == true, "\(error?.fix ?? "")")

    // A directory that hides the socket: its owner is the one to ask.
    let hidden = scratch.root + "/run"
    #expect(mkdir(hidden, 0o700) == 0)
    #expect(chown(hidden, 65534, 65534) == 0)
    #expect(ControlChannel.owner(of: hidden + "/dev.sock")?.id == 65534)
  }

  @Test("permission denied on the caller's own socket points at its modes, not at another user")
  func permissionDeniedOnOwnSocket() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let socket = scratch.root + "/dev.sock"
    #expect(FileManager.default.createFile(atPath: socket, contents: nil))
    let error =
      ControlChannel.exchangeFailure(.permissionDenied(path: socket), profile: "dev", path: socket) as? CoreError
    #expect(error?.category == .usage)
    #expect(error?.summary == "permission denied on the control socket of profile dev (\(socket))")
    #expect(error?.fix?.contains("0600") == true)
  }

  @Test("a socket path too long for sun_path is reported with its path, its length and a shorter XDG_RUNTIME_DIR")
  func pathTooLong() async {
    let runtime = "/tmp/" + String(repeating: "r", count: 120)
    let environment = Self.environment(["HOME": "/tmp", "XDG_RUNTIME_DIR": runtime])
    let path = environment.paths.controlSocket(profile: "dev")
    let error = await #expect(throws: CoreError.self) {
      try await ControlChannel.send(ControlRequest(op: .status), profile: "dev", environment: environment)
    }
    #expect(error?.category == .usage)
    #expect(
      error?.summary
        == "the control socket path of profile dev, \(path), is \(path.utf8.count) bytes long; "
        + "a Unix socket path may have at most \(ControlSocketClient.maximumPathBytes)")
    #expect(error?.fix?.hasPrefix("set XDG_RUNTIME_DIR to a shorter directory") == true)
  }

  @Test("no socket file: send says no `up` is running for the profile")
  func sendWithoutSocket() async throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let environment = Self.environment(["HOME": scratch.root, "XDG_RUNTIME_DIR": scratch.root])
    let error = await #expect(throws: CoreError.self) {
      try await ControlChannel.send(ControlRequest(op: .status), profile: "dev", environment: environment)
    }
    #expect(error?.category == .usage)
    #expect(error?.summary.hasPrefix("no `mcp-tunnel up` is running for profile dev") == true)
  }

  @Test("other failures keep their own message and category (the exit code)")
  func othersPassThrough() {
    for failure in [
      ProxyError.noAnswer(path: "/p.sock", timeout: .seconds(10)), .closedWithoutAnswer(path: "/p.sock"),
      .answerTooLarge(path: "/p.sock", limit: 1 << 20), .interrupted(path: "/p.sock"),
      ProxyError(.internalError, "cannot talk to the tunnel process on its control socket /p.sock: EMFILE"),
    ] {
      let error = ControlChannel.exchangeFailure(failure, profile: "dev", path: "/p.sock")
      #expect(error as? ProxyError == failure, "\(failure.kind)")
    }
  }

  @Test("status: a stale socket of a crashed `up` is no tunnel; a socket that answers garbage is an error, not 'none'")
  func statusProbe() async throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let environment = Self.environment(["HOME": scratch.root, "XDG_RUNTIME_DIR": scratch.root])
    let path = environment.paths.controlSocket(profile: "dev")
    #expect(mkdir(scratch.root + "/mcp-tunnel", 0o700) == 0)

    // Bound, then abandoned: the file is a socket nobody listens on.
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    #expect(bound == 0)
    close(descriptor)
    let stale = await Status.tunnel(profile: "dev", environment: environment)
    #expect((try? stale.get()) == .some(nil))

    unlink(path)
    let server = try await ControlSocketServer.start(path: path) { _ in Array("not json".utf8) }
    let garbage = await Status.tunnel(profile: "dev", environment: environment)
    await server.stop()
    guard case .failure(let error) = garbage else {
      Issue.record("a socket that answers garbage was shown as \(garbage)")
      return
    }
    #expect((error as? CoreError)?.summary == "the running tunnel answered something that is not a control response")
  }
}
