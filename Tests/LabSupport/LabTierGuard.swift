import Foundation
import TestTiers
import Testing

/// Fails closed when a test starts a lab process without saying so: every child process of
/// `LabSupport` (a peer, a provisioning command, the built binary) is started through `check`.
///
/// - In the unit tier (`MCP_TUNNEL_TEST_TIER=unit`, set by `make test-unit`) nothing may start.
/// - In any run, a test must carry `.tags(.lab)` (on its suite) to start one, so that the unit tier,
///   which skips the tagged suites, can never reach a peer by accident.
///
/// Code that runs outside a test (the lab's own scripts, a child test process) is not checked.
public enum LabTierGuard {
  public static let tierVariable = "MCP_TUNNEL_TEST_TIER"

  static func check(starting executable: String) throws {
    let name = URL(fileURLWithPath: executable).lastPathComponent
    if ProcessInfo.processInfo.environment[tierVariable] == "unit" {
      throw LabError(
        "the unit tier starts no lab process, but a test tried to start \(name): tag its suite "
          + "`.tags(.lab), .offPool` (scripts/test-tiers.sh lists the lab suites)")
    }
    if let test = Test.current, !test.tags.contains(.lab) {
      throw LabError(
        "\(test.name) starts \(name) but its suite is not tagged `.tags(.lab)`: add `.tags(.lab), .offPool` "
          + "to the suite so `make test-unit` skips it and its blocking calls run off the cooperative pool")
    }
  }
}
