import Foundation
import TunnelCore

/// Everything a command may touch outside the process: built for real by `live()` — the only
/// place concrete adapters are constructed — and replaced by in-memory twins in tests.
public struct AppEnvironment: Sendable {
  public var environment: [String: String]
  public var configurationStore: any ConfigurationStore
  public var output: any OutputSink

  public init(environment: [String: String], configurationStore: any ConfigurationStore, output: any OutputSink) {
    self.environment = environment
    self.configurationStore = configurationStore
    self.output = output
  }

  public static func live() -> AppEnvironment {
    AppEnvironment(
      environment: ProcessInfo.processInfo.environment,
      configurationStore: LocalConfigurationStore(),
      output: StandardOutputSink())
  }

  /// The environment the running command sees. Commands read it through this task-local so tests
  /// can run a parsed command against twins with `AppEnvironment.$current.withValue(…)`.
  @TaskLocal public static var current: AppEnvironment = .live()

  public var loader: ConfigurationLoader { ConfigurationLoader(store: configurationStore, environment: environment) }
  public var paths: XDGPaths { XDGPaths(environment: environment) }
}
